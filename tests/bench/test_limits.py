"""A bench's memory and work are checked before anything is allocated: sizes the machine cannot
hold or finish are refused (exit 2) naming the settings and the estimate; `--context` lists
are single-comma separated."""

from __future__ import annotations

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import hybridlab
from hybridlab.bench import Protocol, limits, measure
from hybridlab.cli import app, train_cmd

runner = CliRunner()
# The module (`hybridlab.bench.measure` is also the name of its function).
measure_module = importlib.import_module("hybridlab.bench.measure")
PHASES = ("prefill", "decode", "train")


@pytest.fixture
def nothing_allocated(monkeypatch):
    """A bench that got past its checks would build a model: make that fail loudly."""

    def build_model(spec):
        raise AssertionError("a model was built for a bench that should have been refused")

    monkeypatch.setattr(measure_module, "build_model", build_model)


def _bench(*args: str):
    return runner.invoke(app, ["bench", "--spec", "[attn, mlp]*2", *args])


@pytest.mark.parametrize(
    ("args", "names"),
    [
        pytest.param(["--batch", "100000"], "--context 256 with --batch 100,000", id="batch-1e5"),
        pytest.param(["--context", "1000000000"], "--context 1,000,000,000", id="context-1e9"),
        pytest.param(["--context", "2097152"], "--context 2,097,152", id="context-2m"),
        pytest.param(
            ["--context", "16,1000000000"], "--context 1,000,000,000", id="second-context"
        ),
    ],
)
def test_sizes_beyond_the_available_memory_are_refused_before_allocating(
    nothing_allocated, args, names
):
    result = _bench(*args)
    assert result.exit_code == 2, result.output
    assert names in result.stderr and "would need about" in result.stderr
    assert "available there now" in result.stderr and "Traceback" not in result.output


def test_the_check_compares_the_estimate_with_the_memory_available_now(monkeypatch):
    spec = hybridlab.parse("[attn, mlp]*2", d_model=32, vocab_size=64)
    needs = limits.memory_needs(spec, 64, Protocol(), batch=2, dtype=torch.float32, phases=PHASES)
    monkeypatch.setattr(limits, "available_memory", lambda device: needs.peak - 1)
    with pytest.raises(ValueError, match=r"context 64 with batch 2 and decode_steps 8 would need"):
        limits.check_measurable(spec, 64, Protocol(), batch=2, dtype=torch.float32, phases=PHASES)
    monkeypatch.setattr(limits, "available_memory", lambda device: needs.peak)
    limits.check_measurable(spec, 64, Protocol(), batch=2, dtype=torch.float32, phases=PHASES)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["attn", "ssd", "scan", "gdn", "mlp"]),
    context=st.integers(1, 10**7),
    batch=st.integers(1, 10**4),
    decode_steps=st.integers(1, 10**4),
    grow=st.sampled_from(["context", "batch", "decode_steps"]),
)
def test_the_estimate_never_shrinks_as_a_size_grows(kind, context, batch, decode_steps, grow):
    # A size refused stays refused at every larger size.
    spec = hybridlab.parse(f"[{kind}, mlp]*2", d_model=64, vocab_size=256)
    sizes = {"context": context, "batch": batch, "decode_steps": decode_steps}

    def needs(sizes):
        protocol = Protocol(decode_steps=sizes["decode_steps"])
        memory = limits.memory_needs(
            spec,
            sizes["context"],
            protocol,
            batch=sizes["batch"],
            dtype=torch.float32,
            phases=PHASES,
        )
        work = limits.work_needs(
            spec, sizes["context"], protocol, batch=sizes["batch"], phases=PHASES
        )
        return memory.peak, *work

    bigger = {**sizes, grow: 2 * sizes[grow]}
    assert all(b >= a for a, b in zip(needs(sizes), needs(bigger), strict=True))


def test_a_decode_longer_than_the_bound_is_refused(nothing_allocated):
    result = _bench("--decode-steps", "1000000000")
    assert result.exit_code == 2, result.output
    assert "--decode-steps 1,000,000,000 makes 13,000,000,000 cached decode steps" in result.stderr
    assert f"more than the {limits.MAX_DECODE_STEPS:,}" in result.stderr


def test_work_beyond_the_bound_is_refused_even_where_memory_would_hold_it(
    nothing_allocated, monkeypatch
):
    # Attention over 2 million tokens: hours of FLOPs, whatever the memory.
    monkeypatch.setattr(limits, "available_memory", lambda device: 2**60)
    result = _bench("--context", "2097152")
    assert result.exit_code == 2, result.output
    assert "--context 2,097,152 with --batch 1 and --decode-steps 8 would compute" in result.stderr
    assert "FLOPs" in result.stderr


def test_measure_refuses_for_the_study_objectives_too():
    spec = hybridlab.parse("ssd*2", d_model=32, vocab_size=64)
    with pytest.raises(ValueError, match="decode_steps 1,000,000 makes"):
        measure(spec, 16, Protocol(decode_steps=10**6), phases=["decode"])


@pytest.mark.parametrize(
    ("text", "number"),
    [
        pytest.param("16,,32", 2, id="double-comma"),
        pytest.param("16,", 2, id="trailing-comma"),
        pytest.param(",16", 1, id="leading-comma"),
        pytest.param("16, ,32", 2, id="blank-between"),
    ],
)
def test_a_context_list_with_an_empty_length_is_refused(text, number):
    result = _bench("--context", text)
    assert result.exit_code == 2, result.output
    assert f"--context: length {number} of {text!r} is empty" in result.stderr


def test_the_available_memory_is_a_part_of_the_total():
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    assert 0 < limits.available_memory("cpu") <= total


def test_train_refuses_a_batch_beyond_the_available_memory(monkeypatch):
    trained = []
    monkeypatch.setattr(train_cmd, "train_proxy", lambda *args, **kwargs: trained.append(args))
    result = runner.invoke(
        app, ["train", "--spec", "[attn, mlp]*2", "--task", "mqar", "train.batch_size=100000"]
    )
    assert result.exit_code == 2, result.output
    assert "train.batch_size 100,000 at the task's length 64 would need about" in result.stderr
    assert "lower train.batch_size" in result.stderr and not trained

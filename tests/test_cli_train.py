"""`hybridlab train`: a run with a summary, --json keys, exit code 2 with one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from hybridlab.cli import app

runner = CliRunner()

SMALL = [
    "task.vocab_size=128",
    "task.num_kv_pairs=4",
    "task.num_train_examples=64",
    "task.num_eval_examples=16",
    "train.steps=3",
    "train.batch_size=4",
    "train.device=cpu",
    "train.num_threads=1",
    "model.d_model=32",
]


@pytest.fixture(autouse=True)
def _restore_threads():
    """train.num_threads sets torch's threads process-wide; put them back after a test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _train(*args):
    return runner.invoke(app, ["train", "--spec", "attn(heads=2), mlp", *args])


def test_summary_after_training():
    result = _train("--task", "mqar", *SMALL)
    assert result.exit_code == 0, result.output
    for word in ("status", "accuracy", "tokens/s", "params", "state bytes", "peak memory"):
        assert word in result.stdout
    # The progress bar (on stderr) shows the loss and the accuracy.
    assert "3/3" in result.stderr and "loss" in result.stderr and "acc" in result.stderr


def test_json_is_one_object_with_the_promised_keys():
    result = _train("--task", "mqar", *SMALL, "train.lr=3e-3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"status", "accuracy", "loss", "tokens_per_s", "params", "state_bytes"} <= set(data)
    assert data["status"] == "ok" and data["steps_done"] == 3 and data["task"] == "mqar"


def test_spec_file_and_bytes_task(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("d_model: 32\nstack: attn(heads=2), mlp\n")
    args = ["train", "--spec", str(path), "--task", "bytes", "task.max_bytes=20000"]
    args += ["task.seq_len=32", "task.num_eval_examples=2", "train.steps=2", "train.num_threads=1"]
    args += ["--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["bits_per_byte"] > 0 and data["spec"] == "attn(heads=2), mlp"


BAD = [
    pytest.param(["--task", "mqa"], "unknown task 'mqa'; valid tasks: mqar,", id="unknown-task"),
    pytest.param(
        ["--task", "mqar", "task.num_kv=4"],
        "unknown setting task.num_kv; valid task settings:",
        id="unknown-task-setting",
    ),
    pytest.param(
        ["--task", "mqar", "train.stepz=4"], "unknown setting train.stepz", id="unknown-train-key"
    ),
    pytest.param(
        ["--task", "mqar", "train.steps=many"],
        "train.steps: takes a whole number, got 'many' (text)",
        id="wrong-type",
    ),
    pytest.param(
        ["--task", "mqar", "train.device=tpu"],
        "train.device: invalid value 'tpu'; valid: auto, cpu, cuda",
        id="bad-enum",
    ),
    pytest.param(["--task", "mqar", "steps=4"], "section.key=value", id="no-section"),
    pytest.param(["--task", "mqar", "optim.lr=1"], "unknown settings section", id="bad-section"),
    pytest.param(
        ["--task", "mqar", "model.width=8"], "unknown setting model.width", id="bad-model"
    ),
    pytest.param(["--task", "mqar", "task.seq_len=63"], "seq_len must be even", id="task-rule"),
    pytest.param(["--task", "mqar", "train.lr=0"], "train.lr must be", id="train-rule"),
    pytest.param(
        ["--task", "mqar", "model.vocab_size=100"], "smaller than task 'mqar'", id="small-vocab"
    ),
    pytest.param([], "--task is required", id="no-task"),
    pytest.param(
        ["--task", "mqar", "train.device=cuda"],
        "train.device=cuda but CUDA is not available",
        id="cuda-without-cuda",
    ),
    pytest.param(
        ["--task", "mqar", "train.seed=-1"], "train.seed must be a whole number", id="train-seed"
    ),
    pytest.param(
        ["--task", "mqar", "task.seed=-1"], "task.seed must be a whole number", id="task-seed"
    ),
    pytest.param(
        ["--task", "mqar", "train.num_threads=100000"], "but this machine has", id="threads"
    ),
    pytest.param(["--task", "mqar", "train.steps="], "train.steps needs a value", id="empty"),
    # Issue 25, item 6: every value in the one override grammar; a text is no number.
    pytest.param(
        ["--task", "mqar", "train.steps=0x10"],
        "train.steps: takes a whole number, got '0x10' (text)",
        id="yaml-1.1-hex-int",
    ),
    pytest.param(
        ["--task", "mqar", "train.steps=1_0"],
        "train.steps: takes a whole number, got '1_0' (text)",
        id="yaml-1.1-underscore-int",
    ),
    pytest.param(
        ["--task", "mqar", "train.steps=!!python/object/apply:os.system ['true']"],
        "starts with '!', which YAML reads as more than text",
        id="python-tag",
    ),
    pytest.param(
        ["--task", "mqar", "train.lr_race=[1e-3,"],
        "a list in '[1e-3,' is not closed with ']'",
        id="unclosed-list",
    ),
    # Issue 25, item 10: a list setting given one value.
    pytest.param(
        ["--task", "mqar", "train.lr_race=1e-3"],
        "train.lr_race: takes a list, e.g. [0.001]; got 0.001",
        id="lr-race-one-value",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_is_one_line_and_exit_code_2(args, message, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # on a GPU machine too
    result = _train(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_a_bad_spec_exits_2_with_its_caret():
    result = runner.invoke(app, ["train", "--spec", "attn(heads=3", "--task", "mqar"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "^" in result.stderr


def test_a_spec_file_that_is_no_text_is_named(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\x00\xbe\xff" * 40)
    result = runner.invoke(app, ["train", "--spec", str(path), "--task", "mqar"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr == (
        f"error: {path}: not a text file (byte 1 is not UTF-8); a spec file is YAML text\n"
    )

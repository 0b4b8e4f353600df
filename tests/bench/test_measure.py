"""The measuring protocol: every phase measured, peaks beside the analytic state, refusals."""

from __future__ import annotations

import pytest
import torch

import hybridlab
from hybridlab.bench import Protocol, measure, measure_requests
from hybridlab.bench.protocol import fixed_threads

QUICK = Protocol(warmup=0, repeats=1, decode_repeats=2, decode_steps=2)


@pytest.mark.parametrize("text", ["attn(heads=2), mlp", "ssd(d_state=8, headdim=8)", "scan"])
def test_every_phase_is_measured(text):
    spec = hybridlab.parse(text, d_model=32, vocab_size=64)
    m = measure(spec, 24, QUICK, batch=2)
    assert set(m.tokens_per_s) == set(m.spread) == set(m.peak_memory_bytes)
    assert set(m.tokens_per_s) == {"prefill", "decode", "train"}
    assert all(v > 0 for v in m.tokens_per_s.values())
    assert m.state_bytes == hybridlab.state_bytes(spec, 24, "fp32") * 2
    # Inference starts from the weights and the cache, so its peak is at least their bytes.
    weights = 4 * hybridlab.count_params(spec)
    assert m.peak_memory_bytes["decode"] >= weights + m.state_bytes
    assert m.inference_peak_bytes == max(
        m.peak_memory_bytes["prefill"], m.peak_memory_bytes["decode"]
    )
    out = m.to_dict()
    for key in ("train_tokens_per_s", "prefill_tokens_per_s", "decode_tokens_per_s"):
        assert out[key] > 0
    assert (
        out["peak_memory_bytes"] == m.inference_peak_bytes and out["state_bytes"] == m.state_bytes
    )


def test_phases_and_threads_are_as_asked():
    spec = hybridlab.parse("mlp", d_model=16, vocab_size=32)
    before = torch.get_num_threads()
    seen = []
    m = measure(spec, 8, QUICK, phases=["decode"], on_phase=seen.append)
    assert set(m.tokens_per_s) == {"decode"} and seen == ["decode"]
    assert torch.get_num_threads() == before
    with fixed_threads(1):
        assert torch.get_num_threads() == 1


def test_speed_requests_share_a_measurement_and_report_by_label():
    spec = hybridlab.parse("ssd(d_state=8, headdim=8)", d_model=16, vocab_size=32)
    at = {"context": 16, "batch": 1, "dtype": "fp32"}
    out = measure_requests(
        spec,
        [
            {"label": "decode", "name": "decode_tokens_per_s", **at},
            {"label": "memory", "name": "peak_memory_bytes", **at},
            {"label": "train", "name": "train_tokens_per_s", **at, "batch": 2},
        ],
        QUICK,
    )
    assert set(out["speed"]) == {"decode", "memory", "train"}
    assert set(out["speed_spread"]) == {"decode", "train"}  # one memory run: no spread


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"context": 0}, "context must be an int >= 1"),
        ({"batch": 0}, "batch must be an int >= 1"),
        ({"dtype": "int8"}, "unknown dtype 'int8'"),
        ({"phases": ["fwd"]}, "unknown phases"),
        ({"protocol": Protocol(repeats=0)}, "repeats must be an int >= 1"),
        ({"protocol": Protocol(device="tpu")}, "device must be cpu or cuda"),
    ],
)
def test_refusals(kwargs, match):
    spec = hybridlab.parse("mlp", d_model=16, vocab_size=32)
    args = {"context": 8, "protocol": QUICK, **kwargs}
    with pytest.raises(ValueError, match=match):
        measure(spec, args.pop("context"), args.pop("protocol"), **args)

"""HybridLM: built from specs, exact against the cost model, cached decoding, generate, compile."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import hybridlab
from hybridlab.model import HybridLM

HYBRIDS = [
    pytest.param("[ssd(d_state=16, headdim=16), mlp]*2, attn(heads=2), mlp", id="nemotron-like"),
    pytest.param(
        "[scan(d_state=8), mlp, scan(d_state=8), attn(heads=4, kv_heads=2)]*2", id="jamba-like"
    ),
    pytest.param("ssd(d_state=8, headdim=8, ngroups=2), attn(heads=2, window=4), scan", id="mixed"),
    pytest.param("attn(heads=2), mlp, attn(heads=2), mlp", id="transformer"),
]


def build(text: str, **kwargs) -> HybridLM:
    torch.manual_seed(0)
    return hybridlab.build_model(text, d_model=32, vocab_size=61, **kwargs).eval()


@pytest.mark.parametrize("text", HYBRIDS)
def test_logits_shape_and_causality(text):
    model = build(text)
    ids = torch.randint(0, 61, (2, 23))
    logits = model(ids)
    assert logits.shape == (2, 23, 61)
    ids2 = ids.clone()
    ids2[:, 15] = (ids[:, 15] + 1) % 61
    assert torch.equal(model(ids2)[:, :15], logits[:, :15])


def _logits_with_a_non_finite_token(text: str, length: int, at: int, value: float):
    """Logits of a model whose embedding row of one token is `value` (NaN or inf), for two
    sequences: the first holds that token at position `at` only, the second never. (The tied
    head makes that token's logit non-finite everywhere, in the clean run too.)"""
    model = build(text)
    poison = 60
    with torch.no_grad():
        model.embedding.weight[poison] = value
        ids = torch.randint(0, poison, (2, length))
        clean = model(ids)
        ids[0, at] = poison
        return model(ids), clean


def _identical(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=0, equal_nan=True)


NO_ATTENTION = [
    pytest.param("ssd(d_state=8, headdim=8), mlp", id="ssd"),
    pytest.param("scan(d_state=4), mlp", id="scan"),
    pytest.param("gdn(heads=2), mlp", id="gdn"),
    pytest.param("mlp, mlp", id="mlp"),
]


@pytest.mark.parametrize("text", NO_ATTENTION)
@settings(max_examples=8, deadline=None)
@given(
    length=st.integers(2, 80),
    data=st.data(),
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_without_attention_a_non_finite_token_changes_no_earlier_logit(text, length, data, value):
    at = data.draw(st.integers(1, length - 1), label="at")
    logits, clean = _logits_with_a_non_finite_token(text, length, at, value)
    _identical(logits[0, :at], clean[0, :at])
    _identical(logits[1], clean[1])


def test_attention_spreads_a_non_finite_key_to_every_position_of_its_sequence():
    """Where causality stops (README, HybridLM's docstring): softmax gives a future key weight
    0, and 0·NaN is NaN in the attention's weighted sum of values. The other sequences of the
    batch are untouched."""
    logits, clean = _logits_with_a_non_finite_token("attn(heads=2), mlp", 12, 7, math.nan)
    assert logits[0].isnan().all()
    _identical(logits[1], clean[1])


@pytest.mark.parametrize("text", HYBRIDS)
def test_count_params_and_state_bytes_are_exact(text):
    model = build(text)
    spec = model.spec
    assert hybridlab.count_params(spec) == sum(p.numel() for p in model.parameters())
    for dtype in (torch.float32, torch.bfloat16):
        cache = model.allocate_cache(batch=1, max_len=50, dtype=dtype)
        assert cache.nbytes() == hybridlab.state_bytes(spec, 50, dtype)


def test_untied_head_is_counted():
    model = hybridlab.build_model({"stack": "mlp", "tie_embeddings": False}, d_model=16)
    assert model.lm_head.weight is not model.embedding.weight
    assert hybridlab.count_params(model.spec) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("text", HYBRIDS)
def test_prefill_then_steps_equal_full_forward(text):
    model = build(text)
    ids = torch.randint(0, 61, (2, 20))
    with torch.no_grad():
        full = model(ids)
        cache = model.allocate_cache(2, 20)
        parts = [model(ids[:, :9], cache)]
        parts += [model.step(ids[:, t], cache).unsqueeze(1) for t in range(9, 20)]
    assert cache.pos == 20
    assert_close(torch.cat(parts, dim=1), full, rel_rms=1e-4, name="logits")


@pytest.mark.parametrize("text", HYBRIDS)
def test_generate_is_greedy(text):
    model = build(text)
    prompt = torch.randint(0, 61, (2, 5))
    out = model.generate(prompt, max_new_tokens=6)
    assert out.shape == (2, 11) and torch.equal(out[:, :5], prompt)
    # Each generated token is the argmax of a full forward over everything before it.
    with torch.no_grad():
        for t in range(5, 11):
            assert torch.equal(model(out[:, :t])[:, -1].argmax(-1), out[:, t])


def test_cache_overflow_is_an_error():
    model = build("attn(heads=2)")
    cache = model.allocate_cache(1, 4)
    model(torch.zeros(1, 3, dtype=torch.long), cache)
    model.step(torch.zeros(1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="cache is full"):
        model.step(torch.zeros(1, dtype=torch.long), cache)


def test_bfloat16_forward_runs_and_stays_close():
    model = build("ssd(d_state=16, headdim=16), scan(d_state=8), attn(heads=2), mlp")
    ids = torch.randint(0, 61, (2, 16))
    with torch.no_grad():
        ref = model(ids)
        low = model.to(torch.bfloat16)(ids)
    assert low.dtype == torch.bfloat16
    assert_close(low.float(), ref, rel_rms=5e-2, name="bf16 logits")


@pytest.mark.slow
def test_works_under_torch_compile():
    """Inductor compiles the model around the kernels (opaque to dynamo), forward and backward,
    and matches eager; about 35 s of C++ code generation on 2 cores."""
    _check_compiled("inductor", "cpu")


@pytest.mark.gpu
def test_works_under_torch_compile_on_gpu():
    _check_compiled("inductor", "cuda")


def _check_compiled(backend: str, device: str) -> None:
    model = build("ssd(d_state=8, headdim=8), mlp(hidden=16), attn(heads=2), scan(d_state=4)")
    model = model.to(device)
    ids = torch.randint(0, 61, (2, 12), device=device)
    compiled = torch.compile(model, backend=backend)
    with torch.no_grad():
        assert_close(compiled(ids), model(ids), rel_rms=1e-4, name="compiled logits")
    compiled(ids).float().mean().backward()
    assert all(p.grad is not None for p in model.parameters())

"""SSD: the chunked fast path against the sequential reference, forward and backward; decoding.

Shape legend: b batch, l length, h heads, p head dim, g groups, n state size, q chunk size.
"""

from __future__ import annotations

import kernel_cases
import pytest
import ssd_cases
import torch
import torch.nn.functional as F
from helpers import assert_close
from hybridlab.kernels import selective_state_update, ssd
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import assert_accurate
from ssd_cases import decay_sweep_inputs


def make_inputs(b, l, h, p, n, g, *, D=None, z=False, bias=False, h0=False, decay=1.0, seed=0):
    """SSD inputs as a dict of keyword arguments; `decay` scales A (so |Δ·A| per step)."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    kw = {
        "x": randn(b, l, h, p),
        # Raw dt goes through softplus in most cases; without it, use positive steps.
        "dt": randn(b, l, h) - 1.0 if bias else torch.rand(b, l, h, generator=gen) * 0.5 + 0.05,
        "A": -(torch.rand(h, generator=gen) + 0.5) * decay,
        "B": randn(b, l, g, n),
        "C": randn(b, l, g, n),
    }
    if D == "h":
        kw["D"] = randn(h)
    elif D == "hp":
        kw["D"] = randn(h, p)
    if z:
        kw["z"] = randn(b, l, h, p)
    if bias:
        kw["dt_bias"] = randn(h) * 0.5
        kw["dt_softplus"] = True
    if h0:
        kw["initial_state"] = randn(b, h, p, n)
    return kw


def run_with_grads(kw, backend, chunk_size=64, seed=1):
    """Forward with the final state, backward of a random cotangent; outputs and input grads."""
    leaves = {
        k: v.clone().requires_grad_() if isinstance(v, torch.Tensor) else v for k, v in kw.items()
    }
    y, state = ssd(**leaves, chunk_size=chunk_size, return_final_state=True, backend=backend)
    gen = torch.Generator().manual_seed(seed)
    dy = torch.randn(y.shape, generator=gen)
    dstate = torch.randn(state.shape, generator=gen)
    ((y * dy).sum() + (state * dstate).sum()).backward()
    grads = {k: v.grad for k, v in leaves.items() if isinstance(v, torch.Tensor)}
    return y, state, grads


PARITY_CASES = [
    # One token from a zero state has no gradient for A (exp(Δ A) multiplies zeros): l=1 cases
    # start from a state.
    pytest.param((1, 1, 2, 4, 8, 1), {"h0": True}, 64, id="b1-l1-h2-p4-n8-g1-h0"),
    pytest.param(
        (2, 1, 4, 8, 16, 2), {"h0": True, "D": "h", "z": True}, 64, id="b2-l1-h4-p8-n16-g2-h0-D-z"
    ),
    pytest.param((2, 63, 4, 8, 16, 1), {}, 64, id="b2-l63-h4-p8-n16-g1-q64"),
    pytest.param(
        (2, 63, 4, 8, 16, 2),
        {"D": "h", "z": True, "bias": True, "h0": True},
        16,
        id="b2-l63-h4-p8-n16-g2-q16-D-z-bias-h0",
    ),
    pytest.param(
        (2, 200, 4, 8, 16, 1), {"D": "hp", "h0": True}, 64, id="b2-l200-h4-p8-n16-g1-Dhp-h0"
    ),
    pytest.param(
        (2, 200, 4, 8, 16, 4), {"z": True, "bias": True}, 32, id="b2-l200-h4-p8-n16-g4-q32-z-bias"
    ),
    pytest.param(
        (1, 500, 2, 8, 8, 2),
        {"D": "h", "z": True, "bias": True, "h0": True},
        64,
        id="b1-l500-h2-p8-n8-g2-D-z-bias-h0",
    ),
    pytest.param((1, 500, 2, 4, 8, 1), {"D": "hp"}, 48, id="b1-l500-h2-p4-n8-g1-q48-Dhp"),
    # |Δ·A| up to about 20 per step: cumulative log-decays reach -1000s inside a chunk.
    pytest.param(
        (2, 130, 2, 4, 8, 1), {"h0": True, "decay": 40.0}, 64, id="b2-l130-h2-p4-n8-strong-decay"
    ),
]


@pytest.mark.parametrize("dims, options, chunk_size", PARITY_CASES)
def test_chunked_matches_naive(dims, options, chunk_size, nan_empty):
    kw = make_inputs(*dims, **options)
    y, state, grads = run_with_grads(kw, "torch", chunk_size)
    y_ref, state_ref, grads_ref = run_with_grads(kw, "naive")
    assert_close(y, y_ref, name="y")
    assert_close(state, state_ref, name="final_state")
    assert set(grads) == set(grads_ref)
    for name, grad in grads.items():
        assert grad is not None, f"no gradient reached {name}"
        assert_close(grad, grads_ref[name], name=f"d{name}")


@pytest.mark.parametrize(
    "dims, options",
    [
        pytest.param((2, 2, 2, 4, 8, 1), {}, id="b2-l2-h2-p4-n8-g1"),
        pytest.param((2, 64, 4, 8, 16, 2), {"D": "h", "z": True, "bias": True}, id="b2-l64-g2"),
        pytest.param((3, 63, 4, 8, 16, 1), {"D": "hp"}, id="b3-l63-g1-Dhp"),
        pytest.param((2, 50, 2, 4, 8, 1), {"decay": 40.0}, id="b2-l50-strong-decay"),
    ],
)
def test_one_chunk_without_states_matches_naive(dims, options, nan_empty):
    """A sequence within one chunk, no initial state, no final state asked for: the chunked
    path runs the diagonal block alone (what every training step of a short proxy takes)."""
    kw = make_inputs(*dims, **options)
    outs = {}
    for backend in ("torch", "naive"):
        leaves = {
            k: v.clone().requires_grad_() if isinstance(v, torch.Tensor) else v
            for k, v in kw.items()
        }
        y = ssd(**leaves, chunk_size=64, backend=backend)
        dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
        (y * dy).sum().backward()
        grads = {k: v.grad for k, v in leaves.items() if isinstance(v, torch.Tensor)}
        outs[backend] = (y, grads)
    (y, grads), (y_ref, grads_ref) = outs["torch"], outs["naive"]
    assert_close(y, y_ref, name="y")
    for name, grad in grads.items():
        assert grad is not None, f"no gradient reached {name}"
        assert_close(grad, grads_ref[name], name=f"d{name}")


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_any_chunk_size(chunk_size):
    kw = make_inputs(2, 50, 2, 4, 8, 1, D="h", bias=True)
    assert_close(ssd(**kw, chunk_size=chunk_size), ssd(**kw, backend="naive"))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("backend", ["torch", "naive"])
def test_half_in_half_out(backend, dtype):
    kw = make_inputs(2, 100, 4, 8, 16, 2, D="h", z=True, bias=True, h0=True)
    y_ref, state_ref = ssd(**kw, return_final_state=True, backend="naive")
    kw16 = {k: v.to(dtype) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    for v in kw16.values():
        if isinstance(v, torch.Tensor):
            v.requires_grad_()
    y, state = ssd(**kw16, return_final_state=True, backend=backend)
    assert y.dtype == state.dtype == dtype
    # bf16 keeps 8 bits of mantissa: rounding the inputs alone costs about 4e-3.
    assert_close(y, y_ref, rel_rms=2e-2, name="y")
    assert_close(state, state_ref, rel_rms=2e-2, name="final_state")
    y.float().square().sum().backward()
    assert kw16["x"].grad.dtype == dtype
    assert torch.isfinite(kw16["dt"].grad).all()


@pytest.mark.parametrize(
    "split, chunk_size",
    [
        pytest.param(1, 16, id="split1-q16"),
        pytest.param(37, 16, id="split37-q16"),
        pytest.param(64, 64, id="split64-q64"),
        pytest.param(99, 32, id="split99-q32"),
    ],
)
def test_prefix_state_continues_the_scan(split, chunk_size):
    kw = make_inputs(2, 100, 4, 8, 16, 2, D="h", z=True, bias=True)
    y_full, state_full = ssd(**kw, chunk_size=chunk_size, return_final_state=True)
    head = {k: v[:, :split] if k in ("x", "dt", "B", "C", "z") else v for k, v in kw.items()}
    tail = {k: v[:, split:] if k in ("x", "dt", "B", "C", "z") else v for k, v in kw.items()}
    y_head, state = ssd(**head, chunk_size=chunk_size, return_final_state=True)
    y_tail, state_end = ssd(
        **tail, initial_state=state, chunk_size=chunk_size, return_final_state=True
    )
    assert_close(torch.cat([y_head, y_tail], dim=1), y_full, name="y")
    assert_close(state_end, state_full, name="final_state")


@pytest.mark.parametrize("D", ["h", "hp"])
def test_state_update_token_by_token_equals_scan(D):
    b, l, h, p, n, g = 2, 40, 4, 8, 16, 2
    kw = make_inputs(b, l, h, p, n, g, D=D, z=True, bias=True, h0=True)
    y_full, state_full = ssd(**kw, chunk_size=16, return_final_state=True)
    state = kw["initial_state"].clone()
    ys = [
        selective_state_update(
            state,
            kw["x"][:, t],
            kw["dt"][:, t],
            kw["A"],
            kw["B"][:, t],
            kw["C"][:, t],
            D=kw["D"],
            z=kw["z"][:, t],
            dt_bias=kw["dt_bias"],
            dt_softplus=True,
        )
        for t in range(l)
    ]
    assert_close(torch.stack(ys, dim=1), y_full, name="y")
    assert_close(state, state_full, name="state")


def test_state_update_keeps_the_state_dtype():
    b, h, p, n = 2, 4, 8, 16
    state = torch.zeros(b, h, p, n)  # a fp32 cache with bf16 activations
    x = torch.randn(b, h, p, dtype=torch.bfloat16)
    dt = F.softplus(torch.randn(b, h)).bfloat16()
    B, C = torch.randn(b, 1, n).bfloat16(), torch.randn(b, 1, n).bfloat16()
    y = selective_state_update(state, x, dt, -torch.rand(h), B, C)
    assert y.dtype == torch.bfloat16 and state.dtype == torch.float32
    assert state.abs().sum() > 0


@pytest.mark.parametrize("backend", ["torch", "naive"])
def test_a_chunk_longer_than_the_sequence_is_one_chunk(backend):
    """Issue 25 (16): ssd clamps chunk_size to the next power of two ≥ l for every backend
    (Triton's (q × q) buffers at chunk 65536 were 17 GB); the result is the one-chunk scan's."""
    kw = make_inputs(1, 100, 2, 4, 8, 1, h0=True)
    y, state, grads = run_with_grads(kw, backend, chunk_size=65536)
    y_ref, state_ref, grads_ref = run_with_grads(kw, backend, chunk_size=100)
    assert_close(y, y_ref, name="y")
    assert_close(state, state_ref, name="final_state")
    for name, grad in grads.items():
        assert_close(grad, grads_ref[name], name=f"d{name}")


def test_shape_errors_are_value_errors():
    kw = make_inputs(2, 10, 4, 8, 16, 1)
    with pytest.raises(ValueError, match="ngroups=3 must divide heads=4"):
        ssd(**{**kw, "B": torch.randn(2, 10, 3, 16), "C": torch.randn(2, 10, 3, 16)})
    with pytest.raises(ValueError, match="D must have shape"):
        ssd(**kw, D=torch.randn(8))
    with pytest.raises(ValueError, match="initial_state must have shape"):
        ssd(**kw, initial_state=torch.randn(2, 4, 8, 15))
    with pytest.raises(ValueError, match="chunk_size"):
        ssd(**kw, chunk_size=0)


@pytest.mark.parametrize("chunk_size", [1, 8, 64])
@pytest.mark.parametrize(
    "sign",
    [
        pytest.param("negative-dt", id="dt<0-no-softplus"),
        pytest.param("positive-A", id="A>0"),
        pytest.param("mixed", id="mixed-signs"),
    ],
)
def test_chunked_is_exact_for_any_sign_of_dt_and_A(sign, chunk_size):
    """Issue 14: the chunked path clamped its decay exponents to [-80, 0] and so assumed
    Δ·A ≤ 0; with growth it was off by 10-95% at chunks of 8-64. Now exact for any sign."""
    kw = make_inputs(2, 50, 4, 8, 16, 2, D="h", h0=True)
    gen = torch.Generator().manual_seed(3)
    if sign == "negative-dt":
        kw["dt"] = -kw["dt"]
    elif sign == "positive-A":
        kw["A"] = -kw["A"] * 0.5
    else:
        kw["dt"] = torch.rand(kw["dt"].shape, generator=gen) - 0.5
    y, state, grads = run_with_grads(kw, "torch", chunk_size)
    y_ref, state_ref, grads_ref = run_with_grads(kw, "naive")
    assert_close(y, y_ref, name="y")
    assert_close(state, state_ref, name="final_state")
    for name, grad in grads.items():
        assert_close(grad, grads_ref[name], name=f"d{name}")


# Issue 25 (12): the chunked backward took the log-decay gradient from an identity that adds and
# subtracts O(1) terms (kernels/_decay.py), and its decays from differences of fp32 cumulative
# sums; dA lost accuracy as |Δ·A| grew (the wrong sign at Δ ~ U(1, 10), A = −16). The sweep
# spans what the spec language admits: Δ up to dt_max = 10, |A| up to A_init_max = 1e6.
@settings(max_examples=12, deadline=None, database=None)
@given(
    dt_exponents=st.tuples(st.floats(-3.0, 1.0), st.floats(0.0, 1.0)),
    fast_rate=st.floats(0.0, 6.0),
    chunk_size=st.sampled_from([16, 64]),
    length=st.sampled_from([50, 130]),
)
def test_gradients_match_float64_across_decay_strengths(
    dt_exponents, fast_rate, chunk_size, length
):
    lo = 10.0 ** dt_exponents[0]
    hi = min(10.0, lo * 10.0 ** dt_exponents[1])  # Δ ~ U(lo, hi), within dt_max = 10
    kw = decay_sweep_inputs(length, (lo, hi), [-1.0, -(10.0**fast_rate)])
    expected = kernel_cases.run_with_grads(ssd_cases.reference, kw)
    actual = kernel_cases.run_with_grads(_ssd_with_state("torch", chunk_size), kw)
    for name, value in expected.items():
        axis = {"dA": 0, "ddt": 2}.get(name)  # per head: a fast head's are ~1e7x smaller
        assert_accurate(actual[name], value, name, axis=axis)


def _ssd_with_state(backend, chunk_size):
    def fn(**kw):
        return ssd(**kw, chunk_size=chunk_size, return_final_state=True, backend=backend)

    return fn

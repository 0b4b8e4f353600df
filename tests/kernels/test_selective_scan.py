"""Selective scan: the recurrent fast path against the sequential reference; decoding.

Shape legend: b batch, d channels, l length, n state size, g groups of channels sharing B and C.
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_close
from hybridlab.kernels import selective_scan, selective_state_update
from hybridlab.kernels.selective_scan.recurrent import selective_scan_recurrent


def make_inputs(b, d, l, n, g, *, D=False, z=False, bias=False, h0=False, decay=1.0, seed=0):
    """Scan inputs as keyword arguments; g=0 means the ungrouped (b, n, l) layout of B and C."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    bc_shape = (b, n, l) if g == 0 else (b, g, n, l)
    kw = {
        "u": randn(b, d, l),
        "delta": randn(b, d, l) - 1.0 if bias else torch.rand(b, d, l, generator=gen) * 0.5 + 0.05,
        "A": -(torch.rand(d, n, generator=gen) + 0.5) * decay,
        "B": randn(*bc_shape),
        "C": randn(*bc_shape),
    }
    if D:
        kw["D"] = randn(d)
    if z:
        kw["z"] = randn(b, d, l)
    if bias:
        kw["delta_bias"] = randn(d) * 0.5
        kw["delta_softplus"] = True
    if h0:
        kw["initial_state"] = randn(b, d, n)
    return kw


def run_with_grads(kw, scan, seed=1):
    """Forward with the final state, backward of a random cotangent; outputs and input grads."""
    leaves = {
        k: v.clone().requires_grad_() if isinstance(v, torch.Tensor) else v for k, v in kw.items()
    }
    y, state = scan(**leaves, return_final_state=True)
    gen = torch.Generator().manual_seed(seed)
    dy = torch.randn(y.shape, generator=gen)
    dstate = torch.randn(state.shape, generator=gen)
    ((y * dy).sum() + (state * dstate).sum()).backward()
    grads = {k: v.grad for k, v in leaves.items() if isinstance(v, torch.Tensor)}
    return y, state, grads


def naive(**kw):
    return selective_scan(**kw, backend="naive")


PARITY_CASES = [
    # One token from a zero state has no gradient for A: l=1 cases start from a state.
    pytest.param((1, 4, 1, 4, 0), {"h0": True}, 32, id="b1-d4-l1-n4-h0"),
    pytest.param((2, 8, 1, 8, 2), {"h0": True, "D": True, "z": True}, 32, id="b2-d8-l1-n8-g2-h0"),
    pytest.param((2, 8, 63, 4, 0), {}, 32, id="b2-d8-l63-n4"),
    pytest.param(
        (2, 8, 63, 8, 2),
        {"D": True, "z": True, "bias": True, "h0": True},
        16,
        id="b2-d8-l63-n8-g2-blk16-D-z-bias-h0",
    ),
    pytest.param((2, 8, 200, 8, 0), {"D": True, "h0": True}, 32, id="b2-d8-l200-n8-D-h0"),
    pytest.param(
        (2, 8, 200, 4, 4), {"z": True, "bias": True}, 64, id="b2-d8-l200-n4-g4-blk64-z-bias"
    ),
    pytest.param(
        (1, 4, 500, 4, 1),
        {"D": True, "z": True, "bias": True, "h0": True},
        32,
        id="b1-d4-l500-n4-g1-D-z-bias-h0",
    ),
    pytest.param((1, 4, 500, 8, 0), {"D": True}, 7, id="b1-d4-l500-n8-blk7-D"),
    # |Δ·A| up to about 20 per step: the recurrence has nothing to overflow.
    pytest.param((2, 4, 130, 4, 0), {"h0": True, "decay": 40.0}, 32, id="b2-d4-l130-strong-decay"),
]


@pytest.mark.parametrize("dims, options, block_size", PARITY_CASES)
def test_recurrent_matches_naive(dims, options, block_size, nan_empty):
    kw = make_inputs(*dims, **options)

    def fast(**k):
        return selective_scan_recurrent(**k, block_size=block_size)

    y, state, grads = run_with_grads(kw, fast)
    y_ref, state_ref, grads_ref = run_with_grads(kw, naive)
    assert_close(y, y_ref, name="y")
    assert_close(state, state_ref, name="final_state")
    assert set(grads) == set(grads_ref)
    for name, grad in grads.items():
        assert grad is not None, f"no gradient reached {name}"
        assert_close(grad, grads_ref[name], name=f"d{name}")


def test_public_entry_uses_the_fast_path():
    kw = make_inputs(2, 8, 70, 4, 2, D=True, z=True, bias=True, h0=True)
    y, state = selective_scan(**kw, return_final_state=True)
    y_ref, state_ref = naive(**kw, return_final_state=True)
    assert_close(y, y_ref, name="y")
    assert_close(state, state_ref, name="final_state")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("backend", ["torch", "naive"])
def test_half_in_half_out(backend, dtype):
    kw = make_inputs(2, 8, 100, 8, 2, D=True, z=True, bias=True, h0=True)
    y_ref, state_ref = naive(**kw, return_final_state=True)
    kw16 = {k: v.to(dtype) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    for v in kw16.values():
        if isinstance(v, torch.Tensor):
            v.requires_grad_()
    y, state = selective_scan(**kw16, return_final_state=True, backend=backend)
    assert y.dtype == state.dtype == dtype
    # bf16 keeps 8 bits of mantissa: rounding the inputs alone costs about 4e-3.
    assert_close(y, y_ref, rel_rms=2e-2, name="y")
    assert_close(state, state_ref, rel_rms=2e-2, name="final_state")
    y.float().square().sum().backward()
    assert kw16["u"].grad.dtype == dtype
    assert torch.isfinite(kw16["delta"].grad).all()


@pytest.mark.parametrize("split", [1, 37, 64, 99])
def test_prefix_state_continues_the_scan(split):
    kw = make_inputs(2, 8, 100, 8, 2, D=True, z=True, bias=True)
    y_full, state_full = selective_scan(**kw, return_final_state=True)
    seq = ("u", "delta", "B", "C", "z")
    head = {k: v[..., :split] if k in seq else v for k, v in kw.items()}
    tail = {k: v[..., split:] if k in seq else v for k, v in kw.items()}
    y_head, state = selective_scan(**head, return_final_state=True)
    y_tail, state_end = selective_scan(**tail, initial_state=state, return_final_state=True)
    assert_close(torch.cat([y_head, y_tail], dim=-1), y_full, name="y")
    assert_close(state_end, state_full, name="final_state")


@pytest.mark.parametrize("g", [pytest.param(0, id="B-bnl"), pytest.param(2, id="B-bgnl-g2")])
def test_state_update_token_by_token_equals_scan(g):
    b, d, l, n = 2, 8, 40, 8
    kw = make_inputs(b, d, l, n, g, D=True, z=True, bias=True, h0=True)
    y_full, state_full = selective_scan(**kw, return_final_state=True)
    state = kw["initial_state"].clone()
    ys = [
        selective_state_update(
            state,
            kw["u"][..., t],
            kw["delta"][..., t],
            kw["A"],
            kw["B"][..., t],
            kw["C"][..., t],
            D=kw["D"],
            z=kw["z"][..., t],
            dt_bias=kw["delta_bias"],
            dt_softplus=True,
        )
        for t in range(l)
    ]
    assert_close(torch.stack(ys, dim=-1), y_full, name="y")
    assert_close(state, state_full, name="state")


def test_shape_errors_are_value_errors():
    kw = make_inputs(2, 8, 10, 4, 0)
    with pytest.raises(ValueError, match="B must be"):
        selective_scan(**{**kw, "B": torch.randn(2, 3, 4, 10)})
    with pytest.raises(ValueError, match="same shape"):
        selective_scan(**{**kw, "C": torch.randn(2, 2, 4, 10)})
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(**{**kw, "A": -torch.rand(8)})
    with pytest.raises(ValueError, match="initial_state must have shape"):
        selective_scan(**kw, initial_state=torch.randn(2, 8, 5))

"""Causal conv1d in Triton against the reference: outputs, final conv states, every gradient."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_close
from hybridlab.kernels import causal_conv1d

# (batch, channels, length, width, initial-state length or 0), activation, bias
CASES = [
    pytest.param((2, 6, 1, 4, 5), "silu", True, id="b2-d6-l1-w4-init5-silu"),
    pytest.param((1, 5, 63, 4, 0), None, False, id="b1-d5-l63-w4"),
    pytest.param((2, 40, 200, 3, 2), "swish", True, id="b2-d40-l200-w3-init2-silu"),
    pytest.param((1, 3, 2, 4, 0), "silu", True, id="b1-d3-l2-w4-shorter-than-kernel"),
]


def run(backend, inputs, activation, cotangents=None):
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    y, final = causal_conv1d(
        **leaves, activation=activation, return_final_state=True, backend=backend
    )
    if cotangents is None:
        gen = torch.Generator().manual_seed(1)
        cotangents = tuple(torch.randn(t.shape, generator=gen).to(t) for t in (y, final))
    ((y * cotangents[0]).sum() + (final * cotangents[1]).sum()).backward()
    return y, final, {k: v.grad for k, v in leaves.items()}, cotangents


@pytest.mark.parametrize(("shape", "activation", "bias"), CASES)
def test_causal_conv1d_triton_matches_naive(shape, activation, bias, device):
    b, d, l, w, s = shape
    gen = torch.Generator().manual_seed(0)
    inputs = {
        "x": torch.randn(b, d, l, generator=gen).to(device),
        "weight": torch.randn(d, w, generator=gen).to(device),
    }
    if bias:
        inputs["bias"] = torch.randn(d, generator=gen).to(device)
    if s:
        inputs["initial_state"] = torch.randn(b, d, s, generator=gen).to(device)
    y, final, grads, cot = run("triton", inputs, activation)
    y_ref, final_ref, grads_ref, _ = run("naive", inputs, activation, cot)
    assert_close(y, y_ref, name="y")
    assert_close(final, final_ref, name="final conv state")
    for name in grads:
        assert_close(grads[name], grads_ref[name], name=f"d{name}")

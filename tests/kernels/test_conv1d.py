"""Causal depthwise conv1d: against F.conv1d, naive against torch, decoding against the full call.

Shape legend: b batch, d channels, l length, w kernel width.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close
from hybridlab.kernels import causal_conv1d, causal_conv1d_update

CASES = [
    pytest.param(2, 8, 1, 4, id="b2-d8-l1-w4"),
    pytest.param(2, 8, 3, 4, id="b2-d8-l3-w4"),
    pytest.param(2, 8, 63, 4, id="b2-d8-l63-w4"),
    pytest.param(1, 6, 200, 3, id="b1-d6-l200-w3"),
    pytest.param(2, 4, 20, 1, id="b2-d4-l20-w1"),
]


def reference(x, weight, bias, activation):
    """PyTorch's own conv with symmetric padding, cut back to causal."""
    width = weight.shape[-1]
    y = F.conv1d(x, weight[:, None, :], bias, padding=width - 1, groups=x.shape[1])
    y = y[..., : x.shape[-1]]
    return F.silu(y) if activation == "silu" else y


@pytest.mark.parametrize("b, d, l, w", CASES)
@pytest.mark.parametrize("backend", ["torch", "naive"])
@pytest.mark.parametrize("activation", [None, "silu"])
def test_matches_f_conv1d(b, d, l, w, backend, activation):
    x, weight, bias = torch.randn(b, d, l), torch.randn(d, w), torch.randn(d)
    y = causal_conv1d(x, weight, bias, activation=activation, backend=backend)
    assert_close(y, reference(x, weight, bias, activation))


@pytest.mark.parametrize("b, d, l, w", CASES)
def test_gradients_torch_matches_naive(b, d, l, w):
    inputs = [torch.randn(b, d, l), torch.randn(d, w), torch.randn(d), torch.randn(b, d, w)]
    cotangent = torch.randn(b, d, l)
    grads = {}
    for backend in ("torch", "naive"):
        leaves = [t.clone().requires_grad_() for t in inputs]
        x, weight, bias, state = leaves
        y = causal_conv1d(x, weight, bias, initial_state=state, activation="silu", backend=backend)
        (y * cotangent).sum().backward()
        grads[backend] = [t.grad for t in leaves]
    for name, g, g_ref in zip(("x", "weight", "bias", "state"), *grads.values(), strict=True):
        if w == 1 and name == "state":
            continue  # a width-1 filter reads no earlier inputs
        assert_close(g, g_ref, name=f"d{name}")


def test_final_state_is_zero_padded_when_short():
    x, weight = torch.randn(2, 8, 2), torch.randn(8, 4)
    _, state = causal_conv1d(x, weight, return_final_state=True)
    assert state.shape == (2, 8, 4)
    assert (state[..., :2] == 0).all()
    assert torch.equal(state[..., 2:], x)


@pytest.mark.parametrize("split", [1, 2, 5, 30])
@pytest.mark.parametrize("w", [2, 4])
def test_prefill_then_updates_equal_the_full_call(split, w):
    b, d, l = 2, 8, 31
    x, weight, bias = torch.randn(b, d, l), torch.randn(d, w), torch.randn(d)
    y_full = causal_conv1d(x, weight, bias, activation="silu")

    y_head, conv_state = causal_conv1d(
        x[..., :split], weight, bias, activation="silu", return_final_state=True
    )
    steps = [
        causal_conv1d_update(x[..., t], conv_state, weight, bias, activation="silu")
        for t in range(split, l)
    ]
    assert_close(torch.cat([y_head, torch.stack(steps, dim=-1)], dim=-1), y_full, name="decode")

    # The state also continues a full-sequence call.
    _, conv_state = causal_conv1d(x[..., :split], weight, bias, return_final_state=True)
    y_tail = causal_conv1d(x[..., split:], weight, bias, conv_state, activation="silu")
    assert_close(y_tail, y_full[..., split:], name="continued")


def test_updates_from_zero_state_equal_the_full_call():
    x, weight = torch.randn(2, 8, 12), torch.randn(8, 4)
    conv_state = torch.zeros(2, 8, 4)
    steps = [causal_conv1d_update(x[..., t], conv_state, weight) for t in range(12)]
    assert_close(torch.stack(steps, dim=-1), causal_conv1d(x, weight))
    _, final = causal_conv1d(x, weight, return_final_state=True)
    assert torch.equal(conv_state, final)


def test_bf16_in_bf16_out():
    x, weight, bias = torch.randn(2, 8, 40), torch.randn(8, 4), torch.randn(8)
    y = causal_conv1d(x.bfloat16(), weight.bfloat16(), bias.bfloat16(), activation="silu")
    assert y.dtype == torch.bfloat16
    assert_close(y, reference(x, weight, bias, "silu"), rel_rms=2e-2)


def test_errors():
    x, weight = torch.randn(2, 8, 10), torch.randn(8, 4)
    with pytest.raises(ValueError, match="activation must be one of"):
        causal_conv1d(x, weight, activation="relu")
    with pytest.raises(ValueError, match="weight must be"):
        causal_conv1d(x, torch.randn(7, 4))
    with pytest.raises(ValueError, match="initial_state must be"):
        causal_conv1d(x, weight, initial_state=torch.randn(2, 8, 2))
    with pytest.raises(ValueError, match="conv_state must be"):
        causal_conv1d_update(x[..., 0], torch.zeros(2, 8, 3), weight)

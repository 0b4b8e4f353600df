"""Decode-step kernels in Triton: the SSM state update (both layouts) and the conv update.

The reference is the PyTorch step (the only other implementation of a single step); states are
updated in place by both, so each gets its own copy and both the outputs and the new states are
compared. A last test chains Triton steps and checks them against the Triton full-sequence scan.
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_close
from hybridlab.kernels import causal_conv1d_update, selective_state_update, ssd


def _rand(gen, *size, device):
    return torch.randn(*size, generator=gen).to(device)


@pytest.mark.parametrize(
    ("D_shape", "groups", "options"),
    [
        pytest.param("h", 2, "z bias softplus", id="ssd-Dh-g2-all"),
        pytest.param("hp", 1, "", id="ssd-Dhp-g1"),
        pytest.param(None, 4, "bias", id="ssd-noD-g4"),
    ],
)
def test_state_update_ssd_layout(D_shape, groups, options, device):
    b, h, p, n = 2, 4, 24, 16
    gen = torch.Generator().manual_seed(0)
    state = _rand(gen, b, h, p, n, device=device)
    args = dict(
        x=_rand(gen, b, h, p, device=device),
        dt=torch.rand(b, h, generator=gen).to(device),
        A=-torch.rand(h, generator=gen).to(device) - 0.5,
        B=_rand(gen, b, groups, n, device=device),
        C=_rand(gen, b, groups, n, device=device),
        D={"h": (h,), "hp": (h, p), None: None}[D_shape],
        z=_rand(gen, b, h, p, device=device) if "z" in options else None,
        dt_bias=_rand(gen, h, device=device) if "bias" in options else None,
        dt_softplus="softplus" in options,
    )
    if args["D"] is not None:
        args["D"] = _rand(gen, *args["D"], device=device)
    state_ref = state.clone()
    y = selective_state_update(state, **args, backend="triton")
    y_ref = selective_state_update(state_ref, **args, backend="torch")
    assert_close(y, y_ref, name="y")
    assert_close(state, state_ref, name="state")


@pytest.mark.parametrize("bc_shape", ["b n", "b g n"])
def test_state_update_mamba1_layout(bc_shape, device):
    b, d, n, g = 2, 12, 16, 3
    gen = torch.Generator().manual_seed(0)
    state = _rand(gen, b, d, n, device=device)
    bc = (b, n) if bc_shape == "b n" else (b, g, n)
    args = dict(
        x=_rand(gen, b, d, device=device),
        dt=_rand(gen, b, d, device=device),
        A=-torch.rand(d, n, generator=gen).to(device) - 0.1,
        B=_rand(gen, *bc, device=device),
        C=_rand(gen, *bc, device=device),
        D=_rand(gen, d, device=device),
        z=_rand(gen, b, d, device=device),
        dt_bias=_rand(gen, d, device=device),
        dt_softplus=True,
    )
    state_ref = state.clone()
    y = selective_state_update(state, **args, backend="triton")
    y_ref = selective_state_update(state_ref, **args, backend="torch")
    assert_close(y, y_ref, name="y")
    assert_close(state, state_ref, name="state")


def test_state_update_writes_through_a_strided_state(device):
    """The state is often a slice of a larger cache: the update must land in the cache."""
    b, d, n = 2, 8, 4
    gen = torch.Generator().manual_seed(0)
    cache = _rand(gen, b, d, 2 * n, device=device)
    state = cache[..., ::2]  # non-contiguous (b, d, n) view
    state_ref = state.clone()
    args = (
        _rand(gen, b, d, device=device),
        torch.rand(b, d, generator=gen).to(device),
        -torch.rand(d, n, generator=gen).to(device),
        _rand(gen, b, n, device=device),
        _rand(gen, b, n, device=device),
    )
    y = selective_state_update(state, *args, backend="triton")
    y_ref = selective_state_update(state_ref, *args, backend="torch")
    assert_close(y, y_ref, name="y")
    assert_close(cache[..., ::2], state_ref, name="state in the cache")


@pytest.mark.parametrize(("state_len", "activation"), [(4, "silu"), (6, None)])
def test_conv1d_update(state_len, activation, device):
    b, d, w = 2, 10, 4
    gen = torch.Generator().manual_seed(0)
    conv_state = _rand(gen, b, d, state_len, device=device)
    x = _rand(gen, b, d, device=device)
    weight, bias = _rand(gen, d, w, device=device), _rand(gen, d, device=device)
    conv_state_ref = conv_state.clone()
    y = causal_conv1d_update(x, conv_state, weight, bias, activation, backend="triton")
    y_ref = causal_conv1d_update(x, conv_state_ref, weight, bias, activation, backend="torch")
    assert_close(y, y_ref, name="y")
    assert_close(conv_state, conv_state_ref, name="conv state")


def test_ssd_decode_steps_continue_the_sequence(device):
    """Prefill with the chunked kernels, then decode token by token: equals one long scan."""
    b, l, h, p, g, n, steps = 1, 37, 2, 16, 1, 16, 3
    gen = torch.Generator().manual_seed(0)
    x = _rand(gen, b, l + steps, h, p, device=device)
    dt = torch.rand(b, l + steps, h, generator=gen).to(device) * 0.3
    A = -torch.rand(h, generator=gen).to(device) - 0.5
    B, C = (
        _rand(gen, b, l + steps, g, n, device=device),
        _rand(gen, b, l + steps, g, n, device=device),
    )
    D = _rand(gen, h, device=device)
    y_full = ssd(x, dt, A, B, C, D=D, chunk_size=16, backend="triton")
    _, state = ssd(
        x[:, :l], dt[:, :l], A, B[:, :l], C[:, :l], D=D, chunk_size=16,
        return_final_state=True, backend="triton",
    )  # fmt: skip
    for t in range(l, l + steps):
        y_t = selective_state_update(
            state, x[:, t], dt[:, t], A, B[:, t], C[:, t], D=D, backend="triton"
        )
        assert_close(y_t, y_full[:, t], name=f"y at step {t}")

"""Backend resolution: "auto" picks the PyTorch path on CPU; unknown names are ValueErrors."""

from __future__ import annotations

import pytest
import torch
from hybridlab.kernels import (
    _dispatch,
    causal_conv1d,
    causal_conv1d_update,
    register_backend,
    selective_scan,
    selective_state_update,
    ssd,
    valid_backends,
)

OPS = ["ssd", "selective_scan", "selective_state_update", "causal_conv1d", "causal_conv1d_update"]


def call(op, backend):
    """Call the public entry of `op` on tiny CPU inputs."""
    b, l, h, p, n, d = 1, 5, 2, 4, 4, 4
    if op == "ssd":
        x, dt, A = torch.randn(b, l, h, p), torch.rand(b, l, h), -torch.rand(h)
        return ssd(x, dt, A, torch.randn(b, l, 1, n), torch.randn(b, l, 1, n), backend=backend)
    if op == "selective_scan":
        u, delta, A = torch.randn(b, d, l), torch.rand(b, d, l), -torch.rand(d, n)
        BC = torch.randn(b, n, l)
        return selective_scan(u, delta, A, BC, BC, backend=backend)
    if op == "selective_state_update":
        state, x, dt = torch.zeros(b, d, n), torch.randn(b, d), torch.rand(b, d)
        BC = torch.randn(b, n)
        return selective_state_update(state, x, dt, -torch.rand(d, n), BC, BC, backend=backend)
    if op == "causal_conv1d":
        return causal_conv1d(torch.randn(b, d, l), torch.randn(d, 3), backend=backend)
    return causal_conv1d_update(
        torch.randn(b, d), torch.zeros(b, d, 3), torch.randn(d, 3), backend=backend
    )


@pytest.mark.parametrize("op", OPS)
def test_auto_is_torch_on_cpu(op):
    assert _dispatch.resolved_name(op, "auto", torch.device("cpu")) == "torch"
    assert _dispatch.resolve(op, "auto", torch.device("cpu")) is _dispatch.resolve(
        op, "torch", torch.device("cpu")
    )
    call(op, "auto")


@pytest.mark.parametrize("op", OPS)
def test_unknown_backend_lists_the_valid_ones(op):
    with pytest.raises(ValueError, match=r"unknown backend 'cuda'.*'auto', 'naive', 'torch'"):
        call(op, "cuda")


def test_auto_prefers_triton_for_cuda_tensors_once_registered(monkeypatch):
    cuda = torch.device("cuda")
    without_triton = {k: v for k, v in _dispatch.BACKENDS["ssd"].items() if k != "triton"}
    monkeypatch.setitem(_dispatch.BACKENDS, "ssd", without_triton)
    assert _dispatch.resolved_name("ssd", "auto", cuda) == "torch"
    register_backend("ssd", "triton", lambda *a, **k: "triton ran")
    assert _dispatch.resolved_name("ssd", "auto", cuda) == "triton"
    assert _dispatch.resolved_name("ssd", "auto", torch.device("cpu")) == "torch"
    assert "triton" in valid_backends("ssd")
    assert call("ssd", "triton") == "triton ran"


def test_register_backend_rejects_unknown_ops():
    with pytest.raises(ValueError, match="unknown kernel op"):
        register_backend("flash_ssd", "triton", lambda: None)

"""How the Triton backends are reached: "auto" on CUDA, never on CPU, and Triton stays optional."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from hybridlab.kernels import _dispatch, ssd, valid_backends

OPS = ["ssd", "selective_scan", "selective_state_update", "causal_conv1d", "causal_conv1d_update"]


@pytest.mark.parametrize("op", OPS)
def test_auto_selects_triton_for_cuda_and_torch_for_cpu(op):
    assert "triton" in valid_backends(op)
    assert _dispatch.resolved_name(op, "auto", torch.device("cuda")) == "triton"
    assert _dispatch.resolved_name(op, "auto", torch.device("cuda", 1)) == "triton"
    assert _dispatch.resolved_name(op, "auto", torch.device("cpu")) == "torch"


@pytest.mark.parametrize("op", OPS)
def test_triton_backends_resolve_to_callables(op):
    assert callable(_dispatch.resolve(op, "triton", torch.device("cpu")))


def test_auto_on_cpu_tensors_runs_the_torch_path(monkeypatch):
    """Even with Triton importable and the interpreter on, CPU tensors take the PyTorch path."""
    monkeypatch.setitem(_dispatch.BACKENDS, "ssd", dict(_dispatch.BACKENDS["ssd"]))

    def fail(*args, **kwargs):
        raise AssertionError("the Triton backend ran on CPU tensors")

    _dispatch.register_backend("ssd", "triton", fail)
    x, dt, A = torch.randn(1, 5, 2, 4), torch.rand(1, 5, 2), -torch.rand(2)
    B = C = torch.randn(1, 5, 1, 4)
    assert ssd(x, dt, A, B, C).shape == x.shape


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, cwd="/"
    )


def test_importing_kernels_does_not_import_triton():
    """Importing hybridlab.kernels imports no Triton, and a CPU call loads none of our Triton
    modules (torch itself may import triton once torch._dynamo loads; that is torch's business)."""
    code = (
        "import sys, torch, hybridlab.kernels as k; "
        "assert 'triton' not in sys.modules, 'importing hybridlab.kernels imported triton'; "
        "k.ssd(torch.randn(1, 3, 2, 4), torch.rand(1, 3, 2), -torch.rand(2), "
        "torch.randn(1, 3, 1, 4), torch.randn(1, 3, 1, 4)); "
        "ours = [m for m in sys.modules if m.startswith('hybridlab.kernels') and 'triton' in m]; "
        "assert not ours, ours"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-without-interpreter error")
def test_triton_backend_on_cpu_without_interpreter_says_what_to_do():
    code = (
        "import torch, hybridlab.kernels as k\n"
        "try:\n"
        "    k.causal_conv1d(torch.randn(1, 2, 3), torch.randn(2, 2), backend='triton')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert "needs CUDA tensors" in result.stdout
    assert "TRITON_INTERPRET=1" in result.stdout

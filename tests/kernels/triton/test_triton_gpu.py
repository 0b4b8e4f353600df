"""The Triton kernels at real sizes on a CUDA device, fp32 and bf16 (skipped without CUDA).

References are the PyTorch paths (themselves checked against the sequential references in
tests/kernels). fp32 runs must agree to the usual 5e-3 relative RMS error. bf16 runs feed the
same bf16-rounded inputs to the Triton kernels and, upcast to fp32, to the PyTorch path; their
tolerances allow for bf16 matmul operands and bf16 outputs (about 3 significant digits).
`make gpu-check` runs these with HYBRIDLAB_TRITON_AUTOTUNE=0 (one config per kernel) to keep
compile time short.
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_close
from hybridlab.kernels import (
    causal_conv1d,
    causal_conv1d_update,
    selective_scan,
    selective_state_update,
    ssd,
)

pytestmark = pytest.mark.gpu

BF16_OUT, BF16_GRAD = 1e-2, 3e-2


def _leaves(tensors: dict, dtype: torch.dtype) -> dict:
    return {
        k: v.detach().to(dtype).requires_grad_(v.is_floating_point()) for k, v in tensors.items()
    }


def _fwd_bwd(fn, inputs: dict, cotangent_seed: int = 1):
    out = fn(**inputs)
    outs = out if isinstance(out, tuple) else (out,)
    gen = torch.Generator(device="cuda").manual_seed(cotangent_seed)
    loss = sum((o.float() * torch.randn(o.shape, device="cuda", generator=gen)).sum() for o in outs)
    loss.backward()
    return [o.float() for o in outs], {k: v.grad.float() for k, v in inputs.items()}


def _compare(fn_triton, fn_ref, tensors, dtype, out_tol, grad_tol):
    """Triton on `dtype` inputs against the reference on the same values in fp32."""
    rounded = {k: v.to(dtype) for k, v in tensors.items()}
    outs, grads = _fwd_bwd(fn_triton, _leaves(rounded, dtype))
    outs_ref, grads_ref = _fwd_bwd(fn_ref, _leaves(rounded, torch.float32))
    for i, (o, r) in enumerate(zip(outs, outs_ref, strict=True)):
        assert_close(o, r, rel_rms=out_tol, name=f"output {i}")
    for name in grads:
        assert_close(grads[name], grads_ref[name], rel_rms=grad_tol, name=f"d{name}")


def _ssd_tensors(b, l, h, p, g, n, full: bool):
    gen = torch.Generator(device="cuda").manual_seed(0)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, device="cuda", generator=gen) * scale

    t = {
        "x": randn(b, l, h, p),
        "dt": randn(b, l, h, scale=0.5) - 2.0,
        "A": -torch.rand(h, device="cuda", generator=gen) * 15 - 1,
        "B": randn(b, l, g, n),
        "C": randn(b, l, g, n),
        "D": randn(h),
        "dt_bias": randn(h, scale=0.3),
    }
    if full:
        t["z"] = randn(b, l, h, p)
        t["initial_state"] = randn(b, h, p, n, scale=0.1)
    return t


@pytest.mark.parametrize("groups", [1, 2])
def test_ssd_fp32_real_size(groups):
    tensors = _ssd_tensors(2, 1000, 8, 64, groups, 128, full=True)

    def run(backend):
        def fn(**kw):
            return ssd(**kw, dt_softplus=True, chunk_size=256, return_final_state=True,
                       backend=backend)  # fmt: skip

        return fn

    _compare(run("triton"), run("torch"), tensors, torch.float32, 5e-3, 5e-3)


def test_ssd_bf16_real_size():
    tensors = _ssd_tensors(2, 2048, 16, 64, 1, 128, full=False)
    params = {"A", "D", "dt_bias"}  # fp32 parameters, as in a Mamba-2 layer under autocast

    def run(backend, dtype):
        def fn(**kw):
            kw = {k: (v.float() if k in params else v.to(dtype)) for k, v in kw.items()}
            return ssd(**kw, dt_softplus=True, chunk_size=256, return_final_state=True,
                       backend=backend)  # fmt: skip

        return fn

    _compare(run("triton", torch.bfloat16), run("torch", torch.float32), tensors,
             torch.bfloat16, BF16_OUT, BF16_GRAD)  # fmt: skip


def _scan_tensors(b, d, l, n):
    gen = torch.Generator(device="cuda").manual_seed(0)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, device="cuda", generator=gen) * scale

    A = -torch.arange(1, n + 1, device="cuda", dtype=torch.float32).repeat(d, 1)
    return {
        "u": randn(b, d, l),
        "delta": randn(b, d, l, scale=0.5) - 3.0,
        "A": A,
        "B": randn(b, n, l),
        "C": randn(b, n, l),
        "D": randn(d),
        "z": randn(b, d, l),
        "delta_bias": randn(d, scale=0.3),
    }


@pytest.mark.parametrize(("dtype", "out_tol", "grad_tol"), [
    pytest.param(torch.float32, 5e-3, 5e-3, id="fp32"),
    pytest.param(torch.bfloat16, BF16_OUT, BF16_GRAD, id="bf16"),
])  # fmt: skip
def test_selective_scan_real_size(dtype, out_tol, grad_tol):
    tensors = _scan_tensors(2, 1024, 2000, 16)
    params = {"A", "D", "delta_bias"}

    def run(backend, run_dtype):
        def fn(**kw):
            kw = {k: (v.float() if k in params else v.to(run_dtype)) for k, v in kw.items()}
            return selective_scan(**kw, delta_softplus=True, return_final_state=True,
                                  backend=backend)  # fmt: skip

        return fn

    _compare(run("triton", dtype), run("torch", torch.float32), tensors, dtype, out_tol, grad_tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_causal_conv1d_real_size(dtype):
    gen = torch.Generator(device="cuda").manual_seed(0)
    tensors = {
        "x": torch.randn(4, 2304, 1000, device="cuda", generator=gen),
        "weight": torch.randn(2304, 4, device="cuda", generator=gen) * 0.5,
        "bias": torch.randn(2304, device="cuda", generator=gen),
    }
    tol = 5e-3 if dtype == torch.float32 else BF16_OUT

    def run(backend):
        def fn(**kw):
            return causal_conv1d(**kw, activation="silu", backend=backend)

        return fn

    _compare(
        run("triton"),
        run("torch"),
        tensors,
        dtype,
        tol,
        tol if dtype == torch.float32 else BF16_GRAD,
    )


def test_decode_steps_real_size():
    gen = torch.Generator(device="cuda").manual_seed(0)
    b, h, p, n, g = 8, 32, 64, 128, 1
    state = torch.randn(b, h, p, n, device="cuda", generator=gen)
    state_ref = state.clone()
    args = (
        torch.randn(b, h, p, device="cuda", generator=gen).bfloat16(),
        torch.randn(b, h, device="cuda", generator=gen).bfloat16(),
        -torch.rand(h, device="cuda", generator=gen) - 1,
        torch.randn(b, g, n, device="cuda", generator=gen).bfloat16(),
        torch.randn(b, g, n, device="cuda", generator=gen).bfloat16(),
    )
    kw = dict(D=torch.randn(h, device="cuda", generator=gen), dt_softplus=True)
    y = selective_state_update(state, *args, **kw, backend="triton")
    y_ref = selective_state_update(state_ref, *args, **kw, backend="torch")
    assert_close(y.float(), y_ref.float(), rel_rms=BF16_OUT, name="ssd y")
    assert_close(state, state_ref, name="ssd state")

    d, n = 2048, 16
    state = torch.randn(b, d, n, device="cuda", generator=gen)
    state_ref = state.clone()
    args = (
        torch.randn(b, d, device="cuda", generator=gen),
        torch.randn(b, d, device="cuda", generator=gen),
        -torch.rand(d, n, device="cuda", generator=gen),
        torch.randn(b, n, device="cuda", generator=gen),
        torch.randn(b, n, device="cuda", generator=gen),
    )
    y = selective_state_update(state, *args, dt_softplus=True, backend="triton")
    y_ref = selective_state_update(state_ref, *args, dt_softplus=True, backend="torch")
    assert_close(y, y_ref, name="mamba-1 y")
    assert_close(state, state_ref, name="mamba-1 state")

    conv_state = torch.randn(b, d, 4, device="cuda", generator=gen)
    conv_ref = conv_state.clone()
    x, weight = torch.randn(b, d, device="cuda", generator=gen), torch.randn(d, 4, device="cuda")
    y = causal_conv1d_update(x, conv_state, weight, None, "silu", backend="triton")
    y_ref = causal_conv1d_update(x, conv_ref, weight, None, "silu", backend="torch")
    assert_close(y, y_ref, name="conv y")
    assert_close(conv_state, conv_ref, name="conv state")

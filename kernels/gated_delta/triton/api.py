"""Gated delta rule in Triton: the GPU path of `hybridlab.kernels.gated_delta_rule`
(`backend="triton"`) and of `gated_delta_step`.

Shape legend:
    b  batch     l  sequence length     h  heads     dk  key dim     dv  value dim
    c  checkpoints     s  stretch (positions per checkpoint)     nv  dv blocks

A recurrent design (FLA's `fused_recurrent` shape, written here from the math): forward.py walks
the sequence with the state in registers and checkpoints it every s positions;
backward.py walks it in reverse, replaying each stretch from its checkpoint. Work is O(l·dk·dv)
per head in both directions and memory O(l/s · dk·dv), but the time axis is sequential
inside a program: parallelism comes from b·h·nv programs only. FLA's chunked kernels (WY form
on tensor cores, kernels/gated_delta/chunk.py's algorithm) are the faster design at long l; this
one is the simpler, exact one. Every kernel computes in fp32 whatever the inputs' dtype.
Arguments are checked by the public entries (kernels/_checks.py), not here.
"""

from __future__ import annotations

import torch

from ..._triton_utils import (
    INTERPRET,
    check_cuda_or_interpreter,
    contiguous,
    device_guard,
    new_empty,
    next_pow2,
)
from .backward import gated_delta_bwd_kernel
from .forward import gated_delta_fwd_kernel

# The longest stretch between checkpoints: the backward's scratch holds this many states.
MAX_STRETCH = 64


def _stretch(length: int) -> tuple[int, int]:
    """(c, s): as few checkpoints as MAX_STRETCH allows, the length split evenly between them
    (s is a runtime loop bound, so a new length compiles nothing; at most c − 1 padded steps)."""
    num_ckpt = -(-length // MAX_STRETCH)
    return num_ckpt, -(-length // num_ckpt)


def _blocks(dk: int, dv: int) -> tuple[int, int, int]:
    """(BK, BV, nv): the whole dk per program; dv in blocks of 32 on a GPU (more programs, fewer
    registers per state tile), whole under the interpreter (fewer programs to interpret)."""
    BK = next_pow2(dk, minimum=1)
    BV = next_pow2(dv, minimum=1) if INTERPRET else min(32, next_pow2(dv, minimum=1))
    return BK, BV, -(-dv // BV)


def _forward(q, k, v, g, beta, h0, final, scale, save):
    """Launch the forward; returns o (b, l, h, dv) fp32 and the checkpoints (or None)."""
    b, l, h, dk = k.shape
    dv = v.shape[-1]
    BK, BV, nv = _blocks(dk, dv)
    num_ckpt, stretch = _stretch(l)
    o = new_empty(b, l, h, dv, dtype=torch.float32, device=v.device)
    ckpt = new_empty(b, h, num_ckpt, dk, dv, dtype=torch.float32, device=v.device) if save else o
    with device_guard(v):
        gated_delta_fwd_kernel[(nv, b * h)](
            q, k, v, g, beta, h0 if h0 is not None else o, o, final, ckpt,
            scale, l, h, dk, dv, num_ckpt, stretch,
            HAS_H0=h0 is not None, SAVE=save, BK=BK, BV=BV,
        )  # fmt: skip
    return o, (ckpt if save else None)


def _backward(q, k, v, g, beta, ckpt, do, dfinal, scale):
    """Launch the backward; returns dq, dk, dv, dg, dβ, dh0 in fp32."""
    b, l, h, dk = k.shape
    dv = v.shape[-1]
    BK, BV, nv = _blocks(dk, dv)
    num_ckpt, stretch = _stretch(l)
    dev = v.device
    scratch = torch.empty(nv, b, h, stretch, BK, BV, dtype=torch.float32, device=dev)
    dq = new_empty(nv, b, l, h, dk, dtype=torch.float32, device=dev)
    dk_ = new_empty(nv, b, l, h, dk, dtype=torch.float32, device=dev)
    dv_ = new_empty(b, l, h, dv, dtype=torch.float32, device=dev)
    dg = new_empty(nv, b, l, h, dtype=torch.float32, device=dev)
    dbeta = new_empty(nv, b, l, h, dtype=torch.float32, device=dev)
    dh0 = new_empty(b, h, dk, dv, dtype=torch.float32, device=dev)
    with device_guard(v):
        gated_delta_bwd_kernel[(nv, b * h)](
            q, k, v, g, beta, ckpt, do, dfinal if dfinal is not None else do, scratch,
            dq, dk_, dv_, dg, dbeta, dh0,
            scale, l, b, h, dk, dv, num_ckpt, stretch,
            HAS_DFINAL=dfinal is not None, BK=BK, BV=BV,
        )  # fmt: skip
    return dq.sum(0), dk_.sum(0), dv_, dg.sum(0), dbeta.sum(0), dh0


class _GatedDeltaTriton(torch.autograd.Function):
    """(q, k, v, g, beta, h0) -> (o fp32, final state fp32); see `gated_delta_rule_triton`."""

    @staticmethod
    def forward(ctx, q, k, v, g, beta, h0, scale):
        b, _, h, dk = k.shape
        final = new_empty(b, h, dk, v.shape[-1], dtype=torch.float32, device=v.device)
        # Checkpoints only when a backward can follow (autograd.Function runs forward without
        # grad mode; needs_input_grad says whether any input wants a gradient).
        o, ckpt = _forward(q, k, v, g, beta, h0, final, scale, save=any(ctx.needs_input_grad))
        ctx.save_for_backward(q, k, v, g, beta, ckpt)
        ctx.scale = scale
        ctx.h0_dtype = h0.dtype if h0 is not None else None
        return o, final

    @staticmethod
    def backward(ctx, do, dfinal):
        q, k, v, g, beta, ckpt = ctx.saved_tensors
        do = torch.zeros_like(v, dtype=torch.float32) if do is None else do.contiguous()
        dfinal = dfinal.contiguous() if dfinal is not None else None
        dq, dk, dv, dg, dbeta, dh0 = _backward(q, k, v, g, beta, ckpt, do, dfinal, ctx.scale)
        return (
            dq.to(q.dtype),
            dk.to(k.dtype),
            dv.to(v.dtype),
            dg.to(g.dtype),
            dbeta.to(beta.dtype),
            dh0.to(ctx.h0_dtype) if ctx.h0_dtype is not None else None,
            None,
        )


def gated_delta_rule_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The gated delta rule in Triton; same contract as `hybridlab.kernels.gated_delta_rule`.

    Args:
        q, k: (b, l, h, dk) queries and keys.
        v: (b, l, h, dv) values.
        g: (b, l, h) log-decays (≤ 0).
        beta: (b, l, h) write strengths.
        scale: multiplies q (resolved by the public entry).
        initial_state: (b, h, dk, dv), or None for zeros.
        return_final_state: also return the (b, h, dk, dv) final state.
    Returns:
        o (b, l, h, dv) in v's dtype, and the final state in v's dtype if asked.

    Example:
        >>> o = gated_delta_rule_triton(q, k, v, g, beta, scale=0.125)  # doctest: +SKIP
    """
    check_cuda_or_interpreter(v, "v")
    q, k, v, g, beta, h0 = contiguous(q, k, v, g, beta, initial_state)
    o, final = _GatedDeltaTriton.apply(q, k, v, g, beta, h0, float(scale))
    o = o.to(v.dtype)
    if return_final_state:
        return o, final.to(v.dtype)
    return o


def gated_delta_step_triton(
    state: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """One decode step in Triton (the forward kernel over one position), `state` (b, h, dk, dv)
    updated in place in its own dtype; same contract as `hybridlab.kernels.gated_delta_step`."""
    check_cuda_or_interpreter(v, "v")
    # One position of a (b, 1, h, ·) sequence; the kernel reads the state and writes it back.
    q, k, v = (t[:, None].contiguous() for t in (q, k, v))
    g, beta = (t[:, None].contiguous() for t in (g, beta))
    work = state if state.is_contiguous() else state.contiguous()
    with torch.no_grad():
        o, _ = _forward(q, k, v, g, beta, work, work, scale, save=False)
    if work is not state:
        state.copy_(work)
    return o[:, 0].to(v.dtype)

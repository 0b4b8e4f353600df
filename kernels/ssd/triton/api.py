"""Mamba-2 SSD in Triton: the GPU path of `hybridlab.kernels.ssd` (`backend="triton"`).

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim (headdim)
    g  groups (ngroups)     n  state size (d_state)     c  chunks     q  chunk length

The chunked algorithm of Dao & Gu 2024 ("Transformers are SSMs", §6–7), split into kernels the
way mamba_ssm's Triton SSD is, each written here from the math:
    forward   chunk_cumsum.py   Δ = softplus(dt + dt_bias), cs = within-chunk cumsum of Δ A
              chunk_state.py    S_c = Σ_j exp(cs_last − cs_j) Δ_j x_j B_jᵀ
              state_passing.py  H_c = exp(cs_last) H_{c−1} + S_c (sequential over chunks)
              chunk_scan.py     CB = C Bᵀ per group; y = exp(cs) C H_{c−1} + masked (CB ∘ decay) Δx,
                                then D skip and the silu(z) gate, fused
    backward  backward_states.py  dH from the outputs, then reverse state passing
              backward_dx.py      dx, dz, dD and the log-decay gradient (fused, recomputing y)
              backward_pairs.py   the intra-chunk pairs' share of it, over exact ranges
              backward_dbc.py     dCB per group, then dB and dC together
              backward_dt.py      reverse cumsum to dt, A, dt_bias
Everything between kernels is fp32 (Δ, cs, CB, chunk states; cs is summed in fp64 and kept with
its rounding cs_lo, so that every decay exp(cs_i − cs_j) is exact to fp32: kernels/_decay.py);
products run on tensor cores in the inputs' dtype (bf16/fp16) or exactly in fp32. Sequences
need not be a multiple of q: positions past the end get Δ = 0 and are masked. Any sign of Δ·A
is exact: every decay factor exp(cs_i − cs_j) is formed for i ≥ j only (`tl.where` before
`exp`), so nothing above the diagonal can overflow; with decaying states (A ≤ 0, Δ ≥ 0, every
Mamba-2) they are at most 1.
(A growing state's within-chunk weights are cast to the inputs' dtype for the product, so in
fp16 they overflow past 65504, sooner than in fp32 or bf16.)
Arguments are checked by the public `hybridlab.kernels.ssd` (kernels/_checks.py), not here.
"""

from __future__ import annotations

import torch

from ..._triton_utils import check_cuda_or_interpreter, contiguous
from .backward_dbc import chunk_scan_bwd_dcb, ssd_bwd_dbc
from .backward_dt import chunk_cumsum_bwd
from .backward_dx import chunk_scan_bwd_dx
from .backward_pairs import chunk_scan_bwd_pairs
from .backward_states import chunk_scan_bwd_dstates, state_passing_bwd
from .chunk_cumsum import chunk_cumsum_fwd
from .chunk_scan import bmm_cb_fwd, chunk_scan_fwd
from .chunk_state import chunk_state_fwd
from .state_passing import state_passing_fwd


class _SSDTriton(torch.autograd.Function):
    """(x, dt, A, B, C, D, z, dt_bias, h0) -> (y, final state); see `ssd_triton`."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, z, dt_bias, initial_state, dt_softplus, chunk_size):
        delta, cs, cs_lo = chunk_cumsum_fwd(dt, A, dt_bias, dt_softplus, chunk_size)
        states = chunk_state_fwd(x, B, delta, cs, cs_lo)
        final = state_passing_fwd(states, cs, initial_state)  # states now enter each chunk
        cb = bmm_cb_fwd(C, B, chunk_size)
        y = chunk_scan_fwd(x, C, cb, delta, cs, cs_lo, states, D, z)
        ctx.save_for_backward(x, dt, A, B, C, D, z, dt_bias, delta, cs, cs_lo, cb, states)
        ctx.dt_softplus = dt_softplus
        ctx.has_initial_state = initial_state is not None
        ctx.initial_state_dtype = initial_state.dtype if initial_state is not None else None
        return y, final.to(x.dtype)

    @staticmethod
    def backward(ctx, dy, dfinal):
        x, dt, A, B, C, D, z, dt_bias, delta, cs, cs_lo, cb, states = ctx.saved_tensors
        num_groups = B.shape[2]
        dy = torch.zeros_like(x) if dy is None else dy.contiguous()
        dstates = chunk_scan_bwd_dstates(dy, z, C, cs, x.shape[3])
        dinit, dcs_last = state_passing_bwd(dstates, states, dfinal, cs)  # dstates: dH_end
        dx, dz, ddt_u, dcs, dcs_state, dD = chunk_scan_bwd_dx(
            x, dy, z, D, B, C, cb, delta, cs, cs_lo, states, dstates
        )
        pairs = chunk_scan_bwd_pairs(x, dy, z, cb, delta, cs, cs_lo)
        dcb = chunk_scan_bwd_dcb(x, dy, z, delta, cs, cs_lo, num_groups)
        dB, dC = ssd_bwd_dbc(x, dy, z, B, C, dcb, delta, cs, cs_lo, states, dstates)
        ddt, dA, ddt_bias = chunk_cumsum_bwd(
            dt, dt_bias, ctx.dt_softplus, A, delta, ddt_u, dcs, dcs_state, pairs, dcs_last
        )
        return (
            dx,
            ddt.to(dt.dtype),
            dA.to(A.dtype),
            dB,
            dC,
            dD.to(D.dtype) if D is not None else None,
            dz,
            ddt_bias.to(dt_bias.dtype) if dt_bias is not None else None,
            dinit.to(ctx.initial_state_dtype) if ctx.has_initial_state else None,
            None,
            None,
        )


def ssd_triton(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = 64,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Chunked SSD in Triton; same contract as `hybridlab.kernels.ssd`.

    Args:
        x: (b, l, h, p) inputs.
        dt: (b, l, h) time steps (before dt_bias and softplus).
        A: (h,) decay rates, ≤ 0.
        B, C: (b, l, g, n) input and output projections; g divides h.
        D: (h,) or (h, p) skip weights, or None.
        z: (b, l, h, p) gate (y ∘ silu(z)), or None.
        dt_bias: (h,) added to dt, or None.
        dt_softplus: Δ = softplus(dt + dt_bias) if True, else dt + dt_bias.
        initial_state: (b, h, p, n), or None for zeros.
        chunk_size: q; 64 to 256 on GPUs (mamba_ssm uses 256).
        return_final_state: also return the (b, h, p, n) final state.
    Returns:
        y (b, l, h, p) in x's dtype, and the final state in x's dtype if asked.

    Example:
        >>> y = ssd_triton(x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=True)  # doctest: +SKIP
    """
    check_cuda_or_interpreter(x, "x")
    # One dtype for every matmul operand: B and C follow x (autograd casts their gradients back).
    B, C = B.to(x.dtype), C.to(x.dtype)
    x, dt, A, B, C, D, z, dt_bias, initial_state = contiguous(
        x, dt, A, B, C, D, z, dt_bias, initial_state
    )
    y, final = _SSDTriton.apply(
        x, dt, A, B, C, D, z, dt_bias, initial_state, dt_softplus, chunk_size
    )
    if return_final_state:
        return y, final
    return y

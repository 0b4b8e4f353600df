"""Mamba-1 selective scan in Triton: the GPU path of `hybridlab.kernels.selective_scan`.

Shape legend:
    b  batch     d  channels (d_inner)     l  sequence length     n  state size (d_state)
    g  groups of channels sharing B and C

forward.py scans each chunk of T time steps with `tl.associative_scan` and carries the state
across chunks in registers; backward.py recomputes each chunk from the saved entering state and
runs the adjoint recurrence as a reverse scan. Both compute in fp32 whatever the inputs' dtype.
Arguments are checked by the public `hybridlab.kernels.selective_scan` (kernels/_checks.py).
"""

from __future__ import annotations

import torch
import triton

from ..._triton_utils import check_cuda_or_interpreter, contiguous
from .backward import selective_scan_bwd
from .forward import selective_scan_fwd

# Time steps per chunk (T). Fixed, because the backward recomputes chunk by chunk from the
# states the forward saved at chunk boundaries; 32 keeps the backward's (BD, n, T) tiles in
# registers for n up to 16–32.
CHUNK = 32


class _SelectiveScanTriton(torch.autograd.Function):
    """(u, Δ, A, B, C, D, z, delta_bias, h0) -> (y, final state); see `selective_scan_triton`."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, initial_state, delta_softplus):
        block_t = min(CHUNK, triton.next_power_of_2(u.shape[-1]))
        out, final, chunk_states = selective_scan_fwd(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, block_t
        )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, chunk_states)
        ctx.delta_softplus = delta_softplus
        ctx.block_t = block_t
        ctx.has_initial_state = initial_state is not None
        ctx.initial_state_dtype = initial_state.dtype if initial_state is not None else None
        return out, final.to(u.dtype)

    @staticmethod
    def backward(ctx, dout, dfinal):
        u, delta, A, B, C, D, z, delta_bias, chunk_states = ctx.saved_tensors
        dout = torch.zeros_like(u) if dout is None else dout.contiguous()
        du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinit = selective_scan_bwd(
            dout, dfinal, u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus,
            chunk_states, ctx.block_t,
        )  # fmt: skip
        return (
            du,
            ddelta.to(delta.dtype),
            dA.to(A.dtype),
            dB.to(B.dtype),
            dC.to(C.dtype),
            dD.to(D.dtype) if D is not None else None,
            dz,
            ddelta_bias.to(delta_bias.dtype) if delta_bias is not None else None,
            dinit.to(ctx.initial_state_dtype) if ctx.has_initial_state else None,
            None,
        )


def selective_scan_triton(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan in Triton; same contract as `hybridlab.kernels.selective_scan`.

    Args:
        u: (b, d, l) inputs.
        delta: (b, d, l) time steps before delta_bias and softplus.
        A: (d, n) decay rates (negative).
        B, C: (b, n, l) or (b, g, n, l) with g dividing d.
        D: (d,) skip weights, or None.
        z: (b, d, l) gate (y ∘ silu(z)), or None.
        delta_bias: (d,) added to delta, or None.
        delta_softplus: Δ = softplus(delta + delta_bias) if True.
        initial_state: (b, d, n), or None for zeros.
        return_final_state: also return the (b, d, n) final state.
    Returns:
        y (b, d, l) in u's dtype, and the final state in u's dtype if asked.

    Example:
        >>> y = selective_scan_triton(u, delta, A, B, C, D=D, delta_softplus=True)  # doctest: +SKIP
    """
    check_cuda_or_interpreter(u, "u")
    if B.dim() == 3:
        B, C = B[:, None], C[:, None]
    u, delta, A, B, C, D, z, delta_bias, initial_state = contiguous(
        u, delta, A, B, C, D, z, delta_bias, initial_state
    )
    y, final = _SelectiveScanTriton.apply(
        u, delta, A, B, C, D, z, delta_bias, initial_state, delta_softplus
    )
    if return_final_state:
        return y, final
    return y

"""One decode step of either SSM in Triton, the state updated in place (`backend="triton"`).

Shape legend:
    b  batch     h  heads     p  head dim     g  groups     n  state size     d  channels

Both layouts of `hybridlab.kernels.selective_state_update` run through one kernel over a
(b, H, P, n) view with explicit strides (mamba_ssm's `selective_state_update` broadcasts the same
way):
    SSD (Mamba-2)   state (b, h, p, n): H = h, P = p; dt, A, dt_bias are per head, so their
                    stride along p (and A's along n) is 0.
    Mamba-1         state (b, d, n):    H = g, P = d / g (the channels of a group); A (d, n) is
                    per channel and state entry; D, dt_bias per channel.
Per (batch, head, block of P rows), with the whole n in registers:
    h ← exp(Δ A) h + Δ x Bᵀ,   y = h C + D x,   y ∘= silu(z)
No autotuning: the kernel updates the state in place, which repeated trial runs would corrupt.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import (
    check_cuda_or_interpreter,
    contiguous,
    device_guard,
    new_empty,
    softplus,
)


@triton.jit
def _state_update_kernel(
    state_ptr,  # (b, H, P, n) through strides, updated in place
    x_ptr,  # (b, H, P)
    dt_ptr,  # (b, H, P), stride 0 along P for SSD
    A_ptr,  # (H, P, n), strides 0 where not varying
    B_ptr,  # (b, G, n)
    C_ptr,  # (b, G, n)
    D_ptr,  # (H, P), or a dummy
    z_ptr,  # (b, H, P), or a dummy
    bias_ptr,  # (H, P), or a dummy
    out_ptr,  # (b, H, P), written
    num_heads,
    headdim,
    d_state,
    heads_per_group,
    s_state_b, s_state_h, s_state_p, s_state_n,
    s_x_b, s_x_h, s_x_p,
    s_dt_b, s_dt_h, s_dt_p,
    s_A_h, s_A_p, s_A_n,
    s_B_b, s_B_g, s_B_n,
    s_C_b, s_C_g, s_C_n,
    s_D_h, s_D_p,
    s_z_b, s_z_h, s_z_p,
    s_bias_h, s_bias_p,
    s_out_b, s_out_h, s_out_p,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_bh = tl.program_id(0)
    pid_p = tl.program_id(1)
    pid_b = (pid_bh // num_heads).to(tl.int64)
    pid_h = pid_bh % num_heads
    pid_g = pid_h // heads_per_group
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    mask_p = offs_p < headdim
    mask_n = offs_n < d_state
    mask = mask_p[:, None] & mask_n[None, :]

    state_ptrs = (
        state_ptr
        + pid_b * s_state_b
        + pid_h * s_state_h
        + offs_p[:, None] * s_state_p
        + offs_n[None, :] * s_state_n
    )
    state = tl.load(state_ptrs, mask=mask, other=0.0).to(tl.float32)  # (BP, BN)
    x = tl.load(x_ptr + pid_b * s_x_b + pid_h * s_x_h + offs_p * s_x_p, mask=mask_p, other=0.0)
    x = x.to(tl.float32)
    dt = tl.load(dt_ptr + pid_b * s_dt_b + pid_h * s_dt_h + offs_p * s_dt_p, mask=mask_p, other=0.0)
    dt = dt.to(tl.float32)
    if HAS_BIAS:
        dt += tl.load(bias_ptr + pid_h * s_bias_h + offs_p * s_bias_p, mask=mask_p, other=0.0).to(
            tl.float32
        )
    if SOFTPLUS:
        dt = softplus(dt)
    A = tl.load(
        A_ptr + pid_h * s_A_h + offs_p[:, None] * s_A_p + offs_n[None, :] * s_A_n,
        mask=mask,
        other=0.0,
    ).to(tl.float32)
    B = tl.load(B_ptr + pid_b * s_B_b + pid_g * s_B_g + offs_n * s_B_n, mask=mask_n, other=0.0)
    C = tl.load(C_ptr + pid_b * s_C_b + pid_g * s_C_g + offs_n * s_C_n, mask=mask_n, other=0.0)

    state = tl.exp(dt[:, None] * A) * state + (dt * x)[:, None] * B.to(tl.float32)[None, :]
    tl.store(state_ptrs, state.to(state_ptr.dtype.element_ty), mask=mask)
    y = tl.sum(state * C.to(tl.float32)[None, :], axis=1)  # (BP,)
    if HAS_D:
        D = tl.load(D_ptr + pid_h * s_D_h + offs_p * s_D_p, mask=mask_p, other=0.0)
        y += D.to(tl.float32) * x
    if HAS_Z:
        z = tl.load(z_ptr + pid_b * s_z_b + pid_h * s_z_h + offs_p * s_z_p, mask=mask_p, other=0.0)
        z = z.to(tl.float32)
        y *= z / (1.0 + tl.exp(-z))
    out_ptrs = out_ptr + pid_b * s_out_b + pid_h * s_out_h + offs_p * s_out_p
    tl.store(out_ptrs, y.to(out_ptr.dtype.element_ty), mask=mask_p)


def _strides(t: torch.Tensor | None, rank: int) -> tuple[int, ...]:
    return tuple(t.stride()) if t is not None else (0,) * rank


def selective_state_update_triton(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
) -> torch.Tensor:
    """One decode step in Triton; same contract as `hybridlab.kernels.selective_state_update`.

    Args:
        state: SSD (b, h, p, n) or Mamba-1 (b, d, n); updated in place (any dtype; fp32 math).
        x: (b, h, p) or (b, d).  dt: (b, h) or (b, d).  A: (h,) or (d, n).
        B, C: (b, g, n); for Mamba-1 also (b, n).
        D: (h,) or (h, p) for SSD, (d,) for Mamba-1, or None.  z: like x, or None.
        dt_bias: (h,) or (d,), or None.  dt_softplus: Δ = softplus(dt + dt_bias).
    Returns:
        y, same shape and dtype as x.
    """
    check_cuda_or_interpreter(state, "state")
    x, dt, A, B, C, D, z, dt_bias = contiguous(x, dt, A, B, C, D, z, dt_bias)
    out = new_empty(*x.shape, dtype=x.dtype, device=x.device)
    if state.dim() == 4:
        batch, num_heads, headdim, d_state = state.shape
        num_groups = B.shape[1]
        st, xv, dtv, outv, zv = state, x, dt[..., None], out, z
        A_v = A[:, None, None]  # (h, 1, 1): broadcast over p and n by stride 0
        A_strides = (A_v.stride(0), 0, 0)
        dt_strides = (dtv.stride(0), dtv.stride(1), 0)
        bias_v = dt_bias[:, None] if dt_bias is not None else None
        bias_strides = (bias_v.stride(0), 0) if bias_v is not None else (0, 0)
        if D is not None:
            D_v = D[:, None] if D.dim() == 1 else D
            D_strides = (D_v.stride(0), 0 if D.dim() == 1 else D_v.stride(1))
    else:
        batch, dim, d_state = state.shape
        if B.dim() == 2:
            B, C = B[:, None], C[:, None]
        num_groups = num_heads = B.shape[1]
        headdim = dim // num_groups
        # Split channels into (groups, channels per group): always a view, so the in-place
        # update reaches the caller's state whatever its strides.
        st = state.unflatten(1, (num_groups, headdim))
        xv, outv = x.unflatten(1, (num_groups, headdim)), out.unflatten(1, (num_groups, headdim))
        dtv = dt.unflatten(1, (num_groups, headdim))
        zv = z.unflatten(1, (num_groups, headdim)) if z is not None else None
        A_v = A.unflatten(0, (num_groups, headdim))
        A_strides = tuple(A_v.stride())
        dt_strides = tuple(dtv.stride())
        bias_v = dt_bias.unflatten(0, (num_groups, headdim)) if dt_bias is not None else None
        bias_strides = tuple(bias_v.stride()) if bias_v is not None else (0, 0)
        if D is not None:
            D_v = D.unflatten(0, (num_groups, headdim))
            D_strides = tuple(D_v.stride())
    if D is None:
        D_v, D_strides = None, (0, 0)
    block_n = triton.next_power_of_2(d_state)
    block_p = max(1, min(triton.next_power_of_2(headdim), max(1, 4096 // block_n)))
    grid = (batch * num_heads, triton.cdiv(headdim, block_p))
    with device_guard(state):
        _state_update_kernel[grid](
            st, xv, dtv, A_v, B, C,
            D_v if D_v is not None else xv,
            zv if zv is not None else xv,
            bias_v if bias_v is not None else xv,
            outv,
            num_heads, headdim, d_state, num_heads // num_groups,
            *st.stride(), *xv.stride(), *dt_strides, *A_strides,
            *B.stride(), *C.stride(), *D_strides, *_strides(zv, 3), *bias_strides, *outv.stride(),
            HAS_D=D is not None,
            HAS_Z=z is not None,
            HAS_BIAS=dt_bias is not None,
            SOFTPLUS=dt_softplus,
            BLOCK_P=block_p,
            BLOCK_N=block_n,
            num_warps=4,
        )  # fmt: skip
    return out

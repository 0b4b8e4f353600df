"""One decode step of the causal conv1d in Triton, the conv state rolled in place.

Shape legend:
    b  batch     d  channels     w  kernel width     s  conv-state length (≥ w)

Per (batch, block of channels), with the whole state row in registers: shift the state left by
one, write x in the last column, y = bias + Σ_k weight[k] · state[s − w + k], then an optional
SiLU. The contract is that of `hybridlab.kernels.causal_conv1d_update` (`backend="triton"`).
No autotuning: the kernel updates the state in place, which repeated trial runs would corrupt.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import check_cuda_or_interpreter, contiguous, device_guard, new_empty


@triton.jit
def _conv1d_update_kernel(
    x_ptr,  # (b, d), strides (s_x_b, s_x_d)
    state_ptr,  # (b, d, s), updated in place
    w_ptr,  # (d, w) contiguous
    bias_ptr,  # (d,), or a dummy
    out_ptr,  # (b, d) contiguous, written
    dim,
    state_len,
    s_x_b,
    s_x_d,
    s_st_b,
    s_st_d,
    s_st_s,
    WIDTH: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SILU: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    pid_b = tl.program_id(0).to(tl.int64)
    pid_d = tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_s = tl.arange(0, BLOCK_S)
    mask_d = offs_d < dim
    mask = mask_d[:, None] & (offs_s < state_len)[None, :]
    row = state_ptr + pid_b * s_st_b + offs_d[:, None] * s_st_d  # (BD, 1)

    # Shift left by one, then the new input in the last column. All loads precede the store.
    x = tl.load(x_ptr + pid_b * s_x_b + offs_d * s_x_d, mask=mask_d, other=0.0)
    shifted = tl.load(
        row + (offs_s[None, :] + 1) * s_st_s,
        mask=mask_d[:, None] & (offs_s + 1 < state_len)[None, :],
        other=0.0,
    )
    is_last = (offs_s == state_len - 1)[None, :]
    new_state = tl.where(is_last, x[:, None].to(shifted.dtype), shifted)  # (BD, BS)
    tl.store(row + offs_s[None, :] * s_st_s, new_state, mask=mask)

    # y = Σ_k weight[k] · state[s − w + k]: the weight aligned to the state's last w columns.
    tap = offs_s - (state_len - WIDTH)
    w = tl.load(
        w_ptr + offs_d[:, None] * WIDTH + tap[None, :],
        mask=mask_d[:, None] & ((tap >= 0) & (tap < WIDTH))[None, :],
        other=0.0,
    )
    y = tl.sum(new_state.to(tl.float32) * w.to(tl.float32), axis=1)
    if HAS_BIAS:
        y += tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if SILU:
        y = y / (1.0 + tl.exp(-y))
    tl.store(out_ptr + pid_b * dim + offs_d, y.to(out_ptr.dtype.element_ty), mask=mask_d)


def causal_conv1d_update_triton(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """One decode step in Triton; same contract as `hybridlab.kernels.causal_conv1d_update`.

    Args:
        x: (b, d) this token's input.
        conv_state: (b, d, s), s ≥ w, oldest first; rolled left and x appended, in place.
        weight: (d, w).  bias: (d,) or None.  activation: None, or "silu" / "swish".
    Returns:
        y (b, d) in x's dtype.
    """
    check_cuda_or_interpreter(x, "x")
    x, weight, bias = contiguous(x, weight, bias)
    batch, dim = x.shape
    state_len, width = conv_state.shape[-1], weight.shape[1]
    out = new_empty(batch, dim, dtype=x.dtype, device=x.device)
    block_s = triton.next_power_of_2(state_len)
    block_d = max(1, min(128, 4096 // block_s))
    with device_guard(x):
        _conv1d_update_kernel[(batch, triton.cdiv(dim, block_d))](
            x, conv_state, weight,
            bias if bias is not None else weight,
            out, dim, state_len,
            *x.stride(), *conv_state.stride(),
            WIDTH=width,
            HAS_BIAS=bias is not None,
            SILU=activation in ("silu", "swish"),
            BLOCK_D=block_d,
            BLOCK_S=block_s,
            num_warps=4,
        )  # fmt: skip
    return out

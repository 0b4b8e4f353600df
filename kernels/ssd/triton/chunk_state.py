"""SSD step 1 (forward): each chunk's own contribution to the state, as one matmul per chunk.

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim     g  groups     n  state size
    c  chunks    q  chunk length        r  heads per group (h / g)

Per head and chunk (Dao & Gu 2024, §6, "chunk states"; mamba_ssm's `_chunk_state_fwd`):
    S_c = Σ_{j in chunk} exp(cs_last − cs_j) Δ_j x_j B_jᵀ          (p × n)
        = xᵀ (p × q)  @  (B ∘ w) (q × n),    w_j = exp(cs_last − cs_j) Δ_j
The weights w are applied to B's rows in fp32 and the product runs in the inputs' dtype (tensor
cores for bf16), accumulating in fp32. States are kept in fp32 throughout.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, dot_precision, new_empty


@autotune(
    configs=[
        triton.Config({"BLOCK_P": 64, "BLOCK_N": 64, "BLOCK_Q": 64}, num_warps=4, num_stages=3),
        triton.Config({"BLOCK_P": 64, "BLOCK_N": 128, "BLOCK_Q": 32}, num_warps=4, num_stages=3),
        triton.Config({"BLOCK_P": 64, "BLOCK_N": 64, "BLOCK_Q": 64}, num_warps=4, num_stages=1),
    ],
    key=["headdim", "d_state", "chunk_size"],
)
@triton.jit
def _chunk_state_fwd_kernel(
    x_ptr,  # (b, l, h, p) contiguous
    B_ptr,  # (b, l, g, n) contiguous
    dt_ptr,  # (b, h, c, q) fp32 Δ
    cs_ptr,  # (b, h, c, q) fp32 cumulative Δ·A
    cs_lo_ptr,  # (b, h, c, q) fp32, cs's rounding (chunk_cumsum.py)
    states_ptr,  # (b, c, h, p, n) fp32, written
    seqlen,
    num_heads,
    num_groups,
    headdim,
    d_state,
    num_chunks,
    chunk_size,
    DOT_PRECISION: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_Q: tl.constexpr,
):
    pid_bch = tl.program_id(0)
    pid_pn = tl.program_id(1)
    num_n_blocks = (d_state + BLOCK_N - 1) // BLOCK_N
    pid_p = pid_pn // num_n_blocks
    pid_n = pid_pn % num_n_blocks
    pid_h = pid_bch % num_heads
    pid_c = (pid_bch // num_heads) % num_chunks
    pid_b = pid_bch // (num_heads * num_chunks)
    pid_g = pid_h // (num_heads // num_groups)

    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_q = tl.arange(0, BLOCK_Q)
    t0 = pid_c * chunk_size
    row0 = (pid_b * seqlen + t0).to(tl.int64)
    x_base = x_ptr + row0 * num_heads * headdim + pid_h * headdim
    B_base = B_ptr + row0 * num_groups * d_state + pid_g * d_state
    chunk_off = ((pid_b * num_heads + pid_h) * num_chunks + pid_c).to(tl.int64) * chunk_size
    cs_last = tl.load(cs_ptr + chunk_off + chunk_size - 1)
    lo_last = tl.load(cs_lo_ptr + chunk_off + chunk_size - 1)

    acc = tl.full((BLOCK_P, BLOCK_N), 0.0, dtype=tl.float32)
    for q0 in range(0, chunk_size, BLOCK_Q):
        q = q0 + offs_q
        mask_q = (q < chunk_size) & (t0 + q < seqlen)
        x = tl.load(
            x_base + q[None, :] * (num_heads * headdim) + offs_p[:, None],
            mask=(offs_p[:, None] < headdim) & mask_q[None, :],
            other=0.0,
        )  # (BP, BQ)
        b = tl.load(
            B_base + q[:, None] * (num_groups * d_state) + offs_n[None, :],
            mask=mask_q[:, None] & (offs_n[None, :] < d_state),
            other=0.0,
        ).to(tl.float32)  # (BQ, BN)
        dt = tl.load(dt_ptr + chunk_off + q, mask=mask_q, other=0.0)  # (BQ,)
        cs = tl.load(cs_ptr + chunk_off + q, mask=mask_q, other=0.0)  # (BQ,)
        lo = tl.load(cs_lo_ptr + chunk_off + q, mask=mask_q, other=0.0)
        w = tl.where(mask_q, tl.exp((cs_last - cs) + (lo_last - lo)) * dt, 0.0)
        acc = tl.dot(x, (b * w[:, None]).to(x.dtype), acc, input_precision=DOT_PRECISION)

    out = states_ptr + (
        ((pid_b * num_chunks + pid_c) * num_heads + pid_h).to(tl.int64) * headdim * d_state
    )
    out += offs_p[:, None] * d_state + offs_n[None, :]
    tl.store(out, acc, mask=(offs_p[:, None] < headdim) & (offs_n[None, :] < d_state))


def chunk_state_fwd(
    x: torch.Tensor, B: torch.Tensor, dt: torch.Tensor, cs: torch.Tensor, cs_lo: torch.Tensor
) -> torch.Tensor:
    """Per-chunk states from each chunk's own inputs (no carried-in state).

    Args:
        x: (b, l, h, p) contiguous.
        B: (b, l, g, n) contiguous, g divides h.
        dt: (b, h, c, q) fp32 Δ from `chunk_cumsum_fwd`.
        cs, cs_lo: (b, h, c, q) fp32 cumulative Δ·A and its rounding, from `chunk_cumsum_fwd`.
    Returns:
        (b, c, h, p, n) fp32 chunk states S_c.
    """
    batch, seqlen, num_heads, headdim = x.shape
    num_groups, d_state = B.shape[2], B.shape[3]
    num_chunks, chunk_size = dt.shape[2], dt.shape[3]
    states = new_empty(
        batch, num_chunks, num_heads, headdim, d_state, dtype=torch.float32, device=x.device
    )

    def grid(meta):
        tiles = triton.cdiv(headdim, meta["BLOCK_P"]) * triton.cdiv(d_state, meta["BLOCK_N"])
        return (batch * num_chunks * num_heads, tiles)

    with device_guard(x):
        _chunk_state_fwd_kernel[grid](
            x, B, dt, cs, cs_lo, states,
            seqlen, num_heads, num_groups, headdim, d_state, num_chunks, chunk_size,
            DOT_PRECISION=dot_precision(x.dtype),
        )  # fmt: skip
    return states

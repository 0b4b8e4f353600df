"""SSD step 0 (forward): Δ and the within-chunk cumulative log-decay, one program per chunk.

Shape legend:
    b  batch     l  sequence length     h  heads     c  chunks (ceil(l / q))     q  chunk length

For each head and chunk (Dao & Gu 2024, §6; mamba_ssm's `_chunk_cumsum_fwd` plays this role):
    Δ_t  = softplus(dt_t + dt_bias) if softplus else dt_t + dt_bias,  and 0 for t ≥ l
    cs_t = Σ_{k ≤ t, k in the chunk} Δ_k A                  (the log of the decay since chunk start)
Δ = 0 past the end makes padded positions neutral: decay exp(0) = 1 and no input, so cs at the
chunk's last slot (q - 1) is also cs at its last real position, which later kernels rely on.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, new_empty, softplus


@autotune(
    configs=[triton.Config({"BLOCK_H": bh}, num_warps=4) for bh in (2, 8, 16)],
    key=["num_heads", "chunk_size"],
)
@triton.jit
def _chunk_cumsum_fwd_kernel(
    dt_ptr,  # (b, l, h) contiguous
    A_ptr,  # (h,)
    dt_bias_ptr,  # (h,) or a dummy when HAS_BIAS is False
    dt_out_ptr,  # (b, h, c, q) fp32
    cs_out_ptr,  # (b, h, c, q) fp32
    cs_lo_out_ptr,  # (b, h, c, q) fp32, what rounding cs to fp32 left out
    seqlen,
    num_heads,
    num_chunks,
    chunk_size,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_Q: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_c = tl.program_id(1)
    pid_h = tl.program_id(2)
    offs_h = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)  # (BH,)
    offs_q = tl.arange(0, BLOCK_Q)  # (BQ,)
    offs_t = pid_c * chunk_size + offs_q
    mask_h = offs_h < num_heads
    mask_q = offs_q < chunk_size
    mask = mask_h[:, None] & (mask_q & (offs_t < seqlen))[None, :]  # (BH, BQ)

    dt_base = dt_ptr + pid_b.to(tl.int64) * seqlen * num_heads
    dt = tl.load(dt_base + offs_t[None, :] * num_heads + offs_h[:, None], mask=mask, other=0.0).to(
        tl.float32
    )  # (BH, BQ)
    if HAS_BIAS:
        dt += tl.load(dt_bias_ptr + offs_h, mask=mask_h, other=0.0).to(tl.float32)[:, None]
    if SOFTPLUS:
        dt = softplus(dt)
    dt = tl.where(mask, dt, 0.0)
    A = tl.load(A_ptr + offs_h, mask=mask_h, other=0.0).to(tl.float32)  # (BH,)
    # Summed in fp64 and kept as an fp32 pair: every decay is a difference cs_i − cs_j, which
    # in fp32 carries ulp(|cs|) (kernels/_decay.py). Where the sum is infinite, lo is 0.
    cs64 = tl.cumsum((dt * A[:, None]).to(tl.float64), axis=1)  # (BH, BQ)
    cs = cs64.to(tl.float32)
    cs_lo = (cs64 - cs.to(tl.float64)).to(tl.float32)
    cs_lo = tl.where(cs_lo == cs_lo, cs_lo, 0.0)

    out_offs = (
        (pid_b * num_heads + offs_h[:, None]).to(tl.int64) * num_chunks + pid_c
    ) * chunk_size
    out_offs += offs_q[None, :]
    out_mask = mask_h[:, None] & mask_q[None, :]
    tl.store(dt_out_ptr + out_offs, dt, mask=out_mask)
    tl.store(cs_out_ptr + out_offs, cs, mask=out_mask)
    tl.store(cs_lo_out_ptr + out_offs, cs_lo, mask=out_mask)


def chunk_cumsum_fwd(
    dt: torch.Tensor,
    A: torch.Tensor,
    dt_bias: torch.Tensor | None,
    dt_softplus: bool,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Δ and its within-chunk cumulative sum times A, with the sum's fp32 rounding.

    Args:
        dt: (b, l, h) raw time steps, contiguous.
        A: (h,) per-head decay rates (negative for a decaying state).
        dt_bias: (h,) added to dt before the softplus, or None.
        dt_softplus: apply softplus to dt + dt_bias.
        chunk_size: q, the chunk length.
    Returns:
        dt_out: (b, h, c, q) fp32 Δ, zero past the sequence end.
        cs: (b, h, c, q) fp32 cumulative Δ·A within each chunk.
        cs_lo: (b, h, c, q) fp32, cs's rounding error (cs + cs_lo is the sum to about 1e-14):
            the kernels form every decay exp(cs_i − cs_j) as (cs_i − cs_j) + (cs_lo_i − cs_lo_j).
    """
    batch, seqlen, num_heads = dt.shape
    num_chunks = triton.cdiv(seqlen, chunk_size)
    dt_out = new_empty(
        batch, num_heads, num_chunks, chunk_size, dtype=torch.float32, device=dt.device
    )
    cs = new_empty(batch, num_heads, num_chunks, chunk_size, dtype=torch.float32, device=dt.device)
    cs_lo = torch.empty_like(cs)
    block_q = triton.next_power_of_2(chunk_size)

    def grid(meta):
        return (batch, num_chunks, triton.cdiv(num_heads, meta["BLOCK_H"]))

    with device_guard(dt):
        _chunk_cumsum_fwd_kernel[grid](
            dt,
            A,
            dt_bias if dt_bias is not None else A,
            dt_out,
            cs,
            cs_lo,
            seqlen,
            num_heads,
            num_chunks,
            chunk_size,
            HAS_BIAS=dt_bias is not None,
            SOFTPLUS=dt_softplus,
            BLOCK_Q=block_q,
        )
    return dt_out, cs, cs_lo

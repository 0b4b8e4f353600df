"""SSD backward, last step: from the log-decay gradient to dt, A and dt_bias.

Shape legend:
    b  batch     l  sequence length     h  heads     c  chunks     q  chunk length

cs_t = Σ_{k ≤ t} Δ_k A within a chunk. The log-decay shares of backward_dx.py (dcs, reaching
a_k for k ≤ t, and dcs_state, reaching a_k for k > t), the intra-chunk pairs of
backward_pairs.py (already summed per a_k) and the chunk-end term of backward_states.py
(dcs_last, reaching every a_k of the chunk) sum to
    da_k   = Σ_{t ≥ k} dcs_t + Σ_{t < k} dcs_state_t + pairs_k + dcs_last
    dΔ_k   = (x_k · du_k) + da_k A,     dA = Σ_k da_k Δ_k
and through Δ = softplus(dt + dt_bias):  d dt = dΔ · sigmoid(dt + dt_bias)  (1 above 20, where the
forward used the identity). dt_bias's gradient is the sum of d dt over batch and time.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, new_empty


@autotune(
    configs=[triton.Config({"BLOCK_H": bh}, num_warps=4) for bh in (2, 8, 16)],
    key=["num_heads", "chunk_size"],
)
@triton.jit
def _chunk_cumsum_bwd_kernel(
    dt_raw_ptr,  # (b, l, h) contiguous, the forward's dt input
    dt_bias_ptr,  # (h,) or a dummy
    A_ptr,  # (h,)
    dt_ptr,  # (b, h, c, q) fp32 Δ
    ddt_u_ptr,  # (b, h, c, q) fp32 x · du
    dcs_ptr,  # (b, h, c, q) fp32 shares reaching a_k, k ≤ t
    dcs_state_ptr,  # (b, h, c, q) fp32 shares reaching a_k, k > t
    pairs_ptr,  # (b, h, c, q) fp32 intra-chunk pairs' share of a_k
    dcs_last_ptr,  # (b, h, c) fp32 chunk-end term
    ddt_out_ptr,  # (b, l, h) fp32, written
    dA_ptr,  # (b, c, h) fp32 partial sums, written
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
    offs_h = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_q = tl.arange(0, BLOCK_Q)
    offs_t = pid_c * chunk_size + offs_q
    mask_h = offs_h < num_heads
    mask_hq = mask_h[:, None] & (offs_q < chunk_size)[None, :]
    mask_ht = mask_hq & (offs_t < seqlen)[None, :]

    bh = (pid_b * num_heads + offs_h).to(tl.int64)  # (BH,)
    chunk_offs = (bh[:, None] * num_chunks + pid_c) * chunk_size + offs_q[None, :]
    dcs = tl.load(dcs_ptr + chunk_offs, mask=mask_hq, other=0.0)
    dcs_last = tl.load(dcs_last_ptr + bh * num_chunks + pid_c, mask=mask_h, other=0.0)
    # dcs_state one slot on (position t's share counts from t + 1), then a forward cumsum.
    before = tl.load(
        dcs_state_ptr + chunk_offs - 1, mask=mask_hq & (offs_q >= 1)[None, :], other=0.0
    )
    da = tl.cumsum(dcs, axis=1, reverse=True) + tl.cumsum(before, axis=1) + dcs_last[:, None]
    da += tl.load(pairs_ptr + chunk_offs, mask=mask_hq, other=0.0)

    A = tl.load(A_ptr + offs_h, mask=mask_h, other=0.0).to(tl.float32)
    delta = tl.load(dt_ptr + chunk_offs, mask=mask_hq, other=0.0)
    ddelta = tl.load(ddt_u_ptr + chunk_offs, mask=mask_hq, other=0.0) + da * A[:, None]
    ddelta = tl.where(mask_ht, ddelta, 0.0)
    tl.store(
        dA_ptr + (pid_b * num_chunks + pid_c) * num_heads + offs_h,
        tl.sum(da * delta, axis=1),
        mask=mask_h,
    )

    if SOFTPLUS:
        raw_offs = (pid_b.to(tl.int64) * seqlen + offs_t[None, :]) * num_heads + offs_h[:, None]
        raw = tl.load(dt_raw_ptr + raw_offs, mask=mask_ht, other=0.0).to(tl.float32)
        if HAS_BIAS:
            raw += tl.load(dt_bias_ptr + offs_h, mask=mask_h, other=0.0).to(tl.float32)[:, None]
        ddelta *= tl.where(raw <= 20.0, (1.0 / (1.0 + tl.exp(-raw))), 1.0)
    out_offs = (pid_b.to(tl.int64) * seqlen + offs_t[None, :]) * num_heads + offs_h[:, None]
    tl.store(ddt_out_ptr + out_offs, ddelta, mask=mask_ht)


def chunk_cumsum_bwd(
    dt_raw: torch.Tensor,
    dt_bias: torch.Tensor | None,
    dt_softplus: bool,
    A: torch.Tensor,
    dt: torch.Tensor,
    ddt_u: torch.Tensor,
    dcs: torch.Tensor,
    dcs_state: torch.Tensor,
    pairs: torch.Tensor,
    dcs_last: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of dt, A and dt_bias from the per-position parts.

    Args:
        dt_raw: (b, l, h) the forward's dt, contiguous.
        dt_bias: (h,) or None.  dt_softplus: as in the forward.
        A: (h,).
        dt: (b, h, c, q) fp32 Δ.
        ddt_u: (b, h, c, q) fp32 x · du;  dcs, dcs_state, pairs: (b, h, c, q) fp32;
        dcs_last: (b, h, c) fp32.
    Returns:
        ddt (b, l, h) fp32, dA (h,) fp32, ddt_bias (h,) fp32 or None.
    """
    batch, seqlen, num_heads = dt_raw.shape
    num_chunks, chunk_size = dt.shape[2], dt.shape[3]
    ddt = new_empty(batch, seqlen, num_heads, dtype=torch.float32, device=dt.device)
    dA_parts = new_empty(batch, num_chunks, num_heads, dtype=torch.float32, device=dt.device)

    def grid(meta):
        return (batch, num_chunks, triton.cdiv(num_heads, meta["BLOCK_H"]))

    with device_guard(dt):
        _chunk_cumsum_bwd_kernel[grid](
            dt_raw, dt_bias if dt_bias is not None else A, A,
            dt, ddt_u, dcs, dcs_state, pairs, dcs_last, ddt, dA_parts,
            seqlen, num_heads, num_chunks, chunk_size,
            HAS_BIAS=dt_bias is not None,
            SOFTPLUS=dt_softplus,
            BLOCK_Q=triton.next_power_of_2(chunk_size),
        )  # fmt: skip
    ddt_bias = ddt.sum((0, 1)) if dt_bias is not None else None
    return ddt, dA_parts.sum((0, 1)), ddt_bias

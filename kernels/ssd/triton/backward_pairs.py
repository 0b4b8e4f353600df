"""SSD backward: the intra-chunk pairs' share of the log-decay gradient, over exact ranges.

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim     g  groups
    c  chunks    q  chunk length        u  Δ x (the SSM's input)

Inside a chunk, output m reads input j < m through CB_mj exp(cs_m − cs_j) u_j, and the pair's
share of the loss, Z_mj = dy_m · CB_mj exp(cs_m − cs_j) u_j (dy with the gate undone), reaches
the log-decays a_k = Δ_k A for j < k ≤ m. Their gradient is
    P_k = Σ_{m ≥ k} Σ_{j < k} Z_mj,
summed here over exactly that range (kernels/_decay.py has why: a row sum minus a column sum,
equal in exact arithmetic, leaves the rounding of every pair that misses a_k, and was off by
1.6e-4 of dA at strong decay). One program owns BLOCK_M rows m ∈ [m0, m0 + BLOCK_M) of one
chunk and head and forms Z tile by tile:
    columns j < m0    their column sums give P_k for k ≤ m0 (a running prefix sum over j), and
                      their row sums r_m reach every k of the block with k ≤ m;
    columns j ≥ m0    W_mk = Σ_{m0 ≤ j < k} Z_mj, one fp32 product with the 0/1 mask [j < k];
then P_k = Σ_{m ≥ k} (r_m + W_mk) for k in the block. Each program writes its P into its own row
of a partial buffer (no atomics); the rows are summed after the kernel. Apart from the dx kernel
(backward_dx.py) because there the (BLOCK_M × BLOCK_M) sums tipped its registers into spills on
sm_90; here they are nearly all the kernel holds.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, dot_precision, next_pow2


@triton.jit
def intra_weights(
    cb_base, cs_ptr, cs_lo_ptr, dt_ptr, x_ptr, chunk_off, x_base, x_row, t0, seqlen, chunk_size,
    offs_m, mask_m, cs_m, lo_m, offs_j, offs_p, mask_p,
):  # fmt: skip
    """Columns offs_j of the forward's intra-chunk weights CB_mj exp(cs_m − cs_j) Δ_j for j < m
    (0 on and above the diagonal, and in rows past the chunk), fp32 (BM, BK); and x_j (BK, BP)
    in x's dtype."""
    mask_j = offs_j < chunk_size
    cb = tl.load(
        cb_base + offs_m[:, None] * chunk_size + offs_j[None, :],
        mask=mask_m[:, None] & mask_j[None, :],
        other=0.0,
    )  # (BM, BK)
    cs_j = tl.load(cs_ptr + chunk_off + offs_j, mask=mask_j, other=0.0)
    lo_j = tl.load(cs_lo_ptr + chunk_off + offs_j, mask=mask_j, other=0.0)
    dt_j = tl.load(dt_ptr + chunk_off + offs_j, mask=mask_j, other=0.0)
    # Rows past the chunk are out too: their cs_m is a stand-in 0, and exp(0 − cs_j) overflows.
    causal = (offs_m[:, None] > offs_j[None, :]) & mask_j[None, :] & mask_m[:, None]
    seg = (cs_m[:, None] - cs_j[None, :]) + (lo_m[:, None] - lo_j[None, :])
    w = cb * tl.exp(tl.where(causal, seg, float("-inf")))
    x_j = tl.load(
        x_ptr + x_base + offs_j[:, None] * x_row + offs_p[None, :],
        mask=(mask_j & (t0 + offs_j < seqlen))[:, None] & mask_p[None, :],
        other=0.0,
    )  # (BK, BP)
    return w * dt_j[None, :], x_j


@triton.jit
def _pairs(
    cb_base, cs_ptr, cs_lo_ptr, dt_ptr, x_ptr, chunk_off, x_base, x_row, t0, seqlen, chunk_size,
    offs_m, mask_m, cs_m, lo_m, offs_j, offs_p, mask_p, dy_m, DOT_PRECISION: tl.constexpr,
):  # fmt: skip
    """Z_mj = dy_m · CB_mj exp(cs_m − cs_j) Δ_j x_j for the columns offs_j, fp32 (BM, BK)."""
    wdt, x_j = intra_weights(
        cb_base, cs_ptr, cs_lo_ptr, dt_ptr, x_ptr, chunk_off, x_base, x_row, t0, seqlen,
        chunk_size, offs_m, mask_m, cs_m, lo_m, offs_j, offs_p, mask_p,
    )  # fmt: skip
    return wdt * tl.dot(dy_m.to(x_j.dtype), tl.trans(x_j), input_precision=DOT_PRECISION)


@autotune(
    configs=[
        # None of these spills on sm_90 at fp32 or bf16 (benchmarks/triton_compile_check.py);
        # (64, 32) with 2 stages, or 4 warps, and (64, 64) did.
        triton.Config({"BLOCK_M": 32, "BLOCK_K": 32}, num_warps=4, num_stages=2),
        triton.Config({"BLOCK_M": 32, "BLOCK_K": 32}, num_warps=8, num_stages=2),
        triton.Config({"BLOCK_M": 64, "BLOCK_K": 32}, num_warps=8, num_stages=1),
    ],
    key=["headdim", "chunk_size"],
    # The partial sums are laid out by BLOCK_M: clear what a trial config left behind.
    reset_to_zero=["pairs_ptr"],
)
@triton.jit
def _chunk_scan_bwd_pairs_kernel(
    x_ptr,  # (b, l, h, p) contiguous
    dy_ptr,  # (b, l, h, p) contiguous, gradient of the (gated) output
    z_ptr,  # (b, l, h, p) contiguous, or a dummy
    cb_ptr,  # (b, c, g, q, q) fp32
    dt_ptr,  # (b, h, c, q) fp32 Δ
    cs_ptr,  # (b, h, c, q) fp32
    cs_lo_ptr,  # (b, h, c, q) fp32, cs's rounding (chunk_cumsum.py)
    pairs_ptr,  # (b, h, c, max_m_blocks, q) fp32 partial sums P_k per program, zeroed
    seqlen,
    num_heads,
    num_groups,
    headdim,
    num_chunks,
    chunk_size,
    max_m_blocks,
    HAS_Z: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    tl.static_assert(BLOCK_M % BLOCK_K == 0)  # a column tile is before the block or in it
    pid_bch = tl.program_id(0)
    pid_m = tl.program_id(1)
    pid_h = pid_bch % num_heads
    pid_c = (pid_bch // num_heads) % num_chunks
    pid_b = pid_bch // (num_heads * num_chunks)
    pid_g = pid_h // (num_heads // num_groups)

    m0 = pid_m * BLOCK_M
    offs_m = m0 + tl.arange(0, BLOCK_M)
    offs_p = tl.arange(0, BLOCK_P)
    t0 = pid_c * chunk_size
    x_row = num_heads * headdim
    x_base = (pid_b * seqlen + t0).to(tl.int64) * x_row + pid_h * headdim
    chunk_idx = ((pid_b * num_heads + pid_h) * num_chunks + pid_c).to(tl.int64)
    chunk_off = chunk_idx * chunk_size
    cb_base = cb_ptr + (
        ((pid_b * num_chunks + pid_c) * num_groups + pid_g).to(tl.int64) * chunk_size * chunk_size
    )
    pairs_base = pairs_ptr + (chunk_idx * max_m_blocks + pid_m) * chunk_size
    mask_m = offs_m < chunk_size
    mask_p = offs_p < headdim
    cs_m = tl.load(cs_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)
    lo_m = tl.load(cs_lo_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)

    # dy with the gate undone: dy ∘ silu(z).
    io_m = x_base + offs_m[:, None] * x_row + offs_p[None, :]
    mask_io_m = (mask_m & (t0 + offs_m < seqlen))[:, None] & mask_p[None, :]
    dy_m = tl.load(dy_ptr + io_m, mask=mask_io_m, other=0.0).to(tl.float32)
    if HAS_Z:
        z_m = tl.load(z_ptr + io_m, mask=mask_io_m, other=0.0).to(tl.float32)
        dy_m = dy_m * z_m / (1.0 + tl.exp(-z_m))

    r_off = tl.full((BLOCK_M,), 0.0, dtype=tl.float32)  # Σ_{j < m0} Z_mj
    before = tl.full((), 0.0, dtype=tl.float32)  # the column sums of the tiles passed
    for j0 in range(0, m0, BLOCK_K):  # columns before the block: every j < every m
        offs_j = j0 + tl.arange(0, BLOCK_K)
        Z = _pairs(
            cb_base, cs_ptr, cs_lo_ptr, dt_ptr, x_ptr, chunk_off, x_base, x_row, t0, seqlen,
            chunk_size, offs_m, mask_m, cs_m, lo_m, offs_j, offs_p, mask_p, dy_m, DOT_PRECISION,
        )  # fmt: skip
        r_off += tl.sum(Z, axis=1)
        col = tl.sum(Z, axis=0)  # (BK,) Σ_m Z_mj
        # P_k for k in this tile (k < m0 ≤ every m): the column sums of every j < k.
        tl.store(pairs_base + offs_j, before + tl.cumsum(col, axis=0) - col)
        before += tl.sum(col, axis=0)
    W = tl.full((BLOCK_M, BLOCK_M), 0.0, dtype=tl.float32)  # W_mk = Σ_{m0 ≤ j < k} Z_mj
    for j0 in range(m0, tl.minimum(m0 + BLOCK_M, chunk_size), BLOCK_K):  # the block's columns
        offs_j = j0 + tl.arange(0, BLOCK_K)
        Z = _pairs(
            cb_base, cs_ptr, cs_lo_ptr, dt_ptr, x_ptr, chunk_off, x_base, x_row, t0, seqlen,
            chunk_size, offs_m, mask_m, cs_m, lo_m, offs_j, offs_p, mask_p, dy_m, DOT_PRECISION,
        )  # fmt: skip
        reach = (offs_j[:, None] < offs_m[None, :]).to(tl.float32)  # (BK, BM): [j < k]
        W = tl.dot(Z, reach, W, input_precision="ieee")  # 0/1 weights: exact fp32 sums
    # P_k for k in the block: Σ_{m ≥ k} of the pairs (m, j) with j < k.
    V = tl.where(offs_m[:, None] >= offs_m[None, :], r_off[:, None] + W, 0.0)
    tl.store(pairs_base + offs_m, tl.sum(V, axis=0), mask=mask_m)


def chunk_scan_bwd_pairs(
    x: torch.Tensor,
    dy: torch.Tensor,
    z: torch.Tensor | None,
    cb: torch.Tensor,
    dt: torch.Tensor,
    cs: torch.Tensor,
    cs_lo: torch.Tensor,
) -> torch.Tensor:
    """The intra-chunk pairs' share of ∂loss/∂a_k, P_k (see the module docstring).

    Args:
        x, dy: (b, l, h, p) contiguous; z: the same or None.
        cb: (b, c, g, q, q) fp32; dt, cs, cs_lo: (b, h, c, q) fp32.
    Returns:
        (b, h, c, q) fp32.
    """
    batch, seqlen, num_heads, headdim = x.shape
    num_groups = cb.shape[2]
    num_chunks, chunk_size = dt.shape[2], dt.shape[3]
    # Sized for the smallest BLOCK_M among the configs: enough rows for any choice.
    max_m_blocks = triton.cdiv(
        chunk_size, min(c.kwargs["BLOCK_M"] for c in _chunk_scan_bwd_pairs_kernel.all_configs)
    )
    parts = torch.zeros(
        batch, num_heads, num_chunks, max_m_blocks, chunk_size,
        dtype=torch.float32, device=x.device,
    )  # fmt: skip

    def grid(meta):
        return (batch * num_chunks * num_heads, triton.cdiv(chunk_size, meta["BLOCK_M"]))

    with device_guard(x):
        _chunk_scan_bwd_pairs_kernel[grid](
            x, dy, z if z is not None else x, cb, dt, cs, cs_lo, parts,
            seqlen, num_heads, num_groups, headdim, num_chunks, chunk_size, max_m_blocks,
            HAS_Z=z is not None,
            DOT_PRECISION=dot_precision(x.dtype),
            BLOCK_P=next_pow2(headdim),
        )  # fmt: skip
    return parts.sum(3)

"""SSD steps 3–4 (forward): C·Bᵀ per chunk, then each chunk's outputs.

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim     g  groups     n  state size
    c  chunks    q  chunk length        r  heads per group (h / g)

Per head, for position i of chunk c (Dao & Gu 2024, §6, Listing 1; mamba_ssm's `_bmm_chunk_fwd`
and `_chunk_scan_fwd` split the work the same way):
    CB_c      = C_c B_cᵀ                                      (q × q), once per group, not per head
    y_i       = exp(cs_i) C_i · H_{c−1}                                  (carried-in state)
              + Σ_{j ≤ i} CB_ij exp(cs_i − cs_j) Δ_j x_j                 (masked intra-chunk)
              + D x_i,      then  y_i ∘= silu(z_i)
The intra-chunk term is the masked (C Bᵀ ∘ decay) X product: the decay-weighted (BM × BK) block
of CB is formed in fp32, cast to the inputs' dtype and multiplied with x on tensor cores. Blocks
above the diagonal are never visited (the j loop stops at the row block's end); inside the
diagonal blocks, `tl.where` keeps a NaN or inf at position j from reaching outputs before j (see
the kernel's comment). Its cost, compiled for sm_90 by benchmarks/triton_compile_check.py:
in bf16 the same shared memory and registers within ±7% (one variant spills 16 bytes); in
fp32 fewer spilled bytes and up to a third more shared memory. GPU time not yet measured.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, dot_precision, new_empty


@autotune(
    configs=[
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=4, num_stages=3),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=8, num_stages=3),
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64}, num_warps=8, num_stages=2),
    ],
    key=["chunk_size", "d_state"],
)
@triton.jit
def _bmm_cb_kernel(
    C_ptr,  # (b, l, g, n) contiguous
    B_ptr,  # (b, l, g, n) contiguous
    cb_ptr,  # (b, c, g, q, q) fp32, written
    seqlen,
    num_groups,
    d_state,
    num_chunks,
    chunk_size,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid_bcg = tl.program_id(0)
    pid_mn = tl.program_id(1)
    num_n_blocks = (chunk_size + BLOCK_N - 1) // BLOCK_N
    pid_m = pid_mn // num_n_blocks
    pid_n = pid_mn % num_n_blocks
    pid_g = pid_bcg % num_groups
    pid_c = (pid_bcg // num_groups) % num_chunks
    pid_b = pid_bcg // (num_groups * num_chunks)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    t0 = pid_c * chunk_size
    row_stride = num_groups * d_state
    base = (pid_b * seqlen + t0).to(tl.int64) * row_stride + pid_g * d_state
    mask_m = (offs_m < chunk_size) & (t0 + offs_m < seqlen)
    mask_n = (offs_n < chunk_size) & (t0 + offs_n < seqlen)

    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    for k0 in range(0, d_state, BLOCK_K):
        k = k0 + offs_k
        c = tl.load(
            C_ptr + base + offs_m[:, None] * row_stride + k[None, :],
            mask=mask_m[:, None] & (k[None, :] < d_state),
            other=0.0,
        )  # (BM, BK)
        bt = tl.load(
            B_ptr + base + offs_n[None, :] * row_stride + k[:, None],
            mask=mask_n[None, :] & (k[:, None] < d_state),
            other=0.0,
        )  # (BK, BN)
        acc = tl.dot(c, bt, acc, input_precision=DOT_PRECISION)

    out = cb_ptr + pid_bcg.to(tl.int64) * chunk_size * chunk_size
    out += offs_m[:, None] * chunk_size + offs_n[None, :]
    tl.store(out, acc, mask=(offs_m[:, None] < chunk_size) & (offs_n[None, :] < chunk_size))


@autotune(
    configs=[
        triton.Config(
            {"BLOCK_M": 64, "BLOCK_P": 64, "BLOCK_K": 32, "BLOCK_N": 64}, num_warps=8, num_stages=3
        ),
        triton.Config(
            {"BLOCK_M": 64, "BLOCK_P": 32, "BLOCK_K": 64, "BLOCK_N": 64}, num_warps=4, num_stages=3
        ),
        triton.Config(
            {"BLOCK_M": 64, "BLOCK_P": 64, "BLOCK_K": 64, "BLOCK_N": 64}, num_warps=8, num_stages=2
        ),
    ],
    key=["headdim", "d_state", "chunk_size"],
)
@triton.jit
def _chunk_scan_fwd_kernel(
    x_ptr,  # (b, l, h, p) contiguous
    C_ptr,  # (b, l, g, n) contiguous
    cb_ptr,  # (b, c, g, q, q) fp32
    dt_ptr,  # (b, h, c, q) fp32 Δ
    cs_ptr,  # (b, h, c, q) fp32
    cs_lo_ptr,  # (b, h, c, q) fp32, cs's rounding (chunk_cumsum.py)
    states_ptr,  # (b, c, h, p, n) fp32 entering states
    D_ptr,  # (h,) or (h, p), or a dummy
    z_ptr,  # (b, l, h, p) contiguous, or a dummy
    out_ptr,  # (b, l, h, p), written
    seqlen,
    num_heads,
    num_groups,
    headdim,
    d_state,
    num_chunks,
    chunk_size,
    stride_D_h,
    stride_D_p,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_bch = tl.program_id(0)
    pid_mp = tl.program_id(1)
    num_p_blocks = (headdim + BLOCK_P - 1) // BLOCK_P
    pid_m = pid_mp // num_p_blocks
    pid_p = pid_mp % num_p_blocks
    pid_h = pid_bch % num_heads
    pid_c = (pid_bch // num_heads) % num_chunks
    pid_b = pid_bch // (num_heads * num_chunks)
    pid_g = pid_h // (num_heads // num_groups)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    t0 = pid_c * chunk_size
    row0 = (pid_b * seqlen + t0).to(tl.int64)
    x_row = num_heads * headdim
    x_base = row0 * x_row + pid_h * headdim
    C_row = num_groups * d_state
    C_base = C_ptr + row0 * C_row + pid_g * d_state
    chunk_off = ((pid_b * num_heads + pid_h) * num_chunks + pid_c).to(tl.int64) * chunk_size
    mask_m = offs_m < chunk_size
    mask_mt = mask_m & (t0 + offs_m < seqlen)
    mask_p = offs_p < headdim
    cs_m = tl.load(cs_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)  # (BM,)
    lo_m = tl.load(cs_lo_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)

    # Carried-in state: exp(cs_i) · C_i H_{c−1}ᵀ.
    H_base = states_ptr + (
        ((pid_b * num_chunks + pid_c) * num_heads + pid_h).to(tl.int64) * headdim * d_state
    )
    acc = tl.full((BLOCK_M, BLOCK_P), 0.0, dtype=tl.float32)
    for n0 in range(0, d_state, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        c = tl.load(
            C_base + offs_m[:, None] * C_row + offs_n[None, :],
            mask=mask_mt[:, None] & (offs_n[None, :] < d_state),
            other=0.0,
        )  # (BM, BN)
        state_t = tl.load(
            H_base + offs_p[None, :] * d_state + offs_n[:, None],
            mask=mask_p[None, :] & (offs_n[:, None] < d_state),
            other=0.0,
        )  # (BN, BP)
        acc = tl.dot(c, state_t.to(c.dtype), acc, input_precision=DOT_PRECISION)
    acc *= tl.exp(cs_m)[:, None]

    # Intra-chunk: Σ_{j ≤ i} CB_ij exp(cs_i − cs_j) Δ_j x_j, over column blocks up to the diagonal.
    # Causal under NaN: the dot multiplies the zero weights of pairs j > i by x_j, and
    # 0 · NaN = NaN would reach earlier outputs. So the weights are zeroed with `tl.where` (not
    # by the decay alone: CB_ij or Δ_j may be NaN), a non-finite x_j enters the dot as 0, and
    # the rows from the first non-finite x_j of each column on are set to NaN afterwards, as the
    # recurrence makes them (the j loop covers every j ≤ i of this row block).
    cb_base = cb_ptr + (
        ((pid_b * num_chunks + pid_c) * num_groups + pid_g).to(tl.int64) * chunk_size * chunk_size
    )
    j_end = tl.minimum((pid_m + 1) * BLOCK_M, chunk_size)
    first_bad = tl.full((BLOCK_P,), chunk_size, dtype=tl.int32)  # first non-finite x_j per column
    for j0 in range(0, j_end, BLOCK_K):
        offs_j = j0 + tl.arange(0, BLOCK_K)
        mask_j = offs_j < chunk_size
        cb = tl.load(
            cb_base + offs_m[:, None] * chunk_size + offs_j[None, :],
            mask=mask_m[:, None] & mask_j[None, :],
            other=0.0,
        )  # (BM, BK)
        cs_j = tl.load(cs_ptr + chunk_off + offs_j, mask=mask_j, other=0.0)
        lo_j = tl.load(cs_lo_ptr + chunk_off + offs_j, mask=mask_j, other=0.0)
        dt_j = tl.load(dt_ptr + chunk_off + offs_j, mask=mask_j, other=0.0)
        causal = (offs_m[:, None] >= offs_j[None, :]) & mask_j[None, :]
        seg = (cs_m[:, None] - cs_j[None, :]) + (lo_m[:, None] - lo_j[None, :])
        decay = tl.exp(tl.where(causal, seg, float("-inf")))
        x_j = tl.load(
            x_ptr + x_base + offs_j[:, None] * x_row + offs_p[None, :],
            mask=(mask_j & (t0 + offs_j < seqlen))[:, None] & mask_p[None, :],
            other=0.0,
        )  # (BK, BP)
        bad = (x_j != x_j) | (tl.abs(x_j) == float("inf"))  # (BK, BP)
        first_bad = tl.minimum(first_bad, tl.min(tl.where(bad, offs_j[:, None], chunk_size), 0))
        x_j = tl.where(bad, 0.0, x_j)
        w = tl.where(causal, cb * decay * dt_j[None, :], 0.0)
        acc = tl.dot(w.to(x_j.dtype), x_j, acc, input_precision=DOT_PRECISION)
    acc = tl.where(offs_m[:, None] >= first_bad[None, :], float("nan"), acc)

    io_offs = x_base + offs_m[:, None] * x_row + offs_p[None, :]
    io_mask = mask_mt[:, None] & mask_p[None, :]
    if HAS_D:
        x_m = tl.load(x_ptr + io_offs, mask=io_mask, other=0.0).to(tl.float32)
        D = tl.load(D_ptr + pid_h * stride_D_h + offs_p * stride_D_p, mask=mask_p, other=0.0)
        acc += D.to(tl.float32)[None, :] * x_m
    if HAS_Z:
        z = tl.load(z_ptr + io_offs, mask=io_mask, other=0.0).to(tl.float32)
        acc *= z * (1.0 / (1.0 + tl.exp(-z)))
    tl.store(out_ptr + io_offs, acc.to(out_ptr.dtype.element_ty), mask=io_mask)


def bmm_cb_fwd(C: torch.Tensor, B: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """C_c B_cᵀ for every chunk and group.

    Args:
        C, B: (b, l, g, n) contiguous.
        chunk_size: q.
    Returns:
        (b, c, g, q, q) fp32; entry (i, j) is C_i · B_j (rows and columns past l are zero).
    """
    batch, seqlen, num_groups, d_state = C.shape
    num_chunks = triton.cdiv(seqlen, chunk_size)
    cb = new_empty(
        batch, num_chunks, num_groups, chunk_size, chunk_size, dtype=torch.float32, device=C.device
    )

    def grid(meta):
        tiles = triton.cdiv(chunk_size, meta["BLOCK_M"]) * triton.cdiv(chunk_size, meta["BLOCK_N"])
        return (batch * num_chunks * num_groups, tiles)

    with device_guard(C):
        _bmm_cb_kernel[grid](
            C, B, cb, seqlen, num_groups, d_state, num_chunks, chunk_size,
            DOT_PRECISION=dot_precision(C.dtype),
        )  # fmt: skip
    return cb


def chunk_scan_fwd(
    x: torch.Tensor,
    C: torch.Tensor,
    cb: torch.Tensor,
    dt: torch.Tensor,
    cs: torch.Tensor,
    cs_lo: torch.Tensor,
    states: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
) -> torch.Tensor:
    """The SSD output: carried-in state, masked intra-chunk product, D skip and z gate.

    Args:
        x: (b, l, h, p) contiguous.
        C: (b, l, g, n) contiguous.
        cb: (b, c, g, q, q) fp32 from `bmm_cb_fwd`.
        dt, cs, cs_lo: (b, h, c, q) fp32 Δ, cumulative Δ·A and its rounding.
        states: (b, c, h, p, n) fp32 states entering each chunk.
        D: (h,) or (h, p), or None.
        z: (b, l, h, p) contiguous, or None.
    Returns:
        (b, l, h, p) in x's dtype.
    """
    batch, seqlen, num_heads, headdim = x.shape
    num_groups, d_state = C.shape[2], C.shape[3]
    num_chunks, chunk_size = dt.shape[2], dt.shape[3]
    out = new_empty(batch, seqlen, num_heads, headdim, dtype=x.dtype, device=x.device)
    stride_D_h, stride_D_p = (
        (0, 0) if D is None else (D.stride(0), D.stride(1) if D.dim() == 2 else 0)
    )

    def grid(meta):
        tiles = triton.cdiv(chunk_size, meta["BLOCK_M"]) * triton.cdiv(headdim, meta["BLOCK_P"])
        return (batch * num_chunks * num_heads, tiles)

    with device_guard(x):
        _chunk_scan_fwd_kernel[grid](
            x, C, cb, dt, cs, cs_lo, states,
            D if D is not None else x,
            z if z is not None else x,
            out,
            seqlen, num_heads, num_groups, headdim, d_state, num_chunks, chunk_size,
            stride_D_h, stride_D_p,
            HAS_D=D is not None,
            HAS_Z=z is not None,
            DOT_PRECISION=dot_precision(x.dtype),
        )  # fmt: skip
    return out

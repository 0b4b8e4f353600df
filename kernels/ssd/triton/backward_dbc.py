"""SSD backward, group side: dB and dC, summed over the heads that share each group.

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim     g  groups     n  state size
    c  chunks    q  chunk length        r  heads per group (h / g)

With dy = dout ∘ silu(z), H_{c−1} the entering state and dH_end the gradient of the leaving state
(backward_states.py), for one group (Σ_h runs over its r heads):
    dCB_ij = Σ_h (dy_i · x_j) exp(cs_i − cs_j) Δ_j        for j ≤ i, else 0         (q × q)
    dC_i   = Σ_{j ≤ i} dCB_ij B_j  +  Σ_h exp(cs_i) dy_i H_{c−1}
    dB_j   = Σ_{i ≥ j} dCB_ij C_i  +  Σ_h exp(cs_last − cs_j) Δ_j x_j dH_end
dCB is formed once per group (mamba_ssm's `_chunk_scan_bwd_dcb` does the same), then one kernel
produces dB and dC together, sharing the loads of each block's positions.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, dot_precision, new_empty


@autotune(
    configs=[
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_P": 32}, num_warps=8, num_stages=2),
        triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_P": 64}, num_warps=8, num_stages=2),
    ],
    key=["headdim", "chunk_size", "heads_per_group"],
)
@triton.jit
def _chunk_scan_bwd_dcb_kernel(
    x_ptr,  # (b, l, h, p) contiguous
    dy_ptr,  # (b, l, h, p) contiguous
    z_ptr,  # (b, l, h, p) contiguous, or a dummy
    dt_ptr,  # (b, h, c, q) fp32 Δ
    cs_ptr,  # (b, h, c, q) fp32
    cs_lo_ptr,  # (b, h, c, q) fp32, cs's rounding (chunk_cumsum.py)
    dcb_ptr,  # (b, c, g, q, q) fp32, written
    seqlen,
    num_heads,
    num_groups,
    heads_per_group,
    headdim,
    num_chunks,
    chunk_size,
    HAS_Z: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_P: tl.constexpr,
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
    offs_p = tl.arange(0, BLOCK_P)
    t0 = pid_c * chunk_size
    row0 = (pid_b * seqlen + t0).to(tl.int64)
    x_row = num_heads * headdim
    mask_m = offs_m < chunk_size
    mask_n = offs_n < chunk_size
    mask_mt = mask_m & (t0 + offs_m < seqlen)
    mask_nt = mask_n & (t0 + offs_n < seqlen)
    causal = (offs_m[:, None] >= offs_n[None, :]) & mask_n[None, :]

    acc = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    # Blocks strictly above the diagonal stay zero.
    if pid_n * BLOCK_N < (pid_m + 1) * BLOCK_M:
        for hh in range(heads_per_group):
            h = pid_g * heads_per_group + hh
            x_base = row0 * x_row + h * headdim
            chunk_off = ((pid_b * num_heads + h) * num_chunks + pid_c).to(tl.int64) * chunk_size
            dots = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
            for p0 in range(0, headdim, BLOCK_P):
                p = p0 + offs_p
                dy_offs = x_base + offs_m[:, None] * x_row + p[None, :]
                dy_mask = mask_mt[:, None] & (p[None, :] < headdim)
                dy = tl.load(dy_ptr + dy_offs, mask=dy_mask, other=0.0)  # (BM, BP)
                if HAS_Z:
                    z = tl.load(z_ptr + dy_offs, mask=dy_mask, other=0.0).to(tl.float32)
                    dy = (dy.to(tl.float32) * z * (1.0 / (1.0 + tl.exp(-z)))).to(
                        dy_ptr.dtype.element_ty
                    )
                x_t = tl.load(
                    x_ptr + x_base + offs_n[None, :] * x_row + p[:, None],
                    mask=mask_nt[None, :] & (p[:, None] < headdim),
                    other=0.0,
                )  # (BP, BN)
                dots = tl.dot(dy, x_t.to(dy.dtype), dots, input_precision=DOT_PRECISION)
            cs_m = tl.load(cs_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)
            cs_n = tl.load(cs_ptr + chunk_off + offs_n, mask=mask_n, other=0.0)
            lo_m = tl.load(cs_lo_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)
            lo_n = tl.load(cs_lo_ptr + chunk_off + offs_n, mask=mask_n, other=0.0)
            dt_n = tl.load(dt_ptr + chunk_off + offs_n, mask=mask_n, other=0.0)
            seg = (cs_m[:, None] - cs_n[None, :]) + (lo_m[:, None] - lo_n[None, :])
            decay = tl.exp(tl.where(causal, seg, float("-inf")))
            acc += dots * decay * dt_n[None, :]

    out = dcb_ptr + pid_bcg.to(tl.int64) * chunk_size * chunk_size
    out += offs_m[:, None] * chunk_size + offs_n[None, :]
    tl.store(out, acc, mask=mask_m[:, None] & mask_n[None, :])


@autotune(
    configs=[
        triton.Config(
            {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "BLOCK_P": 32}, num_warps=8, num_stages=2
        ),
        triton.Config(
            {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, "BLOCK_P": 32}, num_warps=8, num_stages=2
        ),
    ],
    key=["headdim", "d_state", "chunk_size", "heads_per_group"],
)
@triton.jit
def _ssd_bwd_dbc_kernel(
    x_ptr,  # (b, l, h, p) contiguous
    dy_ptr,  # (b, l, h, p) contiguous
    z_ptr,  # (b, l, h, p) contiguous, or a dummy
    B_ptr,  # (b, l, g, n) contiguous
    C_ptr,  # (b, l, g, n) contiguous
    dcb_ptr,  # (b, c, g, q, q) fp32
    dt_ptr,  # (b, h, c, q) fp32 Δ
    cs_ptr,  # (b, h, c, q) fp32
    cs_lo_ptr,  # (b, h, c, q) fp32, cs's rounding (chunk_cumsum.py)
    states_ptr,  # (b, c, h, p, n) fp32 entering states
    dstates_ptr,  # (b, c, h, p, n) fp32 dH_end
    dB_ptr,  # (b, l, g, n), written
    dC_ptr,  # (b, l, g, n), written
    seqlen,
    num_heads,
    num_groups,
    heads_per_group,
    headdim,
    d_state,
    num_chunks,
    chunk_size,
    HAS_Z: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_P: tl.constexpr,
):
    pid_bcg = tl.program_id(0)
    pid_mn = tl.program_id(1)
    num_n_blocks = (d_state + BLOCK_N - 1) // BLOCK_N
    pid_m = pid_mn // num_n_blocks
    pid_n = pid_mn % num_n_blocks
    pid_g = pid_bcg % num_groups
    pid_c = (pid_bcg // num_groups) % num_chunks
    pid_b = pid_bcg // (num_groups * num_chunks)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_p = tl.arange(0, BLOCK_P)
    t0 = pid_c * chunk_size
    row0 = (pid_b * seqlen + t0).to(tl.int64)
    BC_row = num_groups * d_state
    BC_base = row0 * BC_row + pid_g * d_state
    mask_m = offs_m < chunk_size
    mask_mt = mask_m & (t0 + offs_m < seqlen)
    mask_n = offs_n < d_state
    dcb_base = dcb_ptr + pid_bcg.to(tl.int64) * chunk_size * chunk_size

    # Intra-chunk: dC_m = Σ_{j ≤ m} dCB_mj B_j and dB_m = Σ_{i ≥ m} dCB_im C_i.
    dC = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    dB = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
    j_end = tl.minimum((pid_m + 1) * BLOCK_M, chunk_size)
    for j0 in range(0, j_end, BLOCK_K):
        offs_j = j0 + tl.arange(0, BLOCK_K)
        mask_j = offs_j < chunk_size
        dcb = tl.load(
            dcb_base + offs_m[:, None] * chunk_size + offs_j[None, :],
            mask=mask_m[:, None] & mask_j[None, :],
            other=0.0,
        )  # (BM, BK)
        b_j = tl.load(
            B_ptr + BC_base + offs_j[:, None] * BC_row + offs_n[None, :],
            mask=(mask_j & (t0 + offs_j < seqlen))[:, None] & mask_n[None, :],
            other=0.0,
        )  # (BK, BN)
        dC = tl.dot(dcb.to(b_j.dtype), b_j, dC, input_precision=DOT_PRECISION)
    for i0 in range(pid_m * BLOCK_M, chunk_size, BLOCK_K):
        offs_i = i0 + tl.arange(0, BLOCK_K)
        mask_i = offs_i < chunk_size
        dcb_t = tl.load(
            dcb_base + offs_i[None, :] * chunk_size + offs_m[:, None],
            mask=mask_m[:, None] & mask_i[None, :],
            other=0.0,
        )  # (BM, BK): entry (m, i) is dCB_im
        c_i = tl.load(
            C_ptr + BC_base + offs_i[:, None] * BC_row + offs_n[None, :],
            mask=(mask_i & (t0 + offs_i < seqlen))[:, None] & mask_n[None, :],
            other=0.0,
        )  # (BK, BN)
        dB = tl.dot(dcb_t.to(c_i.dtype), c_i, dB, input_precision=DOT_PRECISION)

    # State terms, head by head: exp(cs_m) dy_m H_{c−1} and exp(cs_last − cs_m) Δ_m x_m dH_end.
    x_row = num_heads * headdim
    for hh in range(heads_per_group):
        h = pid_g * heads_per_group + hh
        x_base = row0 * x_row + h * headdim
        chunk_off = ((pid_b * num_heads + h) * num_chunks + pid_c).to(tl.int64) * chunk_size
        state_off = ((pid_b * num_chunks + pid_c) * num_heads + h).to(tl.int64) * headdim * d_state
        dC_h = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
        dB_h = tl.full((BLOCK_M, BLOCK_N), 0.0, dtype=tl.float32)
        for p0 in range(0, headdim, BLOCK_P):
            p = p0 + offs_p
            io_offs = x_base + offs_m[:, None] * x_row + p[None, :]
            io_mask = mask_mt[:, None] & (p[None, :] < headdim)
            dy = tl.load(dy_ptr + io_offs, mask=io_mask, other=0.0)  # (BM, BP)
            if HAS_Z:
                z = tl.load(z_ptr + io_offs, mask=io_mask, other=0.0).to(tl.float32)
                dy = (dy.to(tl.float32) * z * (1.0 / (1.0 + tl.exp(-z)))).to(
                    dy_ptr.dtype.element_ty
                )
            x = tl.load(x_ptr + io_offs, mask=io_mask, other=0.0)  # (BM, BP)
            st_offs = state_off + p[:, None] * d_state + offs_n[None, :]
            st_mask = (p[:, None] < headdim) & mask_n[None, :]
            state = tl.load(states_ptr + st_offs, mask=st_mask, other=0.0)  # (BP, BN)
            dstate = tl.load(dstates_ptr + st_offs, mask=st_mask, other=0.0)  # (BP, BN)
            dC_h = tl.dot(dy, state.to(dy.dtype), dC_h, input_precision=DOT_PRECISION)
            dB_h = tl.dot(x, dstate.to(x.dtype), dB_h, input_precision=DOT_PRECISION)
        cs_m = tl.load(cs_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)
        dt_m = tl.load(dt_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)
        cs_last = tl.load(cs_ptr + chunk_off + chunk_size - 1)
        lo_m = tl.load(cs_lo_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)
        lo_last = tl.load(cs_lo_ptr + chunk_off + chunk_size - 1)
        dC += dC_h * tl.exp(cs_m)[:, None]
        dB += dB_h * (tl.exp((cs_last - cs_m) + (lo_last - lo_m)) * dt_m)[:, None]

    out_offs = BC_base + offs_m[:, None] * BC_row + offs_n[None, :]
    out_mask = mask_mt[:, None] & mask_n[None, :]
    tl.store(dC_ptr + out_offs, dC.to(dC_ptr.dtype.element_ty), mask=out_mask)
    tl.store(dB_ptr + out_offs, dB.to(dB_ptr.dtype.element_ty), mask=out_mask)


def chunk_scan_bwd_dcb(
    x: torch.Tensor,
    dy: torch.Tensor,
    z: torch.Tensor | None,
    dt: torch.Tensor,
    cs: torch.Tensor,
    cs_lo: torch.Tensor,
    num_groups: int,
) -> torch.Tensor:
    """dCB per chunk and group (lower triangle; zero above the diagonal).

    Args:
        x, dy: (b, l, h, p) contiguous; z: the same or None.
        dt, cs, cs_lo: (b, h, c, q) fp32 Δ, cumulative Δ·A and its rounding.
        num_groups: g.
    Returns:
        (b, c, g, q, q) fp32.
    """
    batch, seqlen, num_heads, headdim = x.shape
    num_chunks, chunk_size = dt.shape[2], dt.shape[3]
    dcb = new_empty(
        batch, num_chunks, num_groups, chunk_size, chunk_size, dtype=torch.float32, device=x.device
    )

    def grid(meta):
        tiles = triton.cdiv(chunk_size, meta["BLOCK_M"]) * triton.cdiv(chunk_size, meta["BLOCK_N"])
        return (batch * num_chunks * num_groups, tiles)

    with device_guard(x):
        _chunk_scan_bwd_dcb_kernel[grid](
            x, dy, z if z is not None else dy, dt, cs, cs_lo, dcb,
            seqlen, num_heads, num_groups, num_heads // num_groups, headdim, num_chunks, chunk_size,
            HAS_Z=z is not None,
            DOT_PRECISION=dot_precision(x.dtype),
        )  # fmt: skip
    return dcb


def ssd_bwd_dbc(
    x: torch.Tensor,
    dy: torch.Tensor,
    z: torch.Tensor | None,
    B: torch.Tensor,
    C: torch.Tensor,
    dcb: torch.Tensor,
    dt: torch.Tensor,
    cs: torch.Tensor,
    cs_lo: torch.Tensor,
    states: torch.Tensor,
    dstates: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """dB and dC, each summed over the heads of its group.

    Args:
        x, dy: (b, l, h, p) contiguous; z: the same or None.
        B, C: (b, l, g, n) contiguous.
        dcb: (b, c, g, q, q) fp32 from `chunk_scan_bwd_dcb`.
        dt, cs, cs_lo: (b, h, c, q) fp32.
        states, dstates: (b, c, h, p, n) fp32 entering states and dH_end.
    Returns:
        dB, dC: (b, l, g, n) in B's and C's dtype.
    """
    batch, seqlen, num_heads, headdim = x.shape
    num_groups, d_state = B.shape[2], B.shape[3]
    num_chunks, chunk_size = dt.shape[2], dt.shape[3]
    dB = new_empty(batch, seqlen, num_groups, d_state, dtype=B.dtype, device=B.device)
    dC = new_empty(batch, seqlen, num_groups, d_state, dtype=C.dtype, device=C.device)

    def grid(meta):
        tiles = triton.cdiv(chunk_size, meta["BLOCK_M"]) * triton.cdiv(d_state, meta["BLOCK_N"])
        return (batch * num_chunks * num_groups, tiles)

    with device_guard(x):
        _ssd_bwd_dbc_kernel[grid](
            x, dy, z if z is not None else dy, B, C, dcb, dt, cs, cs_lo, states, dstates, dB, dC,
            seqlen, num_heads, num_groups, num_heads // num_groups, headdim, d_state,
            num_chunks, chunk_size,
            HAS_Z=z is not None,
            DOT_PRECISION=dot_precision(x.dtype),
        )  # fmt: skip
    return dB, dC

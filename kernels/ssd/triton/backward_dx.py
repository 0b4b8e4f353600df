"""SSD backward, per position: dx, dz, D's gradient and the gradient of the log-decays, fused.

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim     g  groups     n  state size
    c  chunks    q  chunk length        u  Δ x (the SSM's input)

One program owns BLOCK_M positions of one chunk and head, over the whole head dim p. With
dy = dout ∘ silu(z) (the gate undone), dH_end the gradient of the state leaving the chunk and
H_{c−1} the state entering it (backward_states.py):
    du_j = exp(cs_last − cs_j) B_j dH_endᵀ                        (through the chunk state)
         + Σ_{i ≥ j} CB_ij exp(cs_i − cs_j) dy_i                   (through the intra-chunk term)
    dx_j = Δ_j du_j + D dy_j,      ∂loss/∂Δ_j (via u) = x_j · du_j,     dD += dy_j x_j
The log-decays enter every term as exp(cs_target − cs_source), and their gradient is summed per
term over exactly the positions a_k = Δ_k A it depends on (kernels/_decay.py; the identity
∂loss/∂cs_i = dy_i · y_i − u_i · du_i added and subtracted O(1) terms and lost dA where decay is
strong). Per row m:
    z_entering_m = dy_m · exp(cs_m) C_m H_{c−1}ᵀ           reaches a_k for k ≤ m
    z_state_m    = u_m · exp(cs_last − cs_m) B_m dH_endᵀ      reaches a_k for k > m
written as dcs = z_entering and dcs_state = z_state for backward_dt.py. The intra-chunk pairs
(output m reading input j < m), which reach a_k for j < k ≤ m, are summed over those ranges by
backward_pairs.py. This kernel recomputes y_m (the forward's own work) in fp32 rather than saving
it, which also yields dz = dout ∘ (y_m + D x_m) ∘ silu'(z) without storing the pre-gate output.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, dot_precision, new_empty, next_pow2
from .backward_pairs import intra_weights


@autotune(
    configs=[
        triton.Config({"BLOCK_M": 32, "BLOCK_K": 32, "BLOCK_N": 32}, num_warps=8, num_stages=2),
        triton.Config({"BLOCK_M": 64, "BLOCK_K": 32, "BLOCK_N": 32}, num_warps=8, num_stages=2),
        triton.Config({"BLOCK_M": 64, "BLOCK_K": 64, "BLOCK_N": 32}, num_warps=8, num_stages=2),
    ],
    key=["headdim", "d_state", "chunk_size"],
    # dD's partial sums are laid out by BLOCK_M: clear what a trial config left behind.
    reset_to_zero=["dD_ptr"],
)
@triton.jit
def _chunk_scan_bwd_dx_kernel(
    x_ptr,  # (b, l, h, p) contiguous
    dy_ptr,  # (b, l, h, p) contiguous, gradient of the (gated) output
    z_ptr,  # (b, l, h, p) contiguous, or a dummy
    D_ptr,  # (h,) or (h, p), or a dummy
    B_ptr,  # (b, l, g, n) contiguous
    C_ptr,  # (b, l, g, n) contiguous
    cb_ptr,  # (b, c, g, q, q) fp32
    dt_ptr,  # (b, h, c, q) fp32 Δ
    cs_ptr,  # (b, h, c, q) fp32
    cs_lo_ptr,  # (b, h, c, q) fp32, cs's rounding (chunk_cumsum.py)
    states_ptr,  # (b, c, h, p, n) fp32 entering states
    dstates_ptr,  # (b, c, h, p, n) fp32 dH_end
    dx_ptr,  # (b, l, h, p), written
    dz_ptr,  # (b, l, h, p), written when HAS_Z
    ddt_ptr,  # (b, h, c, q) fp32 x · du, written
    dcs_ptr,  # (b, h, c, q) fp32 z_entering, reaching a_k for k ≤ m, written
    dcs_state_ptr,  # (b, h, c, q) fp32 u · du through the chunk state (a_k, k > m), written
    dD_ptr,  # (b · c · ⌈q / BLOCK_M⌉, h, BLOCK_P) fp32 partial sums, written when HAS_D
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
    BLOCK_P: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_bch = tl.program_id(0)
    pid_m = tl.program_id(1)
    pid_h = pid_bch % num_heads
    pid_c = (pid_bch // num_heads) % num_chunks
    pid_b = pid_bch // (num_heads * num_chunks)
    pid_g = pid_h // (num_heads // num_groups)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_p = tl.arange(0, BLOCK_P)
    t0 = pid_c * chunk_size
    row0 = (pid_b * seqlen + t0).to(tl.int64)
    x_row = num_heads * headdim
    x_base = row0 * x_row + pid_h * headdim
    BC_row = num_groups * d_state
    BC_base = row0 * BC_row + pid_g * d_state
    chunk_off = ((pid_b * num_heads + pid_h) * num_chunks + pid_c).to(tl.int64) * chunk_size
    state_off = ((pid_b * num_chunks + pid_c) * num_heads + pid_h).to(tl.int64) * headdim * d_state
    cb_base = cb_ptr + (
        ((pid_b * num_chunks + pid_c) * num_groups + pid_g).to(tl.int64) * chunk_size * chunk_size
    )
    mask_m = offs_m < chunk_size
    mask_mt = mask_m & (t0 + offs_m < seqlen)
    mask_p = offs_p < headdim
    cs_m = tl.load(cs_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)  # (BM,)
    lo_m = tl.load(cs_lo_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)
    dt_m = tl.load(dt_ptr + chunk_off + offs_m, mask=mask_m, other=0.0)  # (BM,)
    cs_last = tl.load(cs_ptr + chunk_off + chunk_size - 1)
    lo_last = tl.load(cs_lo_ptr + chunk_off + chunk_size - 1)

    # This block's rows: x, and dy with the gate undone (dy ∘ silu(z)), which every term reads.
    io_m = x_base + offs_m[:, None] * x_row + offs_p[None, :]
    mask_io_m = mask_mt[:, None] & mask_p[None, :]
    x_m = tl.load(x_ptr + io_m, mask=mask_io_m, other=0.0).to(tl.float32)
    dout_m = tl.load(dy_ptr + io_m, mask=mask_io_m, other=0.0).to(tl.float32)
    dy_m = dout_m
    if HAS_Z:
        z_m = tl.load(z_ptr + io_m, mask=mask_io_m, other=0.0).to(tl.float32)
        sig = 1.0 / (1.0 + tl.exp(-z_m))
        dy_m = dout_m * z_m * sig

    # State terms, one pass over n: y = exp(cs_m) C_m H_{c−1}ᵀ and
    # du = exp(cs_last − cs_m) B_m dH_endᵀ.
    y_state = tl.full((BLOCK_M, BLOCK_P), 0.0, dtype=tl.float32)
    du_state = tl.full((BLOCK_M, BLOCK_P), 0.0, dtype=tl.float32)
    for n0 in range(0, d_state, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        bc_offs = BC_base + offs_m[:, None] * BC_row + offs_n[None, :]
        bc_mask = mask_mt[:, None] & (offs_n[None, :] < d_state)
        c = tl.load(C_ptr + bc_offs, mask=bc_mask, other=0.0)  # (BM, BN)
        b = tl.load(B_ptr + bc_offs, mask=bc_mask, other=0.0)  # (BM, BN)
        st_offs = state_off + offs_p[None, :] * d_state + offs_n[:, None]
        st_mask = mask_p[None, :] & (offs_n[:, None] < d_state)
        state_t = tl.load(states_ptr + st_offs, mask=st_mask, other=0.0)  # (BN, BP)
        dstate_t = tl.load(dstates_ptr + st_offs, mask=st_mask, other=0.0)  # (BN, BP)
        y_state = tl.dot(c, state_t.to(c.dtype), y_state, input_precision=DOT_PRECISION)
        du_state = tl.dot(b, dstate_t.to(b.dtype), du_state, input_precision=DOT_PRECISION)
    y_state *= tl.exp(cs_m)[:, None]
    du_state *= tl.exp((cs_last - cs_m) + (lo_last - lo_m))[:, None]
    z_state = dt_m * tl.sum(x_m * du_state, axis=1)  # (BM,) reaches a_k for k > m

    # du += Σ_{i > m} CB_im exp(cs_i − cs_m) dy_i: the transposed intra-chunk product, strictly
    # below the diagonal (the diagonal, exp(0), is added below and carries no decay gradient).
    du = tl.full((BLOCK_M, BLOCK_P), 0.0, dtype=tl.float32)
    for i0 in range(pid_m * BLOCK_M, chunk_size, BLOCK_K):
        offs_i = i0 + tl.arange(0, BLOCK_K)
        mask_i = offs_i < chunk_size
        cb_t = tl.load(
            cb_base + offs_i[None, :] * chunk_size + offs_m[:, None],
            mask=mask_m[:, None] & mask_i[None, :],
            other=0.0,
        )  # (BM, BK): entry (m, i) is CB_im
        cs_i = tl.load(cs_ptr + chunk_off + offs_i, mask=mask_i, other=0.0)
        lo_i = tl.load(cs_lo_ptr + chunk_off + offs_i, mask=mask_i, other=0.0)
        causal = (offs_i[None, :] > offs_m[:, None]) & mask_i[None, :]
        seg = (cs_i[None, :] - cs_m[:, None]) + (lo_i[None, :] - lo_m[:, None])
        w = cb_t * tl.exp(tl.where(causal, seg, float("-inf")))
        io_i = x_base + offs_i[:, None] * x_row + offs_p[None, :]
        mask_io_i = (mask_i & (t0 + offs_i < seqlen))[:, None] & mask_p[None, :]
        dy_i = tl.load(dy_ptr + io_i, mask=mask_io_i, other=0.0)  # (BK, BP)
        if HAS_Z:
            z_i = tl.load(z_ptr + io_i, mask=mask_io_i, other=0.0).to(tl.float32)
            dy_i = (dy_i.to(tl.float32) * z_i * (1.0 / (1.0 + tl.exp(-z_i)))).to(
                dy_ptr.dtype.element_ty
            )
        du = tl.dot(w.to(dy_i.dtype), dy_i, du, input_precision=DOT_PRECISION)

    # y += Σ_{j < m} CB_mj exp(cs_m − cs_j) Δ_j x_j: the forward's intra-chunk product, again,
    # strictly below the diagonal.
    y = tl.full((BLOCK_M, BLOCK_P), 0.0, dtype=tl.float32)
    j_end = tl.minimum((pid_m + 1) * BLOCK_M, chunk_size)
    for j0 in range(0, j_end, BLOCK_K):
        wdt, x_j = intra_weights(
            cb_base, cs_ptr, cs_lo_ptr, dt_ptr, x_ptr, chunk_off, x_base, x_row, t0, seqlen,
            chunk_size, offs_m, mask_m, cs_m, lo_m, j0 + tl.arange(0, BLOCK_K), offs_p, mask_p,
        )  # fmt: skip
        y = tl.dot(wdt.to(x_j.dtype), x_j, y, input_precision=DOT_PRECISION)

    # The diagonal (CB_mm, no decay), then the totals.
    cb_mm = tl.load(cb_base + offs_m * (chunk_size + 1), mask=mask_m, other=0.0)  # (BM,)
    y += y_state + (cb_mm * dt_m)[:, None] * x_m
    du += du_state + cb_mm[:, None] * dy_m
    if HAS_D:
        D = tl.load(D_ptr + pid_h * stride_D_h + offs_p * stride_D_p, mask=mask_p, other=0.0)
        D = D.to(tl.float32)[None, :]
    if HAS_Z:
        y_pre = y
        if HAS_D:
            y_pre = y + D * x_m
        dz = dout_m * y_pre * sig * (1.0 + z_m * (1.0 - sig))
        tl.store(dz_ptr + io_m, dz.to(dz_ptr.dtype.element_ty), mask=mask_io_m)

    tl.store(ddt_ptr + chunk_off + offs_m, tl.sum(x_m * du, axis=1), mask=mask_m)
    z_entering = tl.sum(dy_m * y_state, axis=1)  # (BM,) reaches a_k for k ≤ m
    tl.store(dcs_ptr + chunk_off + offs_m, z_entering, mask=mask_m)
    tl.store(dcs_state_ptr + chunk_off + offs_m, z_state, mask=mask_m)
    dx = dt_m[:, None] * du
    if HAS_D:
        dx += D * dy_m
        dD_off = ((pid_bch // num_heads) * tl.num_programs(1) + pid_m) * num_heads + pid_h
        tl.store(dD_ptr + dD_off.to(tl.int64) * BLOCK_P + offs_p, tl.sum(dy_m * x_m, axis=0))
    tl.store(dx_ptr + io_m, dx.to(dx_ptr.dtype.element_ty), mask=mask_io_m)


def chunk_scan_bwd_dx(
    x: torch.Tensor,
    dy: torch.Tensor,
    z: torch.Tensor | None,
    D: torch.Tensor | None,
    B: torch.Tensor,
    C: torch.Tensor,
    cb: torch.Tensor,
    dt: torch.Tensor,
    cs: torch.Tensor,
    cs_lo: torch.Tensor,
    states: torch.Tensor,
    dstates: torch.Tensor,
):
    """dx, dz, dD and the per-position parts of the Δ and log-decay gradients.

    Args:
        x, dy: (b, l, h, p) contiguous; z: the same or None.
        D: (h,) or (h, p), or None.
        B, C: (b, l, g, n) contiguous.
        cb: (b, c, g, q, q) fp32; dt, cs, cs_lo: (b, h, c, q) fp32.
        states, dstates: (b, c, h, p, n) fp32 entering states and dH_end.
    Returns:
        dx (b, l, h, p) x's dtype; dz (b, l, h, p) z's dtype or None;
        ddt (b, h, c, q) fp32 (x · du); dcs and dcs_state (b, h, c, q) fp32, the log-decay
        shares for `backward_dt.chunk_cumsum_bwd` (see the module docstring);
        dD like D (fp32) or None.
    """
    batch, seqlen, num_heads, headdim = x.shape
    num_groups, d_state = B.shape[2], B.shape[3]
    num_chunks, chunk_size = dt.shape[2], dt.shape[3]
    block_p = next_pow2(headdim)
    dev = x.device
    dx = new_empty(batch, seqlen, num_heads, headdim, dtype=x.dtype, device=dev)
    dz = (
        new_empty(batch, seqlen, num_heads, headdim, dtype=z.dtype, device=dev)
        if z is not None
        else None
    )
    ddt = new_empty(batch, num_heads, num_chunks, chunk_size, dtype=torch.float32, device=dev)
    dcs = new_empty(batch, num_heads, num_chunks, chunk_size, dtype=torch.float32, device=dev)
    dcs_state = torch.empty_like(dcs)
    # Sized for the smallest BLOCK_M among the configs: enough rows for any choice.
    max_m_blocks = triton.cdiv(
        chunk_size, min(c.kwargs["BLOCK_M"] for c in _chunk_scan_bwd_dx_kernel.all_configs)
    )
    dD_parts = (
        torch.zeros(
            batch * num_chunks * max_m_blocks, num_heads, block_p, dtype=torch.float32, device=dev
        )
        if D is not None
        else None
    )
    stride_D_h, stride_D_p = (
        (0, 0) if D is None else (D.stride(0), D.stride(1) if D.dim() == 2 else 0)
    )

    def grid(meta):
        return (batch * num_chunks * num_heads, triton.cdiv(chunk_size, meta["BLOCK_M"]))

    with device_guard(x):
        _chunk_scan_bwd_dx_kernel[grid](
            x, dy,
            z if z is not None else x,
            D if D is not None else x,
            B, C, cb, dt, cs, cs_lo, states, dstates,
            dx,
            dz if dz is not None else dx,
            ddt, dcs, dcs_state,
            dD_parts if dD_parts is not None else ddt,
            seqlen, num_heads, num_groups, headdim, d_state, num_chunks, chunk_size,
            stride_D_h, stride_D_p,
            HAS_D=D is not None,
            HAS_Z=z is not None,
            DOT_PRECISION=dot_precision(x.dtype),
            BLOCK_P=block_p,
        )  # fmt: skip
    dD = None
    if D is not None:
        dD = dD_parts.sum(0)[:, :headdim]  # (h, p)
        if D.dim() == 1:
            dD = dD.sum(-1)
    return dx, dz, ddt, dcs, dcs_state, dD

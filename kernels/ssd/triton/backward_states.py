"""SSD backward, state side: gradients of the states entering and leaving each chunk.

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim     g  groups     n  state size
    c  chunks    q  chunk length        k  blocks of the flattened (p · n) state

Notation as in the forward files: dy are gradients of the outputs after the z gate is undone
(dy ∘ silu(z)), H_{c−1} the state entering chunk c, H_c the state leaving it.
    1. Through the carried-in output term y_i ∋ exp(cs_i) C_i H_{c−1}:
           dH_off_c = Σ_i exp(cs_i) dy_i C_iᵀ                              (p × n per chunk)
    2. Through the state passing H_c = exp(cs_last) H_{c−1} + S_c, reversed over chunks:
           dH_end_c  = gradient of H_c      (dH_end_last = gradient of the final state)
           dH_end_{c−1} = dH_off_c + exp(cs_last(c)) dH_end_c,   d initial state = the same at c = 0
       and, through the decay of the carried state (which reaches every a_k of chunk c),
           exp(cs_last(c)) ⟨dH_end_c, H_{c−1}⟩
       summed per block of the state here and finished in `backward_dt.py` (the chunk state S_c's
       own share is backward_dx.py's z_state).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, dot_precision, new_empty


@autotune(
    configs=[
        triton.Config({"BLOCK_P": 64, "BLOCK_N": 64, "BLOCK_Q": 64}, num_warps=8, num_stages=3),
        triton.Config({"BLOCK_P": 64, "BLOCK_N": 64, "BLOCK_Q": 64}, num_warps=4, num_stages=1),
    ],
    key=["headdim", "d_state", "chunk_size"],
)
@triton.jit
def _chunk_scan_bwd_dstates_kernel(
    dy_ptr,  # (b, l, h, p) contiguous
    z_ptr,  # (b, l, h, p) contiguous, or a dummy
    C_ptr,  # (b, l, g, n) contiguous
    cs_ptr,  # (b, h, c, q) fp32
    dstates_ptr,  # (b, c, h, p, n) fp32, written
    seqlen,
    num_heads,
    num_groups,
    headdim,
    d_state,
    num_chunks,
    chunk_size,
    HAS_Z: tl.constexpr,
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
    y_row = num_heads * headdim
    y_base = row0 * y_row + pid_h * headdim
    C_row = num_groups * d_state
    C_base = C_ptr + row0 * C_row + pid_g * d_state
    chunk_off = ((pid_b * num_heads + pid_h) * num_chunks + pid_c).to(tl.int64) * chunk_size

    acc = tl.full((BLOCK_P, BLOCK_N), 0.0, dtype=tl.float32)
    for q0 in range(0, chunk_size, BLOCK_Q):
        q = q0 + offs_q
        mask_q = (q < chunk_size) & (t0 + q < seqlen)
        yt_offs = y_base + q[None, :] * y_row + offs_p[:, None]
        yt_mask = (offs_p[:, None] < headdim) & mask_q[None, :]
        dy_t = tl.load(dy_ptr + yt_offs, mask=yt_mask, other=0.0)  # (BP, BQ)
        if HAS_Z:
            z_t = tl.load(z_ptr + yt_offs, mask=yt_mask, other=0.0).to(tl.float32)
            dy_t = (dy_t.to(tl.float32) * z_t * (1.0 / (1.0 + tl.exp(-z_t)))).to(
                dy_ptr.dtype.element_ty
            )
        c = tl.load(
            C_base + q[:, None] * C_row + offs_n[None, :],
            mask=mask_q[:, None] & (offs_n[None, :] < d_state),
            other=0.0,
        ).to(tl.float32)  # (BQ, BN)
        cs = tl.load(cs_ptr + chunk_off + q, mask=mask_q, other=0.0)
        acc = tl.dot(
            dy_t, (c * tl.exp(cs)[:, None]).to(dy_t.dtype), acc, input_precision=DOT_PRECISION
        )

    out = dstates_ptr + (
        ((pid_b * num_chunks + pid_c) * num_heads + pid_h).to(tl.int64) * headdim * d_state
    )
    out += offs_p[:, None] * d_state + offs_n[None, :]
    tl.store(out, acc, mask=(offs_p[:, None] < headdim) & (offs_n[None, :] < d_state))


@triton.jit
def _state_passing_bwd_kernel(
    dstates_ptr,  # (b, c, h, p·n) fp32: dH_off in, dH_end out (in place)
    states_ptr,  # (b, c, h, p·n) fp32 entering states
    dfinal_ptr,  # (b, h, p·n) gradient of the final state, or a dummy
    cs_ptr,  # (b, h, c, q) fp32
    dinit_ptr,  # (b, h, p·n) fp32, written
    dcs_last_ptr,  # (b, h, c, k) fp32 partial exp(cs_last) ⟨dH_end_c, H_{c−1}⟩, written
    num_heads,
    num_chunks,
    chunk_size,
    state_numel,
    HAS_DFINAL: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid_bh = tl.program_id(0)
    pid_k = tl.program_id(1)
    num_k = tl.num_programs(1)
    pid_b = pid_bh // num_heads
    pid_h = pid_bh % num_heads
    offs = pid_k * BLOCK + tl.arange(0, BLOCK)
    mask = offs < state_numel

    bh_off = pid_bh.to(tl.int64) * state_numel
    if HAS_DFINAL:
        dstate = tl.load(dfinal_ptr + bh_off + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        dstate = tl.full((BLOCK,), 0.0, dtype=tl.float32)
    chunk_stride = num_heads * state_numel
    last = num_chunks - 1
    chunk0 = (pid_b.to(tl.int64) * num_chunks * num_heads + pid_h) * state_numel + offs
    d_ptrs = dstates_ptr + chunk0 + last * chunk_stride
    s_ptrs = states_ptr + chunk0 + last * chunk_stride
    cs_last_ptr = cs_ptr + (pid_bh.to(tl.int64) * num_chunks + last) * chunk_size + chunk_size - 1
    part_ptr = dcs_last_ptr + (pid_bh.to(tl.int64) * num_chunks + last) * num_k + pid_k
    for _ in range(num_chunks):
        state_entering = tl.load(s_ptrs, mask=mask, other=0.0)
        decay = tl.exp(tl.load(cs_last_ptr))
        tl.store(part_ptr, decay * tl.sum(dstate * state_entering, axis=0))
        d_off = tl.load(d_ptrs, mask=mask, other=0.0)
        tl.store(d_ptrs, dstate, mask=mask)
        dstate = d_off + decay * dstate
        d_ptrs -= chunk_stride
        s_ptrs -= chunk_stride
        cs_last_ptr -= chunk_size
        part_ptr -= num_k
    tl.store(dinit_ptr + bh_off + offs, dstate, mask=mask)


def chunk_scan_bwd_dstates(
    dy: torch.Tensor, z: torch.Tensor | None, C: torch.Tensor, cs: torch.Tensor, headdim: int
) -> torch.Tensor:
    """dH_off_c = Σ_i exp(cs_i) dy_i C_iᵀ per chunk and head (dy gated by silu(z) if z).

    Args:
        dy: (b, l, h, p) gradient of the output, contiguous.
        z: (b, l, h, p) gate, or None.
        C: (b, l, g, n) contiguous.
        cs: (b, h, c, q) fp32 cumulative Δ·A.
        headdim: p.
    Returns:
        (b, c, h, p, n) fp32.
    """
    batch, seqlen, num_heads, _ = dy.shape
    num_groups, d_state = C.shape[2], C.shape[3]
    num_chunks, chunk_size = cs.shape[2], cs.shape[3]
    dstates = new_empty(
        batch, num_chunks, num_heads, headdim, d_state, dtype=torch.float32, device=dy.device
    )

    def grid(meta):
        tiles = triton.cdiv(headdim, meta["BLOCK_P"]) * triton.cdiv(d_state, meta["BLOCK_N"])
        return (batch * num_chunks * num_heads, tiles)

    with device_guard(dy):
        _chunk_scan_bwd_dstates_kernel[grid](
            dy, z if z is not None else dy, C, cs, dstates,
            seqlen, num_heads, num_groups, headdim, d_state, num_chunks, chunk_size,
            HAS_Z=z is not None,
            DOT_PRECISION=dot_precision(dy.dtype),
        )  # fmt: skip
    return dstates


def state_passing_bwd(
    dstates: torch.Tensor,
    states: torch.Tensor,
    dfinal: torch.Tensor | None,
    cs: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reverse state passing. Overwrites `dstates` (dH_off) with dH_end, the gradient of the
    state leaving each chunk (in place: no autotuning, see state_passing.py).

    Args:
        dstates: (b, c, h, p, n) fp32 dH_off from `chunk_scan_bwd_dstates`.
        states: (b, c, h, p, n) fp32 states entering each chunk.
        dfinal: (b, h, p, n) gradient of the final state, or None.
        cs: (b, h, c, q) fp32 cumulative Δ·A.
    Returns:
        dinit: (b, h, p, n) fp32 gradient of the initial state.
        dcs_last: (b, h, c) fp32 ⟨dH_end_c, H_c⟩, the chunk-end term of ∂loss/∂cs.
    """
    batch, num_chunks, num_heads, headdim, d_state = dstates.shape
    chunk_size = cs.shape[-1]
    state_numel = headdim * d_state
    block = min(1024, triton.next_power_of_2(state_numel))
    num_blocks = triton.cdiv(state_numel, block)
    dinit = new_empty(
        batch, num_heads, headdim, d_state, dtype=torch.float32, device=dstates.device
    )
    parts = new_empty(
        batch, num_heads, num_chunks, num_blocks, dtype=torch.float32, device=dstates.device
    )
    dfinal = dfinal.contiguous() if dfinal is not None else None
    with device_guard(dstates):
        _state_passing_bwd_kernel[(batch * num_heads, num_blocks)](
            dstates, states,
            dfinal if dfinal is not None else states,
            cs, dinit, parts,
            num_heads, num_chunks, chunk_size, state_numel,
            HAS_DFINAL=dfinal is not None,
            BLOCK=block,
            num_warps=4,
        )  # fmt: skip
    return dinit, parts.sum(-1)

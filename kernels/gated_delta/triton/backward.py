"""Gated delta rule backward in Triton: the recurrence in reverse, one program per (batch, head,
dv block), recomputing each stretch's states from the forward's checkpoints.

Shape legend:
    b  batch     l  sequence length     h  heads     dk  key dim     dv  value dim
    c  checkpoints     s  stretch (positions per checkpoint, c·s ≥ l)     nv  dv blocks (⌈dv / BV⌉)
    BK  dk padded to a power of two      BV  a block of dv

Adjoint of one step (forward.py), with S_a = exp(g) S_{t−1}, r = v − S_aᵀ k, S_t = S_a + β k rᵀ and
dS the gradient of S_t (the gradient arriving from later steps, plus the output's):
    dS  += (scale q) doᵀ                       dq = scale · S_t do
    dv   = dr = β dSᵀ k                        dβ = kᵀ dS r
    dk   = β dS r − S_a dr                     dS_a = dS − k drᵀ
    dg   = ⟨dS_a, S_a⟩                         dS_{t−1} = exp(g) dS_a
dv is exact per block; dq, dk, dβ and dg sum over the dv columns, so each program writes its
block's share (the caller sums the nv shares). Per stretch of s positions, walked from
the last: reload the checkpointed state, replay the stretch forward storing the state entering
each position in a per-program scratch buffer, then run the adjoint backward through it. A
barrier separates writing the scratch from reading it (different threads of the program touch
the same addresses).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def gated_delta_bwd_kernel(
    q_ptr,  # (b, l, h, dk) contiguous
    k_ptr,  # (b, l, h, dk) contiguous
    v_ptr,  # (b, l, h, dv) contiguous
    g_ptr,  # (b, l, h) contiguous
    beta_ptr,  # (b, l, h) contiguous
    ckpt_ptr,  # (b, h, c, dk, dv) fp32, the state entering each stretch
    do_ptr,  # (b, l, h, dv) contiguous
    dfinal_ptr,  # (b, h, dk, dv) contiguous, or a dummy
    scratch_ptr,  # (nv, b, h, s, BK, BV) fp32, overwritten
    dq_ptr,  # (nv, b, l, h, dk) fp32 shares, written
    dk_ptr,  # (nv, b, l, h, dk) fp32 shares, written
    dv_ptr,  # (b, l, h, dv) fp32, written
    dg_ptr,  # (nv, b, l, h) fp32 shares, written
    dbeta_ptr,  # (nv, b, l, h) fp32 shares, written
    dh0_ptr,  # (b, h, dk, dv) fp32, written
    scale,
    seqlen,
    batch,
    num_heads,
    dk,
    dv,
    num_ckpt,
    stretch,
    HAS_DFINAL: tl.constexpr,
    BK: tl.constexpr,
    BV: tl.constexpr,
):
    pid_v = tl.program_id(0)
    pid_bh = tl.program_id(1)
    pid_b = pid_bh // num_heads
    pid_h = pid_bh % num_heads
    offs_k = tl.arange(0, BK)
    offs_v = pid_v * BV + tl.arange(0, BV)
    mask_k = offs_k < dk
    mask_v = offs_v < dv
    mask_kv = mask_k[:, None] & mask_v[None, :]
    # Scalars per position (g, β and the time mask) are (1,) blocks: the interpreter refuses
    # a block mask on a scalar pointer, and a Python bool as a mask.
    one = tl.zeros([1], dtype=tl.int32)
    state_offs = pid_bh.to(tl.int64) * dk * dv + offs_k[:, None] * dv + offs_v[None, :]
    tile = offs_k[:, None] * BV + tl.arange(0, BV)[None, :]
    scratch_base = scratch_ptr + (pid_v * batch * num_heads + pid_bh).to(tl.int64) * (
        stretch * BK * BV
    )
    # Shares of the reduced gradients: (nv, b, l, h, ·), this program's dv block first.
    share = pid_v.to(tl.int64) * batch * seqlen * num_heads

    dS = tl.zeros((BK, BV), dtype=tl.float32)
    if HAS_DFINAL:
        dS = tl.load(dfinal_ptr + state_offs, mask=mask_kv, other=0.0).to(tl.float32)
    for cr in range(num_ckpt):
        ci = num_ckpt - 1 - cr
        ckpt_offs = (pid_bh.to(tl.int64) * num_ckpt + ci) * dk * dv
        S = tl.load(ckpt_ptr + ckpt_offs + offs_k[:, None] * dv + offs_v[None, :], mask=mask_kv,
                    other=0.0)  # fmt: skip
        # Replay the stretch: the state entering position t goes to scratch[t - stretch start].
        for tt in range(stretch):
            t = ci * stretch + tt
            live = (one + t) < seqlen  # (1,), so that it is a tensor in both modes
            row = (pid_b.to(tl.int64) * seqlen + t) * num_heads + pid_h
            tl.store(scratch_base + tt * BK * BV + tile, S)
            k_t = tl.load(k_ptr + row * dk + offs_k, mask=mask_k & live, other=0.0).to(tl.float32)
            v_t = tl.load(v_ptr + row * dv + offs_v, mask=mask_v & live, other=0.0).to(tl.float32)
            g_t = tl.load(g_ptr + row + one, mask=live, other=0.0).to(tl.float32)
            beta_t = tl.load(beta_ptr + row + one, mask=live, other=0.0).to(tl.float32)
            S = S * tl.exp(g_t)
            r = v_t - tl.sum(S * k_t[:, None], axis=0)
            S = S + (beta_t * k_t)[:, None] * r[None, :]
        tl.debug_barrier()
        # The adjoint, from the stretch's last position back to its first.
        for tr in range(stretch):
            tt = stretch - 1 - tr
            t = ci * stretch + tt
            live = (one + t) < seqlen  # (1,), so that it is a tensor in both modes
            row = (pid_b.to(tl.int64) * seqlen + t) * num_heads + pid_h
            S_prev = tl.load(scratch_base + tt * BK * BV + tile)
            k_t = tl.load(k_ptr + row * dk + offs_k, mask=mask_k & live, other=0.0).to(tl.float32)
            q_t = tl.load(q_ptr + row * dk + offs_k, mask=mask_k & live, other=0.0).to(tl.float32)
            v_t = tl.load(v_ptr + row * dv + offs_v, mask=mask_v & live, other=0.0).to(tl.float32)
            do_t = tl.load(do_ptr + row * dv + offs_v, mask=mask_v & live, other=0.0).to(tl.float32)
            g_t = tl.load(g_ptr + row + one, mask=live, other=0.0).to(tl.float32)
            beta_t = tl.load(beta_ptr + row + one, mask=live, other=0.0).to(tl.float32)
            decay = tl.exp(g_t)
            S_a = S_prev * decay
            r = v_t - tl.sum(S_a * k_t[:, None], axis=0)  # (BV,)
            S_t = S_a + (beta_t * k_t)[:, None] * r[None, :]
            dS += (scale * q_t)[:, None] * do_t[None, :]
            dq_t = scale * tl.sum(S_t * do_t[None, :], axis=1)  # (BK,)
            dS_r = tl.sum(dS * r[None, :], axis=1)  # (BK,) dS r
            dbeta_t = tl.sum(k_t * dS_r, axis=0)
            dr = beta_t * tl.sum(dS * k_t[:, None], axis=0)  # (BV,)
            dk_t = beta_t * dS_r - tl.sum(S_a * dr[None, :], axis=1)
            dS_a = dS - k_t[:, None] * dr[None, :]
            dg_t = tl.sum(tl.sum(dS_a * S_a, axis=1), axis=0)
            dS = dS_a * decay
            tl.store(dv_ptr + row * dv + offs_v, dr, mask=mask_v & live)
            tl.store(dq_ptr + (share + row) * dk + offs_k, dq_t, mask=mask_k & live)
            tl.store(dk_ptr + (share + row) * dk + offs_k, dk_t, mask=mask_k & live)
            tl.store(dg_ptr + share + row + one, dg_t, mask=live)
            tl.store(dbeta_ptr + share + row + one, dbeta_t, mask=live)
        tl.debug_barrier()
    tl.store(dh0_ptr + state_offs, dS, mask=mask_kv)

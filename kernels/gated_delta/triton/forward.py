"""Gated delta rule forward in Triton: the recurrence, one program per (batch, head, dv block).

Shape legend:
    b  batch     l  sequence length     h  heads     dk  key dim     dv  value dim
    c  checkpoints     s  stretch (positions per checkpoint, c·s ≥ l; api.py picks it)
    BK  dk padded to a power of two     BV  a block of dv

Each column of the state S (dk, dv) evolves on its own (the delta rule mixes rows through k, never
columns), so a program owns S[:, block of BV columns] in registers and walks the sequence:
    S ← exp(g_t) S;   r = v_t − Sᵀ k_t;   S ← S + β_t k_t rᵀ;   o_t = Sᵀ (scale · q_t)
(Yang, Kautz & Hatamizadeh 2024, "Gated Delta Networks", eq. 10; FLA's `fused_recurrent` form.)
With SAVE, the state entering every s-th position is written out: the backward
(backward.py) recomputes the states inside a stretch from its checkpoint instead of inverting the
update (I − β k kᵀ is singular at β |k|² = 1, and dividing by exp(g) overflows under strong decay).
Positions past the end (c·s > l) read g = β = 0, which leaves S unchanged.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def gated_delta_fwd_kernel(
    q_ptr,  # (b, l, h, dk) contiguous
    k_ptr,  # (b, l, h, dk) contiguous
    v_ptr,  # (b, l, h, dv) contiguous
    g_ptr,  # (b, l, h) contiguous
    beta_ptr,  # (b, l, h) contiguous
    h0_ptr,  # (b, h, dk, dv) contiguous, or a dummy
    o_ptr,  # (b, l, h, dv) fp32, written
    final_ptr,  # (b, h, dk, dv) contiguous, written (may be h0_ptr itself: a decode step)
    ckpt_ptr,  # (b, h, c, dk, dv) fp32, written when SAVE
    scale,
    seqlen,
    num_heads,
    dk,
    dv,
    num_ckpt,
    stretch,
    HAS_H0: tl.constexpr,
    SAVE: tl.constexpr,
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

    S = tl.zeros((BK, BV), dtype=tl.float32)
    if HAS_H0:
        S = tl.load(h0_ptr + state_offs, mask=mask_kv, other=0.0).to(tl.float32)
    for ci in range(num_ckpt):
        if SAVE:
            ckpt_offs = (pid_bh.to(tl.int64) * num_ckpt + ci) * dk * dv
            ckpt_offs += offs_k[:, None] * dv + offs_v[None, :]
            tl.store(ckpt_ptr + ckpt_offs, S, mask=mask_kv)
        for tt in range(stretch):
            t = ci * stretch + tt
            live = (one + t) < seqlen  # (1,), so that it is a tensor in both modes
            row = (pid_b.to(tl.int64) * seqlen + t) * num_heads + pid_h  # (b, t, h)
            k_t = tl.load(k_ptr + row * dk + offs_k, mask=mask_k & live, other=0.0).to(tl.float32)
            q_t = tl.load(q_ptr + row * dk + offs_k, mask=mask_k & live, other=0.0).to(tl.float32)
            v_t = tl.load(v_ptr + row * dv + offs_v, mask=mask_v & live, other=0.0).to(tl.float32)
            g_t = tl.load(g_ptr + row + one, mask=live, other=0.0).to(tl.float32)
            beta_t = tl.load(beta_ptr + row + one, mask=live, other=0.0).to(tl.float32)
            S = S * tl.exp(g_t)
            r = v_t - tl.sum(S * k_t[:, None], axis=0)  # (BV,)
            S = S + (beta_t * k_t)[:, None] * r[None, :]
            o_t = tl.sum(S * (scale * q_t)[:, None], axis=0)  # (BV,)
            tl.store(o_ptr + row * dv + offs_v, o_t, mask=mask_v & live)
    tl.store(final_ptr + state_offs, S.to(final_ptr.dtype.element_ty), mask=mask_kv)

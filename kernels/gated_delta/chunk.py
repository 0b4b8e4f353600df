"""Gated delta rule, chunked (the WY / UT form): the CPU fast path, with a hand-written backward.

Shape legend:
    b  batch     l  sequence length     h  heads     dk  key dim     dv  value dim
    N  b·h (heads of every batch row)    c  chunks     C  chunk length (64)

Derivation (after Yang et al. 2024, "Parallelizing Linear Transformers with the Delta Rule over
Sequence Length", §3, with the gate of "Gated Delta Networks", §3.3). Inside a chunk entered with
state S, let cs_t = Σ_{j≤t} g_j (the within-chunk cumulative log-decay) and Γ_ti = exp(cs_t − cs_i)
for i ≤ t, 0 above. The state after position t is
    S_t = e^{cs_t} S + Σ_{i≤t} Γ_ti k_i u_iᵀ,
    u_t = β_t (v_t − e^{cs_t} Sᵀk_t − Σ_{i<t} Γ_ti (k_t·k_i) u_i)
so (I + A) u = diag(β) V − diag(β e^{cs}) K S with A_ti = β_t (k_t·k_i) Γ_ti strictly below the
diagonal: with T = (I + A)⁻¹ (one unit-lower-triangular solve per chunk), U = T diag(β) V and
W = T diag(β e^{cs}) K are independent of S, and then (all chunks at once but the two
products of step 2, which run sequentially over chunks):
    1. per chunk:   A, T, U, W and P = (scale Q Kᵀ) ∘ Γ (causal, diagonal included)
    2. sequential:  u_c = U_c − W_c S,   S ← e^{cs_last} S + (K ∘ e^{cs_last − cs})ᵀ u_c
    3. per chunk:   O = (scale Q ∘ e^{cs}) S_entering + P u
Every decay factor is a difference of cumulative log-decays within one chunk, never a ratio
of products (no 1/γ that overflows under strong decay), taken to full precision
(kernels/_decay.py: in fp32 it carried the rounding of cs, ~1e-4 at g ≈ −30), clamped below
at -80 before `exp` (exp of arguments below about -87 is denormal and ~15x slower on x86;
kernels/ssd/chunk.py measured it).
Lengths that are not a multiple of C are padded with g = β = 0 and k = v = q = 0, which leaves
the state, and so the final state, unchanged. Causal under NaN and inf: a chunk's matmuls
multiply the zeros above its diagonals by later positions (0 · NaN = NaN), so from the first
non-finite k, v, g or β of a head on the inputs are held at zero and the outputs set to NaN, as
the recurrence has them (`_poisoned`; one sum per input when all are finite).

Backward (hand-written, `_chunk_backward`): the reverse of step 2 is sequential over chunks
(dS_entering = (Q∘e^{cs})ᵀ dO + e^{cs_last} dS_leaving − Wᵀ du, du = Pᵀ dO + (K∘e^{cs_last−cs}) dS);
the rest is per chunk: [dVβ | dKβ] = Tᵀ [du | −du Sᵀ] (the transposed solve), then
dA = −[dVβ | dKβ] [U | W]ᵀ below the diagonal. Every term that carries a decay factor
exp(cs_t − cs_i), exp(cs_t) or exp(cs_last − cs_i) passes Z = dX ∘ X to exactly the g_j it
depends on (kernels/_decay.py): nothing is added that must cancel, which keeps dg accurate
to its own size however strong the decay (it was noise below g ≈ −10).

Measured (b=8, l=1024, h=8, dk=dv=64, fp32, forward+backward, 2 CPU cores shared with other
jobs, load average ~8, so absolute times are inflated; the two ran interleaved in one process,
median of 3): the hand-written backward took 3.6 s against 7.8 s for autograd through the same
chunked forward (2.2x faster), so it is kept. Run `python -m hybridlab.kernels.gated_delta.chunk`
to repeat the comparison.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hybridlab.kernels._decay import (
    cumulative,
    differences,
    pair_sums,
    prefix_sums_before,
    suffix_sums,
)

CHUNK = 64
# exp() arguments are clamped here: below about -87 fp32 exp results are denormal and slow.
_MIN_LOG_DECAY = -80.0


def _decay_matrix(cs_hi: torch.Tensor, cs_lo: torch.Tensor) -> torch.Tensor:
    """Γ_ti = exp(cs_t − cs_i) on and below the diagonal, 0 above, from the (hi, lo) pair of
    `_decay.cumulative`: (c, N, C) -> (c, N, C, C)."""
    C = cs_hi.shape[-1]
    keep = torch.ones(C, C, dtype=torch.bool, device=cs_hi.device).tril()
    diff = differences(cs_hi, cs_lo)
    return diff.clamp_min_(_MIN_LOG_DECAY).masked_fill_(~keep, float("-inf")).exp_()


def _unit_lower_inverse(A: torch.Tensor) -> torch.Tensor:
    """T = (I + A)⁻¹ for A (..., C, C) strictly lower triangular (the unit diagonal implied).

    Forming T and multiplying is faster on CPU than solving against the right-hand sides
    (measured at C = 64: a batched solve against 128 columns took 3-4x the time of this solve
    against I plus one bmm), and the backward's transposed solve becomes a bmm with Tᵀ.
    """
    C = A.shape[-1]
    eye = torch.eye(C, dtype=A.dtype, device=A.device).repeat(*A.shape[:-2], 1, 1)
    return torch.linalg.solve_triangular(A, eye, upper=False, unitriangular=True)


def _chunk_forward(q, k, v, g, beta, h0, scale):
    """Steps 1-3 on fp32 chunk-major tensors: q, k (c, N, C, dk), v (c, N, C, dv), g, beta
    (c, N, C), h0 (N, dk, dv) or None. Differentiable by autograd (no in-place on inputs).

    Chunk-major, so that step 2's per-chunk slices are contiguous (with (N, c, ...) every slice
    was copied before its bmm: 10% of the time). Returns o (c, N, C, dv), the final state
    (N, dk, dv) and what the backward reuses.
    """
    c, N, C, dk = k.shape
    dv = v.shape[-1]
    cN = c * N
    cs, cs_lo = cumulative(g, -1)  # (c, N, C), with its rounding: see kernels/_decay.py
    e_cs = torch.exp(cs.clamp_min(_MIN_LOG_DECAY))  # (c, N, C)
    e_last = e_cs[..., -1]  # (c, N)
    to_end = (cs[..., -1:] - cs) + (cs_lo[..., -1:] - cs_lo)  # (c, N, C)
    e_to_end = torch.exp(to_end.clamp_min(_MIN_LOG_DECAY))
    qs = q * scale

    # 1. per chunk: A (strictly lower), T = (I + A)⁻¹, U, W and P.
    kf = k.view(cN, C, dk)
    KK = torch.bmm(kf, kf.transpose(1, 2)).view(c, N, C, C)
    gamma = _decay_matrix(cs, cs_lo)
    A = (KK * gamma * beta[..., None]).tril_(-1)  # zero on and above the diagonal
    T = _unit_lower_inverse(A.view(cN, C, C))  # (cN, C, C)
    U = torch.bmm(T, (v * beta[..., None]).view(cN, C, dv)).view(c, N, C, dv)
    W = torch.bmm(T, (k * (beta * e_cs)[..., None]).view(cN, C, dk)).view(c, N, C, dk)
    P = torch.bmm(qs.view(cN, C, dk), kf.transpose(1, 2)).view(c, N, C, C) * gamma

    # 2. sequential over chunks: H[i] is the state entering chunk i.
    kd_T = (k * e_to_end[..., None]).transpose(2, 3).contiguous()  # (c, N, dk, C)
    S = h0 if h0 is not None else q.new_zeros(N, dk, dv)
    states, us = [], []
    for i in range(c):
        states.append(S)
        u_i = torch.baddbmm(U[i], W[i], S, alpha=-1.0)  # (N, C, dv)
        us.append(u_i)
        S = torch.baddbmm(S * e_last[i, :, None, None], kd_T[i], u_i)
    H = torch.stack(states)  # (c, N, dk, dv)
    u = torch.stack(us)  # (c, N, C, dv)

    # 3. per chunk: outputs.
    qg = qs * e_cs[..., None]  # (c, N, C, dk)
    o = torch.bmm(qg.view(cN, C, dk), H.view(cN, dk, dv))
    o = torch.baddbmm(o, P.view(cN, C, C), u.view(cN, C, dv)).view(c, N, C, dv)
    saved = (e_cs, e_to_end, KK, gamma, A, T, U, W, P, H, u)
    return o, S, saved


def _chunk_backward(do, dfinal, q, k, v, beta, final, scale, saved):
    """Gradients of _chunk_forward for q, k, v, g, beta and h0 (see the module docstring)."""
    e_cs, e_to_end, KK, gamma, A, T, U, W, P, H, u = saved
    c, N, C, dk = k.shape
    dv = v.shape[-1]
    cN = c * N
    bmm = torch.bmm
    qs = q * scale
    qg = qs * e_cs[..., None]
    kd = k * e_to_end[..., None]
    e_last = e_cs[..., -1]
    do_f = do.view(cN, C, dv)

    # Step 3's chunk-parallel parts: through P u and through (Q ∘ e^{cs}) H.
    dP = bmm(do_f, u.view(cN, C, dv).transpose(1, 2)).view(c, N, C, C)
    du = bmm(P.view(cN, C, C).transpose(1, 2), do_f).view(c, N, C, dv)
    dqg = bmm(do_f, H.view(cN, dk, dv).transpose(1, 2)).view(c, N, C, dk)
    dH = bmm(qg.view(cN, C, dk).transpose(1, 2), do_f).view(c, N, dk, dv)

    # Step 2 reversed: dS_out[i] is the gradient of the state leaving chunk i.
    W_T = W.transpose(2, 3).contiguous()  # (c, N, dk, C)
    dS = dfinal if dfinal is not None else q.new_zeros(N, dk, dv)
    dS_out = torch.empty_like(H)
    for i in range(c - 1, -1, -1):
        dS_out[i] = dS
        torch.baddbmm(du[i], kd[i], dS, out=du[i])
        dS = torch.baddbmm(dH[i].addcmul_(e_last[i, :, None, None], dS), W_T[i], du[i],
                           alpha=-1.0)  # fmt: skip
    dh0 = dS

    # Log-decay gradients (kernels/_decay.py): Z = dX ∘ X summed per term, for the terms
    # through the chunk end (kd) and the entering state's decay; A's and P's come below.
    dkd = bmm(u.view(cN, C, dv), dS_out.view(cN, dk, dv).transpose(1, 2)).view(c, N, C, dk)
    dg = prefix_sums_before((dkd * kd).sum(-1))  # exp(cs_last − cs_i)
    dg += (e_last * (dS_out * H).sum((-1, -2)))[..., None]  # exp(cs_last): every position
    z_entering = (dqg * qg).sum(-1)  # exp(cs_t)

    # Step 1: through U = T (β v) and W = T (β e^{cs} k), then A.
    du_f = du.view(cN, C, dv)
    dW = -bmm(du_f, H.view(cN, dk, dv).transpose(1, 2))  # (cN, C, dk)
    T_t = T.transpose(1, 2)
    dvb = bmm(T_t, du_f).view(c, N, C, dv)
    dkb = bmm(T_t, dW).view(c, N, C, dk)
    dA = bmm(dvb.view(cN, C, dv), U.view(cN, C, dv).transpose(1, 2))
    dA = torch.baddbmm(dA, dkb.view(cN, C, dk), W.view(cN, C, dk).transpose(1, 2))
    dA = dA.view(c, N, C, C).tril_(-1).neg_()
    dg += pair_sums(dA * A + dP * P)  # exp(cs_t − cs_i), i < t: A and P below the diagonal
    kb_scale = beta * e_cs  # (c, N, C)
    z_kb = (dkb * k).sum(-1)  # (c, N, C)
    dg += suffix_sums(z_entering + z_kb * kb_scale)  # exp(cs_t): W = T (β e^{cs} K) too

    GA = (dA * gamma).view(cN, C, C)  # gradient of β_t (k_t·k_i), strictly lower
    GP = (dP * gamma).view(cN, C, C)  # gradient of scale (q_t·k_i), causal
    kf, qf = k.view(cN, C, dk), qs.view(cN, C, dk)
    dbeta = (GA.view(c, N, C, C) * KK).sum(-1) + (dvb * v).sum(-1) + z_kb * e_cs
    kbeta = (k * beta[..., None]).view(cN, C, dk)
    dk_ = bmm(GA, kf).view(c, N, C, dk) * beta[..., None]
    dk_ += bmm(GA.transpose(1, 2), kbeta).view(c, N, C, dk)
    dk_ += bmm(GP.transpose(1, 2), qf).view(c, N, C, dk)
    dk_ += dkd * e_to_end[..., None] + dkb * kb_scale[..., None]
    dqs = bmm(GP, kf).view(c, N, C, dk) + dqg * e_cs[..., None]
    dv_ = dvb * beta[..., None]
    return dqs * scale, dk_, dv_, dg, dbeta, dh0


class _ChunkGatedDelta(torch.autograd.Function):
    """(q, k, v, g, beta, h0) -> (o, final state); fp32, chunk-major, l a multiple of C."""

    @staticmethod
    def forward(ctx, q, k, v, g, beta, h0, scale):
        o, final, saved = _chunk_forward(q, k, v, g, beta, h0, scale)
        ctx.save_for_backward(q, k, v, beta, final, *saved)
        ctx.scale = scale
        ctx.has_h0 = h0 is not None
        return o, final

    @staticmethod
    def backward(ctx, do, dfinal):
        q, k, v, beta, final, *saved = ctx.saved_tensors
        do = do.contiguous() if do is not None else torch.zeros_like(v)
        dq, dk, dv, dg, dbeta, dh0 = _chunk_backward(
            do, dfinal, q, k, v, beta, final, ctx.scale, saved
        )
        return dq, dk, dv, dg, dbeta, (dh0 if ctx.has_h0 else None), None


def _to_chunks(t: torch.Tensor, length: int, C: int) -> torch.Tensor:
    """(b, l, h, ...) fp32 -> chunk-major (c, b·h, C, ...), zero-padded to c·C positions."""
    pad = (-length) % C
    if pad:
        t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
    b, h = t.shape[0], t.shape[2]
    t = t.view(b, -1, C, h, *t.shape[3:])  # (b, c, C, h, ...)
    t = t.transpose(2, 3).transpose(0, 1).contiguous()  # (c, b, h, C, ...)
    return t.view(t.shape[0], b * h, C, *t.shape[4:])


def gated_delta_rule_chunk(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
    autograd_backward: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Chunked gated delta rule; same contract as `hybridlab.kernels.gated_delta_rule`.

    `autograd_backward=True` differentiates the same forward with autograd instead of the
    hand-written backward (kept for the measurement in the module docstring and for tests).
    """
    dtype = v.dtype
    b, length, h, dk = k.shape
    dv = v.shape[-1]
    poisoned = _poisoned(k, v, g, beta)
    if poisoned is not None:
        # The recurrence is non-finite from there on: the rest of the sequence is held at zero
        # (g = β = 0 leaves the state as it is) and its outputs set to NaN below.
        k, v = k.masked_fill(poisoned[..., None], 0.0), v.masked_fill(poisoned[..., None], 0.0)
        g, beta = g.masked_fill(poisoned, 0.0), beta.masked_fill(poisoned, 0.0)
    C = max(1, min(CHUNK, length))
    q, k, v, g, beta = (_to_chunks(t.float(), length, C) for t in (q, k, v, g, beta))
    h0 = initial_state.float().reshape(b * h, dk, dv) if initial_state is not None else None
    if autograd_backward:
        o, final, _ = _chunk_forward(q, k, v, g, beta, h0, scale)
    else:
        o, final = _ChunkGatedDelta.apply(q, k, v, g, beta, h0, scale)
    c = o.shape[0]
    o = o.view(c, b, h, C, dv).permute(1, 0, 3, 2, 4).reshape(b, c * C, h, dv)
    o = o[:, :length].to(dtype)  # (b, l, h, dv)
    final = final.view(b, h, dk, dv).to(dtype)
    if poisoned is not None:
        o = o.masked_fill(poisoned[..., None], float("nan"))
        final = final.masked_fill(poisoned[:, -1, :, None, None], float("nan"))
    if return_final_state:
        return o, final
    return o


def _poisoned(k, v, g, beta) -> torch.Tensor | None:
    """(b, l, h) True from the first non-finite k, v, g or β of each head on; None when every
    value is finite (one sum per tensor tells, the common case).

    Inside a chunk every product is a matmul over all of its positions, and the zeros that keep
    later positions out (above the diagonal of A, T and P) multiply their values: 0 · NaN = NaN,
    so one non-finite value spoiled every earlier output of its chunk. q is not in the list: a
    query reaches its own output only.
    """
    if all(torch.isfinite(t.sum()) for t in (k, v, g, beta)):
        return None
    finite = torch.isfinite(k).all(-1) & torch.isfinite(v).all(-1)
    finite &= torch.isfinite(g) & torch.isfinite(beta)
    return (~finite).cumsum(1) > 0


def _measure(repeats: int = 3) -> None:
    """Forward+backward, hand-written backward against autograd, at the benchmark's size
    (interleaved rounds, so that machine load hits both alike)."""
    import time

    gen = torch.Generator().manual_seed(0)
    b, l, h, d = 8, 1024, 8, 64
    q, k, v = (torch.randn(b, l, h, d, generator=gen) for _ in range(3))
    k = F.normalize(k, dim=-1)
    g = -torch.rand(b, l, h, generator=gen) * 0.1
    beta = torch.rand(b, l, h, generator=gen)
    times: dict[str, list[float]] = {"hand-written": [], "autograd": []}
    for _ in range(repeats + 1):
        for name, flag in (("hand-written", False), ("autograd", True)):
            leaves = [t.clone().requires_grad_() for t in (q, k, v, g, beta)]
            start = time.perf_counter()
            o = gated_delta_rule_chunk(*leaves, scale=d**-0.5, autograd_backward=flag)
            o.sum().backward()
            times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        ts = sorted(ts[1:])
        print(f"{name:>12}: {1e3 * ts[len(ts) // 2]:.0f} ms (fwd+bwd, median)")


if __name__ == "__main__":
    _measure()

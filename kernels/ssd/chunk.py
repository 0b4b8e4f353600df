"""Mamba-2 SSD, chunked: the CPU fast path, with a hand-written backward.

Shape legend:
    b  batch        l  sequence length (padded to a multiple of q)     h  heads     p  head dim
    g  groups       n  state size      q  chunk length                 c  chunks (l / q)
    r  heads per group (h / g)

The chunked algorithm of Dao & Gu 2024 ("Transformers are SSMs", §6, Listing 1). Per head, with
a_t = Δ_t A and cs_i = Σ_{k≤i} a_k the cumulative log-decay inside a chunk:
    1. diagonal blocks:   Y_diag_i = Σ_{j≤i} (C_i·B_j) exp(cs_i − cs_j) Δ_j x_j
    2. chunk states:      S_c = Σ_j exp(cs_last − cs_j) Δ_j x_j B_jᵀ
    3. state passing:     H_c = exp(cs_last) H_{c−1} + S_c            (sequential over chunks)
    4. off-diagonal:      Y_off_i = exp(cs_i) H_{c−1} C_i
CPU-specific choices, each measured (benchmarks/README.md, "CPU scans"):
    - C·Bᵀ is computed once per group, not per head (h/g times fewer products);
    - heads of a group are stacked along p so that steps 2 and 4 are a few large matmuls, and
      every matmul is an explicit `bmm` on 3-D views (torch.matmul on 5-D operands copied);
    - the (q × q) decay exponent is clamped below at -80 before `exp`: exp of arguments below
      about -87 (results in the denormal range) runs ~15x slower on x86, and exp(-80) ≈ 2e-35 is
      zero for every practical purpose. The upper triangle is masked through C·Bᵀ, not `-inf`.
      When every Δ·A ≤ 0 (decaying states, every Mamba-2; one max over (b, l, h) tells) the
      upper triangle's exponents are ≥ 0 and a clamp to [-80, 0] keeps them finite in the same
      pass. Otherwise (Δ < 0 without softplus, A > 0, or a NaN Δ) the exponents below the
      diagonal may be positive, and the upper triangle is filled with -80 before `exp` instead
      (one more pass): exact for any sign, and neither an overflow nor a NaN there reaches M;
    - causal under NaN: the diagonal-block product M·Δx multiplies the zeros above M's diagonal
      by later rows of Δx, and 0 · NaN = NaN; `_masked_product` checks Δx with one sum and, only
      when it is not finite, zeroes the non-finite entries for the product and sets the outputs
      from their positions on to NaN, as the recurrence does;
    - the backward is hand-written. It reuses what forward saved (the decay L, the masked
      product M, Δx in head-major layout and the state entering each chunk) and gets the
      gradients of the log-decays from the identity
          ∂loss/∂cs_i = dY_i·Y_i − Δ_i x_i·dx̃_i   (+ ⟨dH_c, H_c⟩ at a chunk's last position),
      where dx̃ is the gradient of Δx and H_c the state leaving chunk c: no (q × q) work for dt
      or A. Autograd through an equivalent forward was 1.4x slower.
    - a sequence that fits one chunk, with no initial state and no final state asked for (every
      training step of a short proxy), is step 1 alone: steps 2-4 only carry states between
      chunks, and there are none to carry.
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

# exp() arguments are clamped here: below about -87 fp32 exp results are denormal and slow.
_MIN_LOG_DECAY = -80.0


def _tril(q: int, device: torch.device) -> torch.Tensor:
    return torch.ones(q, q, dtype=torch.bool, device=device).tril()


def _masked_product(M: torch.Tensor, xd: torch.Tensor) -> torch.Tensor:
    """M @ xd for M (·, q, q) zero above its diagonal, and causal even where xd is not finite.

    A matmul multiplies the zeros above the diagonal by later rows of xd, and 0 · NaN = NaN:
    a NaN or inf at position t would spoil every earlier output of its chunk. One sum tells
    whether xd is finite (its sum is finite only then; measured 1% of this product's time);
    otherwise the product runs on xd with its non-finite entries zeroed and, as the recurrence
    does, every output from a non-finite entry's position on is NaN (per column of p).
    """
    if torch.isfinite(xd.sum()):
        return torch.bmm(M, xd)
    bad = ~torch.isfinite(xd)  # (·, q, p)
    y = torch.bmm(M, xd.masked_fill(bad, 0.0))
    return y.masked_fill_(bad.cumsum(1) > 0, float("nan"))


# Layout helpers. Every matmul below is an explicit `bmm` on 3-D views: `torch.matmul` on 5-D
# operands copies even a contiguous operand when the other one is strided (measured).


def _group_major(t, b, c, q, g, n):
    """(b, l, g, n) -> (b·c·g, q, n), contiguous; a view when g = 1."""
    return t.view(b, c, q, g, n).transpose(2, 3).contiguous().view(b * c * g, q, n)


def _stack_heads(t, b, c, q, g, r, p):
    """(b, c, q, h, p) -> (b·c·g, q, r·p): a group's heads side by side; a view when g = 1."""
    return t.view(b, c, q, g, r * p).transpose(2, 3).contiguous().view(b * c * g, q, r * p)


def _unstack_heads(t, b, c, q, g, r, p):
    """(b·c·g, q, r·p) -> (b, c, q, h, p), the inverse of _stack_heads; a view when g = 1."""
    return t.view(b, c, g, q, r * p).transpose(2, 3).contiguous().view(b, c, q, g * r, p)


def _chunk_forward(x, dt, A, B, C, h0, q, states=True):
    """Steps 1-4 on fp32 tensors whose length is a multiple of q: y, final state and what the
    backward reuses: (cs, L, M, Δx, the entering states H, the off-diagonal output, the decay to
    each chunk's end w), the last three None when only step 1 runs.

    With `states=False` (one chunk, no initial state, no final state wanted) only step 1 runs
    and the final state is None.
    """
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    c, r = l // q, h // g
    dims = (b, c, q, g, r, p)
    x_c = x.view(b, c, q, h, p)
    dt_c = dt.view(b, c, q, h)
    a = dt_c * A  # (b, c, q, h)
    # With its rounding, so that decays between positions are exact (kernels/_decay.py).
    cs, cs_lo = cumulative(a, 2)  # (b, c, q, h)
    B_g = _group_major(B, b, c, q, g, n)  # (bcg, q, n)
    C_g = _group_major(C, b, c, q, g, n)  # (bcg, q, n)

    # 1. diagonal blocks: M = (C Bᵀ ∘ causal mask) ∘ L with L_ij = exp(cs_i - cs_j), per head.
    tril = _tril(q, x.device)
    CB = torch.bmm(C_g, B_g.transpose(1, 2)).masked_fill_(~tril, 0.0)
    # (b, c, h, q) operands, contiguous so that L is too.
    L = differences(cs.transpose(2, 3).contiguous(), cs_lo.transpose(2, 3).contiguous())
    # Every Δ·A ≤ 0 (False if one is NaN): exponents are ≤ 0 below the diagonal and ≥ 0 above,
    # where the clamp keeps them finite. Otherwise the upper triangle is masked before exp.
    if a.max() <= 0:
        L.clamp_(_MIN_LOG_DECAY, 0.0)
    else:
        L.masked_fill_(~tril, _MIN_LOG_DECAY).clamp_min_(_MIN_LOG_DECAY)
    L.exp_()
    M = x.new_empty(b, c, h, q, q)  # out=, so that M is contiguous whatever the broadcast
    torch.mul(L.view(b, c, g, r, q, q), CB.view(b, c, g, 1, q, q), out=M.view(b, c, g, r, q, q))
    M = M.view(b * c * h, q, q)
    # Δx, written straight into the head-major layout the per-head products need.
    xd_T = x.new_empty(b, c, h, q, p)
    torch.mul(x_c.transpose(2, 3), dt_c.transpose(2, 3)[..., None], out=xd_T)
    y_diag = _masked_product(M, xd_T.view(b * c * h, q, p)).view(b, c, h, q, p)
    if not states:
        y = y_diag.transpose(2, 3).contiguous()  # (b, c, q, h, p)
        return y.view(b, l, h, p), None, (cs, L, M, xd_T, None, None, None)

    # 2. chunk states S = (Δx ∘ decay to the chunk end)ᵀ B, heads of a group stacked.
    w = torch.exp((cs[:, :, -1:] - cs) + (cs_lo[:, :, -1:] - cs_lo))  # (b, c, q, h)
    xw = _stack_heads(x_c * (dt_c * w)[..., None], *dims)  # (bcg, q, rp)
    S = torch.bmm(xw.transpose(1, 2), B_g).view(b, c, h, p, n)

    # 3. state passing, sequential over chunks; H[:, i] is the state entering chunk i.
    decay = torch.exp(cs[:, :, -1])[..., None, None]  # (b, c, h, 1, 1)
    H = x.new_empty(b, c, h, p, n)
    if h0 is None:
        H[:, 0] = 0.0
    else:
        H[:, 0] = h0
    for i in range(c - 1):
        torch.addcmul(S[:, i], H[:, i], decay[:, i], out=H[:, i + 1])
    final = torch.addcmul(S[:, -1], H[:, -1], decay[:, -1])  # (b, h, p, n)

    # 4. off-diagonal blocks: exp(cs_i) · H_{c-1} C_i, heads of a group stacked; kept apart
    # from the diagonal blocks for the log-decay gradient.
    y_off = torch.bmm(C_g, H.view(b * c * g, r * p, n).transpose(1, 2))  # (bcg, q, rp)
    y_off = _unstack_heads(y_off, *dims).mul_(torch.exp(cs)[..., None])  # (b, c, q, h, p)
    y = y_off + y_diag.transpose(2, 3)
    return y.view(b, l, h, p), final, (cs, L, M, xd_T, H, y_off, w)


def _chunk_backward(dy, dfinal, x, dt, A, B, C, cs, L, M, xd_T, H, y_off, w, q):
    """Gradients of _chunk_forward for x, dt, A, B, C and h0 (see the module docstring); with
    H None (forward ran step 1 alone) only step 1's terms, and no h0 gradient.

    The log-decay gradient da (of a = Δ·A) sums each term's share Z = dX ∘ X over exactly the
    positions it depends on (kernels/_decay.py), in (b, c, h, q) layout:
        diagonal blocks  (dy_i · Δ_j x_j) M_ij          to a_k for j < k ≤ i
        off-diagonal     dy_i · y_off_i                 to a_k for k ≤ i
        chunk states     Δ_j x_j · dx̃_j (state part)    to a_k for k > j
        state passing    exp(cs_last) ⟨dH_c, H_{c−1}⟩   to every a_k of the chunk
    """
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    c, r = l // q, h // g
    dims = (b, c, q, g, r, p)
    x_c = x.view(b, c, q, h, p)
    dt_c = dt.view(b, c, q, h)
    dy_c = dy.view(b, c, q, h, p)
    B_g = _group_major(B, b, c, q, g, n)  # (bcg, q, n)
    C_g = _group_major(C, b, c, q, g, n)  # (bcg, q, n)

    # 1. diagonal blocks.
    dy_T = dy_c.transpose(2, 3).contiguous().view(b * c * h, q, p)
    dxd_T = torch.bmm(M.transpose(1, 2), dy_T).view(b, c, h, q, p)  # head-major
    dy_xd = torch.bmm(dy_T, xd_T.view(b * c * h, q, p).transpose(1, 2))  # dy_i · Δ_j x_j
    da = pair_sums(dy_xd * M).view(b, c, h, q)
    dM = dy_xd.mul_(L.view(-1, q, q))
    dCB = dM.view(b, c, g, r, q, q).sum(3).masked_fill_(~_tril(q, x.device), 0.0)
    dCB = dCB.view(b * c * g, q, q)
    dC = torch.bmm(dCB, B_g)  # (bcg, q, n)
    dB = torch.bmm(dCB.transpose(1, 2), C_g)  # (bcg, q, n)
    dh0 = None
    if H is None:
        dxd = dxd_T.transpose(2, 3).contiguous()  # (b, c, q, h, p)
    else:
        # 4. off-diagonal blocks.
        da += suffix_sums((dy_c * y_off).sum(-1).transpose(2, 3))
        dye = _stack_heads(dy_c * torch.exp(cs)[..., None], *dims)  # (bcg, q, rp)
        dC += torch.bmm(dye, H.view(b * c * g, r * p, n))
        dH_off = torch.bmm(dye.transpose(1, 2), C_g).view(b, c, h, p, n)

        # 3. state passing, reversed: dS[:, i] is the gradient of the state leaving chunk i.
        decay = torch.exp(cs[:, :, -1])[..., None, None]  # (b, c, h, 1, 1)
        dS = torch.empty_like(dH_off)
        dS[:, -1] = dfinal
        for i in range(c - 1, 0, -1):
            torch.addcmul(dH_off[:, i], dS[:, i], decay[:, i], out=dS[:, i - 1])
        dh0 = torch.addcmul(dH_off[:, 0], dS[:, 0], decay[:, 0])
        da += (dS * H).sum((-1, -2)).mul_(decay[..., 0, 0])[..., None]

        # 2. chunk states.
        xw = _stack_heads(x_c * (dt_c * w)[..., None], *dims)  # (bcg, q, rp)
        dS_g = dS.view(b * c * g, r * p, n)
        dB += torch.bmm(xw, dS_g)
        dxd = _unstack_heads(torch.bmm(B_g, dS_g.transpose(1, 2)), *dims).mul_(w[..., None])
        da += prefix_sums_before(((dxd * x_c).sum(-1) * dt_c).transpose(2, 3))
        dxd += dxd_T.transpose(2, 3)

    ddt = (dxd * x_c).sum(-1)  # (b, c, q, h), through Δx
    dx = dxd.mul_(dt_c[..., None])
    da = da.transpose(2, 3)  # (b, c, q, h)
    ddt += da * A
    dA = (da * dt_c).sum((0, 1, 2))
    dB = dB.view(b, c, g, q, n).transpose(2, 3).reshape(b, l, g, n)
    dC = dC.view(b, c, g, q, n).transpose(2, 3).reshape(b, l, g, n)
    return dx.reshape(b, l, h, p), ddt.view(b, l, h), dA, dB, dC, dh0


class _ChunkScan(torch.autograd.Function):
    """(x, Δ, A, B, C, h0) -> (y without D or gate, final state), fp32, l a multiple of q."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, h0, q, states):
        y, final, saved = _chunk_forward(x, dt, A, B, C, h0, q, states)
        ctx.save_for_backward(x, dt, A, B, C, *saved)
        ctx.q = q
        ctx.has_h0 = h0 is not None
        return y, final

    @staticmethod
    def backward(ctx, dy, dfinal):
        grads = _chunk_backward(dy.contiguous(), dfinal, *ctx.saved_tensors, ctx.q)
        dx, ddt, dA, dB, dC, dh0 = grads
        return dx, ddt, dA, dB, dC, (dh0 if ctx.has_h0 else None), None, None


def ssd_chunk(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = 64,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Chunked SSD; same contract as `hybridlab.kernels.ssd`. Computes in fp32."""
    dtype = x.dtype
    length = x.shape[1]
    x, dt, A, B, C = (t.float() for t in (x, dt, A, B, C))
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    h0 = initial_state.float() if initial_state is not None else None

    # A sequence shorter than a chunk is one chunk; otherwise pad with Δ = 0 (decay 1, input 0),
    # which leaves the state, and so the final state, unchanged.
    q = max(1, min(chunk_size, length))
    pad = (-length) % q
    xs, dts, Bs, Cs = x, dt, B, C
    if pad:
        xs = F.pad(x, (0, 0, 0, 0, 0, pad))
        dts = F.pad(dt, (0, 0, 0, pad))
        Bs = F.pad(B, (0, 0, 0, 0, 0, pad))
        Cs = F.pad(C, (0, 0, 0, 0, 0, pad))
    xs, dts, Bs, Cs = (t.contiguous() for t in (xs, dts, Bs, Cs))
    # States between chunks are needed only with several chunks, an initial or a final state.
    states = xs.shape[1] > q or h0 is not None or return_final_state
    y, final_state = _ChunkScan.apply(xs, dts, A, Bs, Cs, h0, q, states)
    if pad:
        y = y[:, :length].contiguous()

    if D is not None:
        D = D.float()
        y = y + (D[:, None] if D.dim() == 1 else D) * x
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(dtype)
    if return_final_state:
        return y, final_state.to(dtype)
    return y

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
CPU-specific choices, each measured (benchmarks/cpu_scans.py):
    - C·Bᵀ is computed once per group, not per head (h/g times fewer products);
    - heads of a group are stacked along p so that steps 2 and 4 are a few large matmuls;
    - the (q × q) decay exponent is clamped to [-80, 0] before `exp`: exp of arguments below
      about -87 (results in the denormal range) runs ~15x slower on x86, and exp(-80) ≈ 2e-35 is
      zero for every practical purpose. The upper triangle is masked through C·Bᵀ, not `-inf`.
      So the chunked path assumes decaying states (Δ ≥ 0, A ≤ 0), as every Mamba-2 does;
    - autograd's backward would save and revisit every (q × q) intermediate; the hand-written one
      needs only the decay L and the masked product M. Gradients of the log-decays use the
      identity  ∂loss/∂cs_i = dY_i·Y_i − Δ_i x_i·dx̃_i  (+ ⟨dH_c, H_c⟩ at the chunk's last
      position), where dx̃ is the gradient of Δx; it avoids any (q × q) work for dt and A.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# exp() arguments are clamped here: below about -87 fp32 exp results are denormal and slow.
_MIN_LOG_DECAY = -80.0


def _tril(q: int, device: torch.device) -> torch.Tensor:
    return torch.ones(q, q, dtype=torch.bool, device=device).tril()


def _chunk_forward(x, dt, A, B, C, h0, q):
    """Steps 1-4 on fp32 tensors whose length is a multiple of q. Returns y, H and saved parts."""
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    c, r = l // q, h // g
    x_c = x.view(b, c, q, h, p)
    dt_c = dt.view(b, c, q, h)
    cs = (dt_c * A).cumsum(2)  # (b, c, q, h)
    B_g = B.view(b, c, q, g, n).transpose(2, 3)  # (b, c, g, q, n)
    C_g = C.view(b, c, q, g, n).transpose(2, 3)  # (b, c, g, q, n)

    # 1. diagonal blocks: M = (C Bᵀ ∘ causal mask) ∘ L, with L_ij = exp(cs_i - cs_j).
    CB = (C_g @ B_g.transpose(-1, -2)).masked_fill_(~_tril(q, x.device), 0.0)  # (b, c, g, q, q)
    cs_T = cs.transpose(2, 3)  # (b, c, h, q)
    L = (cs_T[..., :, None] - cs_T[..., None, :]).clamp_(_MIN_LOG_DECAY, 0.0).exp_()
    M = (L.view(b, c, g, r, q, q) * CB[:, :, :, None]).view(b, c, h, q, q)
    xd = x_c * dt_c[..., None]  # (b, c, q, h, p)
    y_diag = M @ xd.transpose(2, 3)  # (b, c, h, q, p)

    # 2. chunk states, heads of a group stacked: (r p, q) @ (q, n).
    w = torch.exp(cs[:, :, -1:] - cs)  # (b, c, q, h)
    xw = (xd * w[..., None]).view(b, c, q, g, r * p).permute(0, 1, 3, 4, 2)  # (b, c, g, rp, q)
    H = x.new_empty(b, c + 1, h, p, n)  # H[:, i] = state entering chunk i; H[:, c] = final
    H[:, 1:] = (xw @ B_g).view(b, c, h, p, n)
    if h0 is None:
        H[:, 0] = 0.0
    else:
        H[:, 0] = h0

    # 3. state passing: a short sequential recurrence over chunks.
    decay = torch.exp(cs[:, :, -1])  # (b, c, h)
    for i in range(c):
        H[:, i + 1].addcmul_(H[:, i], decay[:, i, :, None, None])

    # 4. off-diagonal blocks: exp(cs_i) · C_i H_{c-1}, heads of a group stacked.
    H_prev = H[:, :c].reshape(b, c, g, r * p, n)
    y = (C_g @ H_prev.transpose(-1, -2)).view(b, c, g, q, r, p)  # (b, c, g, q, r, p)
    y = y.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, c, q, h, p)
    y.mul_(torch.exp(cs)[..., None]).add_(y_diag.transpose(2, 3))
    return y.view(b, l, h, p), H, (cs, L, M)


def _chunk_backward(dy, dh_final, x, dt, A, B, C, y, H, cs, L, M, q):
    """Gradients of _chunk_forward for x, dt, A, B, C and h0 (see the module docstring)."""
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    c, r = l // q, h // g
    x_c = x.view(b, c, q, h, p)
    dt_c = dt.view(b, c, q, h)
    dy_c = dy.view(b, c, q, h, p)
    B_g = B.view(b, c, q, g, n).transpose(2, 3)  # (b, c, g, q, n)
    C_g = C.view(b, c, q, g, n).transpose(2, 3)  # (b, c, g, q, n)

    # ∂/∂cs_i through every term that reads cs_i on the output side: dY_i · Y_i.
    dcs = (dy_c * y.view(b, c, q, h, p)).sum(-1)  # (b, c, q, h)

    # 4. off-diagonal blocks.
    dye = (dy_c * torch.exp(cs)[..., None]).view(b, c, q, g, r * p).transpose(2, 3)  # (b,c,g,q,rp)
    H_prev = H[:, :c].reshape(b, c, g, r * p, n)
    dC = dye @ H_prev  # (b, c, g, q, n)
    dH_off = (dye.transpose(-1, -2) @ C_g).view(b, c, h, p, n)

    # 3. state passing, reversed: dH_end[:, i] is the gradient of the state leaving chunk i.
    decay = torch.exp(cs[:, :, -1])  # (b, c, h)
    dH_end = torch.empty_like(dH_off)
    carry = dh_final
    for i in reversed(range(c)):
        dH_end[:, i] = carry
        carry = torch.addcmul(dH_off[:, i], carry, decay[:, i, :, None, None])
    dh0 = carry
    dcs[:, :, -1] += (dH_end * H[:, 1:]).sum((-1, -2))

    # 2. chunk states.
    w = torch.exp(cs[:, :, -1:] - cs)  # (b, c, q, h)
    xd = x_c * dt_c[..., None]  # (b, c, q, h, p)
    dH_g = dH_end.view(b, c, g, r * p, n)
    xw = (xd * w[..., None]).view(b, c, q, g, r * p).transpose(2, 3)  # (b, c, g, q, rp)
    dB = xw @ dH_g  # (b, c, g, q, n)
    dxd = (B_g @ dH_g.transpose(-1, -2)).view(b, c, g, q, r, p)
    dxd = dxd.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, c, q, h, p) * w[..., None]

    # 1. diagonal blocks.
    dy_T = dy_c.transpose(2, 3)  # (b, c, h, q, p)
    dxd += (M.transpose(-1, -2) @ dy_T).transpose(2, 3)
    dCB = (dy_T @ xd.permute(0, 1, 3, 4, 2)).mul_(L)  # (b, c, h, q, q)
    dCB = dCB.view(b, c, g, r, q, q).sum(3).masked_fill_(~_tril(q, x.device), 0.0)
    dC += dCB @ B_g
    dB += dCB.transpose(-1, -2) @ C_g

    # Δx, then the log-decay cumsum: da_k = Σ_{i≥k} dcs_i within the chunk.
    dx = dxd * dt_c[..., None]
    ddt = (dxd * x_c).sum(-1)  # (b, c, q, h)
    dcs -= dt_c * ddt
    da = dcs.flip(2).cumsum(2).flip(2)
    ddt += da * A
    dA = (da * dt_c).sum((0, 1, 2))
    dB = dB.transpose(2, 3).reshape(b, l, g, n)
    dC = dC.transpose(2, 3).reshape(b, l, g, n)
    return dx.view(b, l, h, p), ddt.view(b, l, h), dA, dB, dC, dh0


class _ChunkScan(torch.autograd.Function):
    """(x, Δ, A, B, C, h0) -> (y without D or gate, final state), fp32, l a multiple of q."""

    @staticmethod
    def forward(ctx, x, dt, A, B, C, h0, q):
        y, H, (cs, L, M) = _chunk_forward(x, dt, A, B, C, h0, q)
        ctx.save_for_backward(x, dt, A, B, C, y, H, cs, L, M)
        ctx.q = q
        ctx.has_h0 = h0 is not None
        return y, H[:, -1]

    @staticmethod
    def backward(ctx, dy, dh_final):
        x, dt, A, B, C, y, H, cs, L, M = ctx.saved_tensors
        grads = _chunk_backward(dy.contiguous(), dh_final, x, dt, A, B, C, y, H, cs, L, M, ctx.q)
        dx, ddt, dA, dB, dC, dh0 = grads
        return dx, ddt, dA, dB, dC, (dh0 if ctx.has_h0 else None), None


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
    y, final_state = _ChunkScan.apply(xs, dts, A, Bs, Cs, h0, q)
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

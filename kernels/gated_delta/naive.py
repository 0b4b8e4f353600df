"""Gated delta rule reference: the recurrence, one time step at a time. Slow, obviously correct.

Shape legend:
    b  batch     l  sequence length     h  heads     dk  key/query dim     dv  value dim

Math (per head; Yang, Kautz & Hatamizadeh 2024, "Gated Delta Networks", eq. 10), with the state
S of shape (dk, dv) and α_t = exp(g_t):
    S ← α_t S                                   (gated decay)
    S ← S + β_t k_t (v_t − Sᵀ k_t)ᵀ              (delta rule: write v_t over what k_t recalls)
    o_t = Sᵀ (scale · q_t)
i.e. S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ. Computes in fp32.
"""

from __future__ import annotations

import torch


def gated_delta_rule_naive(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sequential gated delta rule; same contract as `hybridlab.kernels.gated_delta_rule`
    (`scale` already resolved to a float by the public entry)."""
    dtype = v.dtype
    batch, length, num_heads, dk = k.shape
    dv = v.shape[-1]
    q, k, v, g, beta = (t.float() for t in (q, k, v, g, beta))
    if initial_state is None:
        state = q.new_zeros(batch, num_heads, dk, dv)  # (b, h, dk, dv)
    else:
        state = initial_state.float()
    outs = []
    for t in range(length):
        k_t = k[:, t]  # (b, h, dk)
        state = state * torch.exp(g[:, t])[..., None, None]
        recalled = torch.einsum("bhkv,bhk->bhv", state, k_t)  # (b, h, dv)
        delta = beta[:, t, :, None] * (v[:, t] - recalled)  # (b, h, dv)
        state = state + k_t[..., :, None] * delta[..., None, :]
        outs.append(torch.einsum("bhkv,bhk->bhv", state, q[:, t] * scale))
    o = torch.stack(outs, dim=1).to(dtype)  # (b, l, h, dv)
    if return_final_state:
        return o, state.to(dtype)
    return o


def gated_delta_step_torch(
    state: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """One step of the recurrence above, `state` (b, h, dk, dv) updated in place (fp32 inside,
    written back in the state's dtype); returns o (b, h, dv) in v's dtype."""
    dtype = v.dtype
    q, k, v, g, beta = (t.float() for t in (q, k, v, g, beta))
    decayed = state.float() * torch.exp(g)[..., None, None]  # (b, h, dk, dv)
    recalled = torch.einsum("bhkv,bhk->bhv", decayed, k)  # (b, h, dv)
    delta = beta[..., None] * (v - recalled)  # (b, h, dv)
    new = decayed + k[..., :, None] * delta[..., None, :]
    o = torch.einsum("bhkv,bhk->bhv", new, q * scale)
    state.copy_(new)
    return o.to(dtype)

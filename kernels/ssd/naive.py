"""Mamba-2 SSD reference: the recurrence, one time step at a time. Slow, obviously correct.

Shape legend:
    b  batch            l  sequence length     h  heads        p  head dim (headdim)
    g  groups (ngroups; B and C are shared by the h/g heads of a group)   n  state size (d_state)

Math (per head; Dao & Gu 2024, "Transformers are SSMs", §3):
    Δ_t = softplus(dt_t + dt_bias) if dt_softplus else dt_t + dt_bias
    h_t = exp(Δ_t A) h_{t-1} + Δ_t x_t B_tᵀ          h_t: (p, n)
    y_t = h_t C_t + D x_t,   then y_t *= silu(z_t) if z is given
Head `i` reads group `i // (h // g)` of B and C.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ssd_naive(
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
    """Sequential SSD; same contract as `hybridlab.kernels.ssd` (`chunk_size` is ignored)."""
    del chunk_size
    dtype = x.dtype
    batch, length, num_heads, headdim = x.shape
    num_groups, d_state = B.shape[2], B.shape[3]
    x, dt, A, B, C = (t.float() for t in (x, dt, A, B, C))
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    heads_per_group = num_heads // num_groups
    B = B.repeat_interleave(heads_per_group, dim=2)  # (b, l, h, n)
    C = C.repeat_interleave(heads_per_group, dim=2)  # (b, l, h, n)

    if initial_state is None:
        state = x.new_zeros(batch, num_heads, headdim, d_state)  # (b, h, p, n)
    else:
        state = initial_state.float()
    ys = []
    for t in range(length):
        decay = torch.exp(dt[:, t] * A)  # (b, h)
        inp = (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, :, None, :]  # (b, h, p, n)
        state = decay[..., None, None] * state + inp
        ys.append((state * C[:, t, :, None, :]).sum(-1))  # (b, h, p)
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(x.shape)  # (b, l, h, p)

    if D is not None:
        D = D.float()
        y = y + (D[:, None] if D.dim() == 1 else D) * x
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(dtype)
    if return_final_state:
        return y, state.to(dtype)
    return y

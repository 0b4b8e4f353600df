"""Mamba-1 selective scan reference: the recurrence, one time step at a time.

Shape legend:
    b  batch      d  channels (d_inner)      l  sequence length      n  state size (d_state)
    g  groups of channels sharing B and C (B, C given as (b, g, n, l); (b, n, l) means g = 1)

Math (Gu & Dao 2023, "Mamba", §3; zero-order hold for A, Euler for B):
    Δ_t = softplus(delta_t + delta_bias) if delta_softplus else delta_t + delta_bias
    h_t = exp(Δ_t A) ∘ h_{t-1} + Δ_t u_t B_t           h_t: (d, n), A: (d, n)
    y_t = h_t C_t + D u_t,   then y_t *= silu(z_t) if z is given
Channel `i` reads group `i // (d // g)` of B and C.

`selective_state_update_naive` is one step of the same recurrence, for either layout of
`hybridlab.kernels.selective_state_update` (SSD's (b, h, p, n) state or Mamba-1's (b, d, n)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def selective_scan_naive(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sequential selective scan; same contract as `hybridlab.kernels.selective_scan`."""
    dtype = u.dtype
    batch, channels, length = u.shape
    d_state = A.shape[1]
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    if B.dim() == 3:
        B = B[:, None]
    if C.dim() == 3:
        C = C[:, None]
    B = B.repeat_interleave(channels // B.shape[1], dim=1)  # (b, d, n, l)
    C = C.repeat_interleave(channels // C.shape[1], dim=1)  # (b, d, n, l)

    if initial_state is None:
        state = u.new_zeros(batch, channels, d_state)  # (b, d, n)
    else:
        state = initial_state.float()
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)  # (b, d, n)
        state = decay * state + (delta[:, :, t] * u[:, :, t])[..., None] * B[..., t]
        ys.append((state * C[..., t]).sum(-1))  # (b, d)
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(u.shape)  # (b, d, l)

    if D is not None:
        y = y + D.float()[:, None] * u
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(dtype)
    if return_final_state:
        return y, state.to(dtype)
    return y


def selective_state_update_naive(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
) -> torch.Tensor:
    """Reference implementation of `selective_state_update`: the recurrence as written, fp32
    inside, groups expanded to heads (channels) with `repeat_interleave`."""
    dtype = x.dtype
    x, dt, A, B, C = (t.float() for t in (x, dt, A, B, C))
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    h_prev = state.float()
    if state.dim() == 4:
        heads = state.shape[1]
        B = B.repeat_interleave(heads // B.shape[1], dim=1)[:, :, None, :]  # (b, h, 1, n)
        C = C.repeat_interleave(heads // C.shape[1], dim=1)[:, :, None, :]  # (b, h, 1, n)
        decay = torch.exp(dt * A)[..., None, None]  # (b, h, 1, 1)
        inp = (dt[..., None] * x)[..., None] * B  # (b, h, p, n)
        if D is not None:
            D = D.float()[:, None] if D.dim() == 1 else D.float()  # (h, 1) or (h, p)
    else:
        channels = state.shape[1]
        if B.dim() == 2:
            B, C = B[:, None], C[:, None]
        B = B.repeat_interleave(channels // B.shape[1], dim=1)  # (b, d, n)
        C = C.repeat_interleave(channels // C.shape[1], dim=1)  # (b, d, n)
        decay = torch.exp(dt[..., None] * A)  # (b, d, n)
        inp = (dt * x)[..., None] * B  # (b, d, n)
    h_new = decay * h_prev + inp
    y = (h_new * C).sum(-1)  # (b, h, p) or (b, d)
    if D is not None:
        y = y + D.float() * x
    if z is not None:
        y = y * F.silu(z.float())
    state.copy_(h_new)
    return y.to(dtype)

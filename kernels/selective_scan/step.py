"""One decode step of either SSM on CPU, the recurrent state advanced in place.

Shape legend:
    b  batch     h  heads     p  head dim     g  groups     n  state size     d  channels

Two layouts, told apart by the state's rank (as in mamba_ssm's `selective_state_update`):
    SSD (Mamba-2):    state (b, h, p, n)  x (b, h, p)  dt (b, h)  A (h,)    B, C (b, g, n)
                      D (h,) or (h, p)    z (b, h, p)  dt_bias (h,)
    Mamba-1:          state (b, d, n)     x (b, d)     dt (b, d)  A (d, n)  B, C (b, n) or (b, g, n)
                      D (d,)              z (b, d)     dt_bias (d,)
One step of the recurrence of `ssd` / `selective_scan`:
    h <- exp(Δ A) h + Δ x Bᵀ,   y = h C + D x,   y *= silu(z)
SSD's step is Mamba-1's with A one scalar per head, shared by its p rows and n columns; the
contract is that of `hybridlab.kernels.selective_state_update` (selective_scan/__init__.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def selective_state_update_torch(
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
    """The decode path: about half the ops of the reference, and no new state tensor.

    At batch 1 a decode step is a few dozen tiny ops, each costing its dispatch overhead rather
    than its arithmetic, so the op count is the cost. Here the heads (channels) of a group are
    viewed as one (b, g, r, n) block, r = heads/g · p (or channels/g), so B and C broadcast over
    them without being copied per head; a fp32, contiguous state is advanced in place
    (h ← exp(ΔA)·h, then h += (Δx)·Bᵀ as one `addcmul_`) and read out with one batched matmul
    (y = h·C). Any other state is advanced in a fp32 copy and written back, as the reference does.
    """
    f32 = torch.float32
    dtype = x.dtype
    x, dt = x.to(f32), dt.to(f32)
    if dt_bias is not None:
        dt = dt + dt_bias.to(f32)
    if dt_softplus:
        dt = F.softplus(dt)
    in_place = state.dtype == f32 and state.is_contiguous()
    h = state if in_place else state.to(f32).contiguous()
    b = state.shape[0]
    if B.dim() == 2:  # Mamba-1 with one group: (b, n)
        B, C = B[:, None], C[:, None]
    g, n = B.shape[1], B.shape[2]
    if state.dim() == 4:
        decay = torch.exp(dt * A.to(f32))[..., None, None]  # (b, h, 1, 1)
        dtx = dt[..., None] * x  # (b, h, p)
    else:
        decay = torch.exp(dt[..., None] * A.to(f32))  # (b, d, n)
        dtx = dt * x  # (b, d)
    h.mul_(decay)
    h_grouped = h.view(b, g, -1, n)  # (b, g, r, n)
    h_grouped.addcmul_(dtx.reshape(b, g, -1, 1), B.to(f32)[:, :, None, :])
    y = torch.matmul(h_grouped, C.to(f32)[..., None]).view(x.shape)  # (b, h, p) or (b, d)
    if D is not None:
        D = D.to(f32)
        y = y.addcmul_(D[:, None] if state.dim() == 4 and D.dim() == 1 else D, x)
    if z is not None:
        y = y.mul_(F.silu(z.to(f32)))
    if not in_place:
        state.copy_(h)
    return y.to(dtype)

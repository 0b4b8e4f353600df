"""A float64 SSD recurrence and the inputs of the decay sweep (CPU and Triton tests).

Shape legend: b batch, l length, h heads, p head dim, g groups, n state size.

`reference` is the recurrence of `hybridlab.kernels.ssd` without D, z or dt's bias and softplus
(Δ is dt itself), in float64 with autograd: the ground truth for gradient accuracy, which the
fp32 naive backend cannot be at 1e-4 (its own rounding is about 1e-6, its tests compare at 5e-3).
"""

from __future__ import annotations

import torch


def reference(x, dt, A, B, C, initial_state):
    """(y, final state) of h_t = exp(Δ_t A) h_{t-1} + Δ_t x_t B_tᵀ, y_t = h_t C_t, in float64."""
    x, dt, A, B, C, state = (t.double() for t in (x, dt, A, B, C, initial_state))
    heads_per_group = x.shape[2] // B.shape[2]
    B = B.repeat_interleave(heads_per_group, dim=2)  # (b, l, h, n)
    C = C.repeat_interleave(heads_per_group, dim=2)
    ys = []
    for t in range(x.shape[1]):
        decay = torch.exp(dt[:, t] * A)[..., None, None]  # (b, h, 1, 1)
        state = decay * state + (dt[:, t, :, None] * x[:, t])[..., None] * B[:, t, :, None, :]
        ys.append((state * C[:, t, :, None, :]).sum(-1))  # (b, h, p)
    return torch.stack(ys, dim=1), state


def decay_sweep_inputs(l, dt_range, A, *, b=1, p=4, g=1, n=8, seed=0) -> dict:
    """SSD inputs whose steps Δ ~ U(dt_range) and rates A (one per head) set |Δ·A| per token."""
    gen = torch.Generator().manual_seed(seed)
    h = len(A)
    lo, hi = dt_range
    return {
        "x": torch.randn(b, l, h, p, generator=gen),
        "dt": torch.rand(b, l, h, generator=gen) * (hi - lo) + lo,
        "A": torch.tensor(A, dtype=torch.float32),
        "B": torch.randn(b, l, g, n, generator=gen),
        "C": torch.randn(b, l, g, n, generator=gen),
        "initial_state": torch.randn(b, h, p, n, generator=gen),
    }

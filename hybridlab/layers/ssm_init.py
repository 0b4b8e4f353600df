"""The step size Δ and the decay A of the SSM mixers (Mamba-1, Mamba-2, Gated DeltaNet): their
initialisation and how A is read from its parameter.

Every mixer stores A through `A_log` (A = -exp(A_log) < 0, so the state decays by exp(Δ·A) ≤ 1
for any value the optimiser reaches) and Δ through a bias inside a softplus (Δ = softplus(· +
dt_bias) > 0).
"""

from __future__ import annotations

import math

import torch

# An A drawn below this (FLA's Gated DeltaNet draws A from U(0, 16), so exactly 0 can come out)
# is raised to it: its log is finite, and any smaller A is no decay anyway.
A_INIT_FLOOR = 1e-6


def inverse_softplus_dt(
    num: int, dt_min: float, dt_max: float, floor: float = 1e-4
) -> torch.Tensor:
    """dt biases whose softplus is log-uniform in [dt_min, dt_max] (Mamba's dt initialisation;
    a dt below `floor` is raised to it)."""
    dt = torch.exp(torch.rand(num) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


def uniform_A_log(num: int, low: float, high: float) -> torch.Tensor:
    """log A for `num` values A ~ U(low, high), each at least `A_INIT_FLOOR` (Mamba-2: [1, 16];
    FLA's Gated DeltaNet: [0, 16])."""
    A = torch.empty(num).uniform_(low, high).clamp_min(A_INIT_FLOOR)
    return torch.log(A)


def s4d_real_A_log(channels: int, d_state: int) -> torch.Tensor:
    """log A for S4D-real's A = 1..d_state, the same for each of `channels` (Mamba-1):
    (channels, d_state)."""
    A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(channels, 1)
    return torch.log(A)


def decay_from_log(A_log: torch.Tensor) -> torch.Tensor:
    """A = -exp(A_log) in float32, the (negative) decay rate the kernels take."""
    return -torch.exp(A_log.float())

"""RMSNorm, Mamba-2's gated, grouped RMSNorm and Gated DeltaNet's gated output norm.

Shapes: (..., D)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """y = x / rms(x) · weight, computed in float32 and returned in the input dtype."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(x.dtype)


class GatedRMSNorm(nn.Module):
    """Mamba-2's output norm: rmsnorm(x · silu(z)) per group of `dim / ngroups` channels, · weight.

    Normalising per group keeps the layer equivalent under tensor parallelism over groups (mamba_ssm
    `RMSNormGated(group_size=d_inner // ngroups, norm_before_gate=False)`).
    """

    def __init__(self, dim: int, ngroups: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.group_size = dim // ngroups
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.float() * F.silu(z.float())
        h = h.unflatten(-1, (-1, self.group_size))
        h = F.rms_norm(h, (self.group_size,), eps=self.eps).flatten(-2)
        return (h * self.weight.float()).to(dtype)


class NormThenGate(nn.Module):
    """Gated DeltaNet's output norm: rmsnorm(x) · weight · silu(z) over the last dim.

    The order differs from `GatedRMSNorm`: normalise first, then gate (FLA's `FusedRMSNormGated`,
    mamba_ssm's `norm_before_gate=True`). Applied per head, so `weight` (dim,) is shared by the
    heads.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps)
        return (h * F.silu(z.float())).to(x.dtype)

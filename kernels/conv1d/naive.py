"""Causal conv1d references: the sums over taps as written, for a sequence and a decode step.

Shape legend: b batch, d channels, l sequence length, w kernel width. The contract is that of
`hybridlab.kernels.causal_conv1d` and `causal_conv1d_update` (conv1d/__init__.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pad_left(x: torch.Tensor, width: int, initial_state: torch.Tensor | None) -> torch.Tensor:
    """x (b, d, l) preceded by w - 1 earlier inputs: (b, d, w - 1 + l), fp32."""
    if initial_state is None:
        return F.pad(x, (width - 1, 0))
    return torch.cat([initial_state[..., initial_state.shape[-1] - (width - 1) :].float(), x], -1)


def _finish(y, bias, activation, x_pad, width, dtype, return_final_state):
    if bias is not None:
        y = y + bias.float()[:, None]
    if activation is not None:
        y = F.silu(y)
    y = y.to(dtype)
    if return_final_state:
        return y, x_pad[..., -width:].to(dtype)
    return y


def causal_conv1d_naive(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    activation: str | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Reference: an explicit sum over the w taps."""
    dtype, length, width = x.dtype, x.shape[-1], weight.shape[-1]
    x_pad = _pad_left(x.float(), width, initial_state)  # (b, d, w - 1 + l)
    weight = weight.float()
    y = sum(weight[:, k, None] * x_pad[..., k : k + length] for k in range(width))
    return _finish(y, bias, activation, x_pad, width, dtype, return_final_state)


def causal_conv1d_update_naive(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """Reference: roll the state one token on (in place) and return this token's output."""
    width = weight.shape[-1]
    conv_state.copy_(conv_state.roll(-1, dims=-1))
    conv_state[..., -1] = x
    y = (conv_state[..., -width:].float() * weight.float()).sum(-1)  # (b, d)
    if bias is not None:
        y = y + bias.float()
    if activation is not None:
        y = F.silu(y)
    return y.to(x.dtype)

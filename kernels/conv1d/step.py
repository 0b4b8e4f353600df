"""One decode step of the causal conv1d on CPU: the conv state rolled one token on, in place.

Shape legend: b batch, d channels, s conv-state length (≥ w), w kernel width. The contract is
that of `hybridlab.kernels.causal_conv1d_update` (conv1d/__init__.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_conv1d_update_torch(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """The decode path: the shifted window is built once (one concatenation), convolved, and
    copied back into the preallocated state; the reference's roll, copy and scatter are one op
    each more. In-place activation and bias on the fresh output."""
    width = weight.shape[-1]
    window = torch.cat([conv_state[..., 1:], x[..., None].to(conv_state.dtype)], -1)  # (b, d, s)
    conv_state.copy_(window)
    f32 = torch.float32
    y = (window[..., -width:].to(f32) * weight.to(f32)).sum(-1)  # (b, d)
    if bias is not None:
        y += bias.to(f32)
    if activation is not None:
        y = F.silu(y, inplace=True)
    return y.to(x.dtype)

"""Causal depthwise conv1d (the short convolution before Mamba's SSM) and its decode step.

Shape legend:
    b  batch     d  channels     l  sequence length     w  kernel width (d_conv)

    y[:, c, t] = bias[c] + Σ_{k<w} weight[c, k] · x̃[:, c, t + k],
where x̃ is x preceded by w - 1 earlier inputs (zeros, or the last w - 1 columns of
`initial_state`), then an optional SiLU. Layouts follow the causal-conv1d package.

The conv state that decoding carries is the last w inputs, (b, d, w), oldest first.
`causal_conv1d(..., return_final_state=True)` returns it after a prefill (zero-padded on the left
when l < w and no initial state is given) and `causal_conv1d_update` rolls it one token on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hybridlab.kernels._checks import check_backend, check_bool, check_tensors
from hybridlab.kernels._dispatch import resolve

_ACTIVATIONS = (None, "silu", "swish")


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


def causal_conv1d_torch(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    activation: str | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The w taps as multiply-adds over channels-last (b, l, d) views, with a hand-written
    backward (`_TapSum`). Mamba's layers hand in x as a transposed (b, l, d) projection, so no
    copy is made; measured against `F.conv1d` (oneDNN's depthwise backward) on a d_model-64
    Mamba-2's conv, b 32, l 64, d 160, fp32, one thread: fwd+bwd with SiLU 3.6 ms, was 7.3 ms."""
    dtype, width = x.dtype, weight.shape[-1]
    x_bld = x.float().transpose(1, 2)  # (b, l, d)
    if initial_state is None:
        head = x_bld.new_zeros(x_bld.shape[0], width - 1, x_bld.shape[2])
    else:
        tail = initial_state[..., initial_state.shape[-1] - (width - 1) :]
        head = tail.float().transpose(1, 2)  # (b, w - 1, d)
    x_pad = torch.cat([head, x_bld], 1)  # (b, w - 1 + l, d)
    y = _TapSum.apply(x_pad, weight.float(), None if bias is None else bias.float(), activation)
    y = y.transpose(1, 2).to(dtype)  # (b, d, l)
    if return_final_state:
        return y, x_pad[:, -width:].transpose(1, 2).to(dtype)
    return y


class _TapSum(torch.autograd.Function):
    """y[:, t] = act(bias + Σ_k weight[:, k] · x_pad[:, t + k]) on (b, w - 1 + l, d) inputs."""

    @staticmethod
    def forward(ctx, x_pad, weight, bias, activation):
        width = weight.shape[1]
        length = x_pad.shape[1] - (width - 1)
        pre = x_pad[:, width - 1 :] * weight[:, width - 1]
        if bias is not None:
            pre += bias
        for k in range(width - 1):
            pre.addcmul_(x_pad[:, k : k + length], weight[:, k])
        ctx.save_for_backward(x_pad, weight, pre if activation is not None else None)
        ctx.has_bias = bias is not None
        return F.silu(pre) if activation is not None else pre

    @staticmethod
    def backward(ctx, dy):
        x_pad, weight, pre = ctx.saved_tensors
        width = weight.shape[1]
        length = x_pad.shape[1] - (width - 1)
        if pre is not None:
            # d silu(u) / du = σ(u) · (1 + u · (1 − σ(u)))
            sig = torch.sigmoid(pre)
            dpre = dy * sig * (1.0 + pre * (1.0 - sig))
        else:
            dpre = dy.contiguous()
        dx_pad = torch.zeros_like(x_pad)
        dweight = torch.empty_like(weight)
        flat = dpre.reshape(-1, dpre.shape[-1])  # (b·l, d)
        for k in range(width):
            dx_pad[:, k : k + length].addcmul_(dpre, weight[:, k])
            tap = x_pad[:, k : k + length].reshape(-1, x_pad.shape[-1])
            dweight[:, k] = (flat * tap).sum(0)
        dbias = flat.sum(0) if ctx.has_bias else None
        return dx_pad, dweight, dbias, None


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


def _check_common(name, channels, weight, bias, activation) -> None:
    if weight.dim() != 2 or weight.shape[0] != channels:
        raise ValueError(f"{name}: weight must be ({channels}, width), got {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(f"{name}: bias must be ({channels},), got {tuple(bias.shape)}")
    if activation is not None and not isinstance(activation, str):
        raise TypeError(
            f"{name}: activation must be None or a str, got {activation!r} "
            f"({type(activation).__name__})"
        )
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{name}: activation must be one of {_ACTIVATIONS}, got {activation!r}")


def causal_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    activation: str | None = None,
    return_final_state: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Causal depthwise 1-D convolution over a whole sequence. Computes in fp32; returns x's dtype.

    Accepted (checked here, once, for every backend; kernels/_checks.py): every tensor float32,
    bfloat16 or float16 (mixed freely), all on one device, no dimension of size 0 (a width-0
    filter included). float64, integer, bool and complex tensors and None for a required tensor
    are TypeErrors; meta tensors, mixed devices, zero sizes and wrong shapes are ValueErrors;
    each message names the argument. A NaN or inf at position t never changes an output
    before t.

    Args:
        x: inputs, (b, d, l).
        weight: one filter per channel, (d, w), w ≥ 1.
        bias: (d,); None for none.
        initial_state: inputs before x, (b, d, s) with s ≥ max(w - 1, 1); its last w - 1
            columns are used, so a conv state (b, d, w) from a prefill or from
            `causal_conv1d_update` fits. None means zeros.
        activation: None, or "silu" (alias "swish").
        return_final_state: bool; also return the conv state for decoding: the last w inputs,
            (b, d, w), oldest first, zero-padded on the left when fewer than w were seen.
        backend: "auto", "torch" (channels-last multiply-adds with a hand-written backward),
            "naive" (a sum over taps, through autograd) or "triton".

    Returns:
        y of shape (b, d, l), or (y, final_state) when return_final_state.

    Example:
        >>> x, weight = torch.randn(2, 8, 10), torch.randn(8, 4)
        >>> y, conv_state = causal_conv1d(x, weight, activation="silu", return_final_state=True)
        >>> y.shape, conv_state.shape
        (torch.Size([2, 8, 10]), torch.Size([2, 8, 4]))
    """
    name = "causal_conv1d"
    check_tensors(name, {"x": x, "weight": weight}, {"bias": bias, "initial_state": initial_state})
    check_bool(name, "return_final_state", return_final_state)
    check_backend(name, backend)
    if x.dim() != 3:
        raise ValueError(f"{name}: x must be (batch, channels, length), got {tuple(x.shape)}")
    _check_common(name, x.shape[1], weight, bias, activation)
    width = weight.shape[1]
    if initial_state is not None and (
        initial_state.dim() != 3
        or initial_state.shape[:2] != x.shape[:2]
        or initial_state.shape[2] < width - 1
    ):
        raise ValueError(
            f"causal_conv1d: initial_state must be ({x.shape[0]}, {x.shape[1]}, s) with "
            f"s >= {width - 1}, got {tuple(initial_state.shape)}"
        )
    impl = resolve("causal_conv1d", backend, x.device)
    return impl(x, weight, bias, initial_state, activation, return_final_state)


def causal_conv1d_update(
    x: torch.Tensor,
    conv_state: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """One decode step: shift `x` into `conv_state` (in place) and convolve.

    Accepted as by `causal_conv1d` (kernels/_checks.py): float32/bfloat16/float16 tensors, the
    conv state included (an integer state would be truncated in place: a TypeError), on one
    device, no dimension of size 0.

    Args:
        x: this token's input, (b, d).
        conv_state: the last inputs, (b, d, s) with s ≥ w, oldest first; rolled left by one and
            x written at the end, in place.
        weight: (d, w), w ≥ 1.
        bias: (d,); None for none.
        activation: None, or "silu" (alias "swish").
        backend: "auto", "torch" (one concatenation, then in place), "naive" (roll and
            scatter, the reference) or "triton".

    Returns:
        y of shape (b, d), x's dtype.

    Example:
        >>> conv_state = torch.zeros(2, 8, 4)
        >>> y = causal_conv1d_update(torch.randn(2, 8), conv_state, torch.randn(8, 4))
        >>> y.shape
        torch.Size([2, 8])
    """
    name = "causal_conv1d_update"
    check_tensors(name, {"x": x, "conv_state": conv_state, "weight": weight}, {"bias": bias})
    check_backend(name, backend)
    if x.dim() != 2:
        raise ValueError(f"{name}: x must be (batch, channels), got {tuple(x.shape)}")
    _check_common(name, x.shape[1], weight, bias, activation)
    if (
        conv_state.dim() != 3
        or tuple(conv_state.shape[:2]) != tuple(x.shape)
        or conv_state.shape[2] < weight.shape[1]
    ):
        raise ValueError(
            f"causal_conv1d_update: conv_state must be ({x.shape[0]}, {x.shape[1]}, s) with "
            f"s >= {weight.shape[1]}, got {tuple(conv_state.shape)}"
        )
    impl = resolve("causal_conv1d_update", backend, x.device)
    return impl(x, conv_state, weight, bias, activation)

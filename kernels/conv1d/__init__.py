"""Causal depthwise conv1d (the short convolution before the SSMs): public entries and checks.

Shape legend:
    b  batch     d  channels     l  sequence length     w  kernel width (d_conv)

    y[:, c, t] = bias[c] + Σ_{k<w} weight[c, k] · x̃[:, c, t + k],
where x̃ is x preceded by w - 1 earlier inputs (zeros, or the last w - 1 columns of
`initial_state`), then an optional SiLU. Layouts follow the causal-conv1d package.

The conv state that decoding carries is the last w inputs, (b, d, w), oldest first.
`causal_conv1d(..., return_final_state=True)` returns it after a prefill (zero-padded on the left
when l < w and no initial state is given) and `causal_conv1d_update` rolls it one token on.

Backends of both entries: "naive" (naive.py, the sums as written, the ground truth), "torch"
(taps.py for a sequence, step.py for a decode step; what CPUs run) and "triton" (triton/, what
GPUs run). "auto" resolves through hybridlab.kernels._dispatch.
"""

from __future__ import annotations

import torch
from hybridlab.kernels._checks import check_backend, check_bool, check_tensors, check_updatable
from hybridlab.kernels._dispatch import resolve

_ACTIVATIONS = (None, "silu", "swish")


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
    check_updatable(name, "conv_state", conv_state)
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

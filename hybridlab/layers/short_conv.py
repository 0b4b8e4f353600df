"""`ShortConvolution`: the causal depthwise convolution in front of every SSM mixer, with its
decoding state.

Mamba-1, Mamba-2 and Gated DeltaNet all run their inputs through a short (d_conv = 4 taps) causal
depthwise convolution and a SiLU before the recurrence. This module is that convolution, once:
its weight (C, K) and optional bias, their initialisation, the whole-sequence path (starting
from a cache's state and writing the final one back), the one-token decoding step, and the
allocation of its state. The layers hold it as `conv1d`, so its parameters are
`<layer>.conv1d.weight` and `<layer>.conv1d.bias`, the names mamba_ssm and Hugging Face use.

Shapes: B batch, T tokens, C channels, K kernel_size (d_conv).
"""

from __future__ import annotations

import math

import torch
from torch import nn

import hybridlab.kernels as kernels


class ShortConvolution(nn.Module):
    """A causal depthwise conv1d over (B, T, C) inputs, through `hybridlab.kernels.causal_conv1d`.

    The decoding state is the last K inputs, a (B, C, K) tensor from `allocate_cache`, which
    `forward(x, cache)` and `step(x, cache)` update in place.

    Args:
        channels: C, the number of channels (each convolved alone).
        kernel_size: K, the number of taps (d_conv).
        bias: whether the conv has a bias (C,).
        activation: "silu" (as every SSM mixer here uses) or None, applied after the bias.
        device, dtype: where and how the parameters are created (PyTorch's factory arguments).
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: str | None = "silu",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.activation = activation
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(channels, kernel_size, **factory))  # (C, K)
        if bias:
            self.bias = nn.Parameter(torch.empty(channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """nn.Conv1d's default initialisation for a depthwise conv: U(±1/√K), fan_in = K."""
        bound = 1 / math.sqrt(self.kernel_size)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C). With a cache (B, C, K), `x` continues the sequence it holds,
        and the cache is overwritten with the last K inputs."""
        out = kernels.causal_conv1d(
            x.transpose(1, 2),
            self.weight,
            self.bias,
            activation=self.activation,
            initial_state=cache,
            return_final_state=cache is not None,
        )  # (B, C, T)
        if cache is not None:
            out, final_state = out
            cache.copy_(final_state)
        return out.transpose(1, 2)

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        """One token: x (B, C) -> (B, C), rolling the cache (B, C, K) on by one input in place."""
        return kernels.causal_conv1d_update(
            x, cache, self.weight, self.bias, activation=self.activation
        )

    def allocate_cache(
        self,
        batch: int,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """An empty decoding state (batch, C, K); dtype and device default to the weight's."""
        return torch.zeros(
            batch,
            self.channels,
            self.kernel_size,
            dtype=dtype or self.weight.dtype,
            device=device or self.weight.device,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, kernel_size={self.kernel_size}, bias={self.bias is not None}, "
            f"activation={self.activation}"
        )

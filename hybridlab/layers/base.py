"""The layer contract every kind's module follows, and the decoding caches.

Shapes: B batch, T tokens, D d_model.

A layer maps `x_BTD -> y_BTD` and offers:
  - `forward(x_BTD, cache=None)`: the whole sequence. With a cache, `x` continues the sequence
    the cache holds (a prefill from an empty cache, or a chunk after earlier ones) and the cache
    is updated in place.
  - `allocate_cache(batch, max_len, dtype, device)`: an empty decoding cache for sequences of up
    to `max_len` tokens, or None for stateless kinds. Its bytes equal the cost model's
    `state_numel · itemsize` for one sequence, times `batch`.
  - `step(x_BD, cache)`: one token, updating the cache in place.
Blocks and the model never branch on the kind: the cache is opaque to them.

Initialisation belongs to each kind, with one convention shared by all: the projection that
writes into the residual stream (attention's and the Mamba blocks' `out_proj`, the MLP's
`w_out`) starts at N(0, RESIDUAL_OUT_STD²). Each block then adds a small update to the token
embeddings (also std 0.02), whatever its kind. PyTorch's default for a Linear (kaiming-uniform,
std 1/√(3·fan_in): 0.051 for the 128 inputs of a d_model-64 Mamba-2's out_proj) made the Mamba
blocks' first updates 2.5x larger than attention's and swamped the token identity a following
attention layer looks up: an `ssd, attn` MQAR proxy sat on the 1/num_kv_pairs plateau for 1,000
steps where the same stack with this init reached 0.96 (benchmarks/README.md, "Why SSD stacks
sat on the plateau").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import nn

from hybridlab.spec.kinds import LayerConfig

# The std of every kind's residual output projection at initialisation (GPT-2's 0.02).
RESIDUAL_OUT_STD = 0.02


class Cache:
    """Base of decoding caches: a few tensors updated in place, and their size."""

    def tensors(self) -> list[torch.Tensor]:
        return [
            getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        ]  # type: ignore[arg-type]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())


@dataclass(eq=False)
class SSMCache(Cache):
    """Mamba-1/2 decoding state: the last `d_conv` conv inputs and the SSM state."""

    conv_state: torch.Tensor  # (B, conv_channels, d_conv)
    ssm_state: torch.Tensor  # (B, H, P, N) for ssd, (B, Di, N) for scan


@dataclass(eq=False)
class KVCache(Cache):
    """Attention keys and values, kept for the last `size` positions (a ring buffer when windowed).

    Position `t` lives in slot `t % size`; `pos` counts the tokens seen so far.
    """

    k: torch.Tensor  # (B, kv_heads, size, head_dim)
    v: torch.Tensor  # (B, kv_heads, size, head_dim)
    pos: int = 0


class Layer(nn.Module):
    """Base class of layer modules: a kind's config, the model width, and the contract above."""

    config_cls: ClassVar[type[LayerConfig]]

    def __init__(self, config: LayerConfig, d_model: int) -> None:
        super().__init__()
        self.config = config
        self.d_model = d_model

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        raise NotImplementedError

    def allocate_cache(
        self,
        batch: int,
        max_len: int,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Cache | None:
        return None

    def step(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        return self.forward(x.unsqueeze(1), cache).squeeze(1)

    def extra_repr(self) -> str:
        from hybridlab.spec.model_spec import format_layer

        return format_layer(self.config)

"""`HybridLM`: a language model built from a `ModelSpec`.

Shapes: B batch, T tokens, D d_model, V vocab_size.

embedding -> [x + layer(RMSNorm(x))] for each layer of the spec -> RMSNorm -> head (tied by
default). Cached decoding: `allocate_cache`, then `forward(ids, cache)` to prefill and `step` for
one token at a time; `generate` is greedy decoding on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hybridlab.layers import Cache, Layer, RMSNorm, build_layer
from hybridlab.spec.model_spec import ModelSpec


class Block(nn.Module):
    """Pre-norm residual block: x + layer(norm(x)). Never branches on the layer's kind."""

    def __init__(self, layer: Layer, d_model: int, eps: float) -> None:
        super().__init__()
        self.norm = RMSNorm(d_model, eps)
        self.layer = layer

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        return x + self.layer(self.norm(x), cache)

    def step(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        return x + self.layer.step(self.norm(x), cache)


@dataclass(eq=False)
class ModelCache:
    """The decoding state of every layer (None for stateless layers) and the tokens seen."""

    layers: list[Cache | None]
    max_len: int
    pos: int = 0

    def nbytes(self) -> int:
        return sum(c.nbytes() for c in self.layers if c is not None)


class HybridLM(nn.Module):
    """A hybrid SSM/attention language model.

    Args:
        spec: the validated model description (`hybridlab.parse(...)`).

    Example:
        >>> model = HybridLM(hybridlab.parse("[ssd(d_state=16), mlp]*2, attn", d_model=64))
        >>> logits = model(torch.randint(0, 256, (2, 32)))  # (2, 32, 256)
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        D = spec.d_model
        self.embedding = nn.Embedding(spec.vocab_size, D)
        self.blocks = nn.ModuleList(
            Block(build_layer(cfg, D), D, spec.norm_eps) for cfg in spec.layers
        )
        self.norm_f = RMSNorm(D, spec.norm_eps)
        self.lm_head = nn.Linear(D, spec.vocab_size, bias=False)
        nn.init.normal_(self.embedding.weight, std=0.02)
        if spec.tie_embeddings:
            self.lm_head.weight = self.embedding.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=0.02)

    def forward(self, ids: torch.Tensor, cache: ModelCache | None = None) -> torch.Tensor:
        """Logits (B, T, V) for token ids (B, T); with a cache, `ids` continue its sequence."""
        x = self.embedding(ids)  # (B, T, D)
        if cache is None:
            for block in self.blocks:
                x = block(x)
        else:
            if cache.pos + ids.shape[1] > cache.max_len:
                raise ValueError(
                    f"cache holds {cache.max_len} tokens: {cache.pos} used, "
                    f"{ids.shape[1]} more given"
                )
            for block, layer_cache in zip(self.blocks, cache.layers, strict=True):
                x = block(x, layer_cache)
            cache.pos += ids.shape[1]
        return self.lm_head(self.norm_f(x))

    def allocate_cache(
        self,
        batch: int,
        max_len: int,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> ModelCache:
        """An empty decoding cache; its bytes equal `state_bytes(spec, max_len, dtype) · batch`."""
        layers = [b.layer.allocate_cache(batch, max_len, dtype, device) for b in self.blocks]
        return ModelCache(layers=layers, max_len=max_len)

    def step(self, ids: torch.Tensor, cache: ModelCache) -> torch.Tensor:
        """Logits (B, V) for one token per sequence, ids (B,), continuing `cache`."""
        if cache.pos >= cache.max_len:
            raise ValueError(f"cache is full ({cache.max_len} tokens)")
        x = self.embedding(ids)  # (B, D)
        for block, layer_cache in zip(self.blocks, cache.layers, strict=True):
            x = block.step(x, layer_cache)
        cache.pos += 1
        return self.lm_head(self.norm_f(x))

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """Greedy decoding: ids (B, T) -> (B, T + max_new_tokens)."""
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        cache = self.allocate_cache(ids.shape[0], ids.shape[1] + max_new_tokens)
        logits = self.forward(ids, cache)[:, -1]
        out = [ids]
        for i in range(max_new_tokens):
            token = logits.argmax(-1)  # (B,)
            out.append(token[:, None])
            if i + 1 < max_new_tokens:
                logits = self.step(token, cache)
        return torch.cat(out, dim=1)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(spec: ModelSpec | str, **parse_kwargs) -> HybridLM:
    """Build a `HybridLM` from a spec (or anything `hybridlab.parse` accepts)."""
    if not isinstance(spec, ModelSpec):
        from hybridlab.spec import parse

        spec = parse(spec, **parse_kwargs)
    return HybridLM(spec)

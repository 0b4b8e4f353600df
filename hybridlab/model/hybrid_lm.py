"""`HybridLM`: a language model built from a `ModelSpec`.

Shapes: B batch, T tokens, D d_model, V vocab_size.

embedding -> [x + layer(RMSNorm(x))] for each layer of the spec -> RMSNorm -> head (tied by
default). Cached decoding: `allocate_cache`, then `forward(ids, cache)` to prefill and `step` for
one token at a time; `generate` is greedy decoding on top, with its cache checked against
`max_cache_bytes` before it is allocated. Every public method checks its arguments first
(`hybridlab.model.inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hybridlab.cost import state_bytes
from hybridlab.layers import Cache, Layer, RMSNorm, build_layer
from hybridlab.model.inputs import (
    DEFAULT_MAX_CACHE_BYTES,
    check_cache_budget,
    check_cache_device,
    check_cache_dtype,
    check_count,
    check_ids,
)
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
    """The decoding state of every layer (None for stateless layers) for `batch` sequences of
    up to `max_len` tokens, and the tokens seen (`pos`). `spec` and `device` are those of the
    model that allocated it: a model takes the caches of models of the same spec on its device."""

    layers: list[Cache | None]
    batch: int
    max_len: int
    spec: ModelSpec
    device: torch.device
    pos: int = 0

    def nbytes(self) -> int:
        return sum(c.nbytes() for c in self.layers if c is not None)


class HybridLM(nn.Module):
    """A hybrid SSM/attention language model.

    Token ids are int64 or int32 tensors of shape (B, T) (`step`: (B,)) on the model's device,
    every id in [0, vocab_size), B and T ≥ 1. A 1-D prompt is refused rather than guessed at
    (one sequence, or B sequences of one token?): pass `ids[None]` for one sequence. Anything
    else is a TypeError or ValueError naming the argument (see `hybridlab.model.inputs`).

    Causality: the logits at t depend on ids[:, :t+1] only. Under NaN or inf it holds through
    the embedding, norms, MLPs and SSM layers (a non-finite activation at t changes no earlier
    logit) but not through attention, where a non-finite key or value at t makes every output
    of its sequence NaN (a future key's softmax weight is 0, and 0·NaN is NaN); other sequences
    of the batch are untouched.

    Args:
        spec: the validated model description (`hybridlab.parse(...)`).

    Example:
        >>> model = HybridLM(hybridlab.parse("[ssd(d_state=16), mlp]*2, attn", d_model=64))
        >>> logits = model(torch.randint(0, 256, (2, 32)))  # (2, 32, 256)
        >>> model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=5).shape
        torch.Size([1, 8])
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
        """Logits (B, T, V) for token ids (B, T); with a cache, `ids` continue its sequence.

        Args:
            ids: int64/int32 token ids (B, T) on the model's device, in [0, vocab_size).
            cache: None, or a `ModelCache` from `allocate_cache(B, ...)` with room for T more
                tokens.
        """
        self._check_ids(ids)
        if cache is not None:
            self._check_cache(cache, ids.shape[0])
            if cache.pos + ids.shape[1] > cache.max_len:
                raise ValueError(
                    f"cache holds {cache.max_len} tokens: {cache.pos} used, "
                    f"{ids.shape[1]} more given"
                )
        return self._forward(ids, cache)

    def _forward(self, ids: torch.Tensor, cache: ModelCache | None) -> torch.Tensor:
        x = self.embedding(ids)  # (B, T, D)
        if cache is None:
            for block in self.blocks:
                x = block(x)
        else:
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
        """An empty decoding cache for `batch` (≥ 1) sequences of up to `max_len` (≥ 1) tokens.

        Its bytes equal `cache_bytes(batch, max_len, dtype)`; it is allocated without a limit
        (`generate` checks its own against `max_cache_bytes`).

        Args:
            dtype: torch.float32, torch.bfloat16 or torch.float16; None: the weights' dtype.
            device: the model's device (None means it); a cache cannot live elsewhere.
        """
        check_count("batch", batch, minimum=1)
        check_count("max_len", max_len, minimum=1)
        check_cache_dtype(dtype)
        model_device = self.embedding.weight.device
        check_cache_device(device, model_device)
        layers = [b.layer.allocate_cache(batch, max_len, dtype, model_device) for b in self.blocks]
        return ModelCache(
            layers=layers, batch=batch, max_len=max_len, spec=self.spec, device=model_device
        )

    def cache_bytes(self, batch: int, max_len: int, dtype: torch.dtype | None = None) -> int:
        """Bytes of `allocate_cache(batch, max_len, dtype)`: KV caches (bounded by a window),
        conv and SSM states, `state_bytes(spec, max_len, dtype) · batch`; dtype None means the
        weights' dtype, as `allocate_cache` uses."""
        check_count("batch", batch, minimum=1)
        check_count("max_len", max_len, minimum=1)
        check_cache_dtype(dtype)
        dtype = dtype or self.embedding.weight.dtype
        return state_bytes(self.spec, int(max_len), dtype) * int(batch)

    def step(self, ids: torch.Tensor, cache: ModelCache) -> torch.Tensor:
        """Logits (B, V) for one token per sequence, ids (B,), continuing `cache`."""
        self._check_ids(ids, ndim=1)
        self._check_cache(cache, ids.shape[0])
        return self._step(ids, cache)

    def _step(self, ids: torch.Tensor, cache: ModelCache) -> torch.Tensor:
        if cache.pos >= cache.max_len:
            raise ValueError(f"cache is full ({cache.max_len} tokens)")
        x = self.embedding(ids)  # (B, D)
        for block, layer_cache in zip(self.blocks, cache.layers, strict=True):
            x = block.step(x, layer_cache)
        cache.pos += 1
        return self.lm_head(self.norm_f(x))

    @torch.no_grad()
    def generate(
        self,
        ids: torch.Tensor,
        max_new_tokens: int,
        *,
        max_cache_bytes: int | None = DEFAULT_MAX_CACHE_BYTES,
    ) -> torch.Tensor:
        """Greedy decoding: ids (B, T) -> (B, T + max_new_tokens), of the dtype of `ids`.

        Args:
            ids: the prompt, int64/int32 token ids (B, T) on the model's device, in
                [0, vocab_size), B and T ≥ 1; for one sequence pass `ids[None]`.
            max_new_tokens: how many tokens to append, an int ≥ 0.
            max_cache_bytes: the most bytes the decode cache (`cache_bytes(B, T +
                max_new_tokens)`) may take, an int ≥ 1, 4 GiB by default; a larger request is a
                ValueError that says what it would need, before anything is allocated. None:
                no limit (the allocator's out-of-memory error is the limit).

        Example:
            >>> model.generate(torch.tensor([[5, 7]]), max_new_tokens=3).shape
            torch.Size([1, 5])
        """
        self._check_ids(ids)
        check_count("max_new_tokens", max_new_tokens, minimum=0)
        B, T = ids.shape
        total = T + int(max_new_tokens)
        dtype = self.embedding.weight.dtype
        check_cache_budget(
            self.cache_bytes(B, total),
            max_cache_bytes,
            what=f"batch {B} × {total:,} positions of KV caches and SSM states in {dtype}",
        )
        if total == T:
            return ids.clone()
        cache = self.allocate_cache(B, total)
        out = ids.new_empty(B, total)
        out[:, :T] = ids
        token = self._forward(ids, cache)[:, -1].argmax(-1)  # (B,)
        out[:, T] = token
        out[:, T + 1 :] = self._decode(token, cache, total - T - 1)
        return out

    @torch.no_grad()
    def decode(self, token: torch.Tensor, cache: ModelCache, num_steps: int) -> torch.Tensor:
        """Greedy decoding from a filled cache: `num_steps` cached steps, the first fed `token`
        (B,), each next one the argmax of the step before; returns the (B, num_steps) tokens
        chosen, of the dtype of `token`. This is `generate`'s loop after the prefill (the ids are
        checked once, not every step; `hybridlab.bench` times it).

        Example:
            >>> cache = model.allocate_cache(1, 16)
            >>> token = model(torch.tensor([[5, 7]]), cache)[:, -1].argmax(-1)
            >>> model.decode(token, cache, num_steps=3).shape
            torch.Size([1, 3])
        """
        self._check_ids(token, ndim=1)
        self._check_cache(cache, token.shape[0])
        check_count("num_steps", num_steps, minimum=0)
        if cache.pos + num_steps > cache.max_len:
            raise ValueError(
                f"cache holds {cache.max_len} tokens: {cache.pos} used, {num_steps} more steps "
                f"asked"
            )
        return self._decode(token, cache, int(num_steps))

    def _decode(self, token: torch.Tensor, cache: ModelCache, num_steps: int) -> torch.Tensor:
        out = token.new_empty(token.shape[0], num_steps)
        for t in range(num_steps):
            token = self._step(token, cache).argmax(-1)
            out[:, t] = token
        return out

    def _check_ids(self, ids: torch.Tensor, ndim: int = 2) -> None:
        check_ids(
            ids, vocab_size=self.spec.vocab_size, device=self.embedding.weight.device, ndim=ndim
        )

    def _check_cache(self, cache: ModelCache, batch: int) -> None:
        if not isinstance(cache, ModelCache):
            raise TypeError(
                f"cache must be a ModelCache from model.allocate_cache(batch, max_len), got "
                f"{type(cache).__name__}"
            )
        if cache.spec is not self.spec and cache.spec != self.spec:
            raise ValueError(
                f"cache was allocated by a model of another spec ({cache.spec.format()!r}, "
                f"d_model={cache.spec.d_model}); this model is {self.spec.format()!r}, "
                f"d_model={self.spec.d_model}: allocate one with this model's allocate_cache"
            )
        if cache.device != self.embedding.weight.device:
            raise ValueError(
                f"cache is on {cache.device} but the model is on {self.embedding.weight.device}: "
                f"allocate one with this model's allocate_cache"
            )
        if cache.batch != batch:
            raise ValueError(
                f"ids hold {batch} sequences but the cache was allocated for {cache.batch}"
            )

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(spec: ModelSpec | str, **parse_kwargs) -> HybridLM:
    """Build a `HybridLM` from a spec (or anything `hybridlab.parse` accepts)."""
    if not isinstance(spec, ModelSpec):
        from hybridlab.spec import parse

        spec = parse(spec, **parse_kwargs)
    return HybridLM(spec)

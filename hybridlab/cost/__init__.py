"""Analytic costs of a spec: parameters, decoding-state bytes, FLOPs per token. No torch here.

Each layer kind's config knows its own arithmetic (`hybridlab.spec.kinds`); this module adds the
model around the layers (embedding, one RMSNorm per block, the final norm, the output head) and
is pinned by tests to the built model: `count_params == numel`, `state_bytes ==` the bytes of the
allocated decoding cache.

FLOPs convention (`flops_per_token`): forward FLOPs per token, averaged over a causal sequence of
`context` tokens; 2 FLOPs per multiply-add of every matrix product (projections, the output head;
the embedding lookup is free), of the SSM scans in their recurrent form (state update and
readout: 6·d_inner·d_state per token) and of attention's QKᵀ and AV against the keys each token
sees; elementwise work (norms, activations, gates, softplus, RoPE) is not counted. A training step
costs about 3× the forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridlab.spec.model_spec import ModelSpec, format_layer

_ITEMSIZE = {
    "float64": 8,
    "fp64": 8,
    "double": 8,
    "float32": 4,
    "fp32": 4,
    "float": 4,
    "bfloat16": 2,
    "bf16": 2,
    "float16": 2,
    "fp16": 2,
    "half": 2,
    "float8_e4m3fn": 1,
    "fp8": 1,
}


def itemsize(dtype: Any) -> int:
    """Bytes per element of `dtype`: a torch.dtype, or a name such as "float32" / "bf16"."""
    if hasattr(dtype, "itemsize"):
        return int(dtype.itemsize)
    name = str(dtype).removeprefix("torch.")
    if name not in _ITEMSIZE:
        raise ValueError(
            f"unknown dtype {dtype!r}; use a torch.dtype or one of {sorted(_ITEMSIZE)}"
        )
    return _ITEMSIZE[name]


@dataclass(frozen=True, slots=True)
class LayerCost:
    """Costs of one block (its pre-norm included) of a spec."""

    index: int
    kind: str
    text: str
    params: int
    state_bytes: int
    flops_per_token: int


def layer_costs(spec: ModelSpec, context: int = 2048, dtype: Any = "float32") -> list[LayerCost]:
    """Per-block costs: params (layer + its RMSNorm), decoding-state bytes, FLOPs per token."""
    D, size = spec.d_model, itemsize(dtype)
    _check_context(context)
    return [
        LayerCost(
            index=i,
            kind=layer.kind,
            text=format_layer(layer),
            params=layer.num_params(D) + D,
            state_bytes=layer.state_numel(D, context) * size,
            flops_per_token=layer.flops_per_token(D, context),
        )
        for i, layer in enumerate(spec.layers)
    ]


def count_params(spec: ModelSpec) -> int:
    """Parameters of `build_model(spec)`, equal to the sum of `numel` over its parameters."""
    D, V = spec.d_model, spec.vocab_size
    blocks = sum(layer.num_params(D) + D for layer in spec.layers)
    head = 0 if spec.tie_embeddings else V * D
    return V * D + blocks + D + head


def state_bytes(spec: ModelSpec, context: int = 2048, dtype: Any = "float32") -> int:
    """Bytes of the decoding cache for one sequence of up to `context` tokens.

    KV caches (2·kv_heads·head_dim per kept token), conv states and SSM states, all in `dtype`;
    equal to the bytes of `model.allocate_cache(batch=1, max_len=context, dtype=dtype)`.
    """
    _check_context(context)
    numel = sum(layer.state_numel(spec.d_model, context) for layer in spec.layers)
    return numel * itemsize(dtype)


def flops_per_token(spec: ModelSpec, context: int = 2048) -> int:
    """Forward FLOPs per token at `context` (convention in this module's docstring)."""
    _check_context(context)
    layers = sum(layer.flops_per_token(spec.d_model, context) for layer in spec.layers)
    return layers + 2 * spec.d_model * spec.vocab_size


def _check_context(context: int) -> None:
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be a positive integer, got {context!r}")


__all__ = ["LayerCost", "count_params", "flops_per_token", "itemsize", "layer_costs", "state_bytes"]

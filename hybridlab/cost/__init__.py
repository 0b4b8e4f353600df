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

from hybridlab.cost.dtypes import itemsize
from hybridlab.spec.loader import SpecSource, resolve
from hybridlab.spec.model_spec import format_layer


@dataclass(frozen=True, slots=True)
class LayerCost:
    """Costs of one block (its pre-norm included) of a spec."""

    index: int
    kind: str
    text: str
    params: int
    state_bytes: int
    flops_per_token: int


def layer_costs(
    spec: SpecSource, context: int = 2048, dtype: Any = "float32", **parse_kwargs: Any
) -> list[LayerCost]:
    """Per-block costs: params (layer + its RMSNorm), decoding-state bytes, FLOPs per token.

    Args:
        spec: a `ModelSpec` or anything `hybridlab.parse` accepts (stack text, YAML, a path).
        context: tokens per sequence, an int >= 1.
        dtype: the decoding state's dtype (`hybridlab.cost.dtypes.itemsize` lists the forms).
        parse_kwargs: `parse`'s `d_model`, `vocab_size`, `defaults` for a spec not yet parsed.
    """
    model = resolve(spec, parse_kwargs, "layer_costs")
    D, size = model.d_model, itemsize(dtype)
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
        for i, layer in enumerate(model.layers)
    ]


def count_params(spec: SpecSource, **parse_kwargs: Any) -> int:
    """Parameters of `build_model(spec)`, equal to the sum of `numel` over its parameters.

    `spec` is a `ModelSpec` or anything `parse` accepts, with `parse`'s keyword arguments.

    Example:
        >>> count_params("mlp(hidden=10)", d_model=8, vocab_size=50)
        656
    """
    return resolve(spec, parse_kwargs, "count_params").num_params()


def state_bytes(
    spec: SpecSource, context: int = 2048, dtype: Any = "float32", **parse_kwargs: Any
) -> int:
    """Bytes of the decoding cache for one sequence of up to `context` tokens.

    KV caches (2·kv_heads·head_dim per kept token), conv states and SSM states, all in `dtype`;
    equal to the bytes of `model.allocate_cache(batch=1, max_len=context, dtype=dtype)`.

    Args:
        spec: a `ModelSpec` or anything `parse` accepts; `parse_kwargs` are `parse`'s options.
        context: tokens per sequence, an int >= 1.
        dtype: a torch.dtype, a numpy dtype or scalar type, a name (`"bfloat16"`, `"fp16"`) or
            bytes per element (1, 2, 4, 8).

    Example:
        >>> state_bytes("attn(heads=4)", 100, "bf16", d_model=128)
        51200
    """
    model = resolve(spec, parse_kwargs, "state_bytes")
    size = itemsize(dtype)
    _check_context(context)
    numel = sum(layer.state_numel(model.d_model, context) for layer in model.layers)
    return numel * size


def flops_per_token(spec: SpecSource, context: int = 2048, **parse_kwargs: Any) -> int:
    """Forward FLOPs per token at `context` (convention in this module's docstring).

    `spec` is a `ModelSpec` or anything `parse` accepts, with `parse`'s keyword arguments;
    `context` an int >= 1.
    """
    model = resolve(spec, parse_kwargs, "flops_per_token")
    _check_context(context)
    layers = sum(layer.flops_per_token(model.d_model, context) for layer in model.layers)
    return layers + 2 * model.d_model * model.vocab_size


def _check_context(context: int) -> None:
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        shown = f"{context!r} ({type(context).__name__})"
        raise ValueError(f"context must be a positive integer, got {shown}")


__all__ = ["LayerCost", "count_params", "flops_per_token", "itemsize", "layer_costs", "state_bytes"]

"""The torch-free half of a layer kind: its config dataclass, its shape rules and its costs.

Every kind's config subclasses `LayerConfig`. The fields are the knobs a spec may set
(`ssd(d_state=64)`), with defaults; `check` returns the shape rules the values break, before
torch ever sees them; `num_params`, `state_numel` and `flops_per_token` are exact arithmetic that
`hybridlab.cost` sums and that the contract test pins against the built module.

Optional fields (typed `X | None`) mean "derived from the model" when None, written `auto` (or
`none`) in a spec.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

# A parsed argument value: what the spec grammar's INT | FLOAT | BOOL | NAME produce.
Value = int | float | bool | str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerConfig:
    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    # Letter in Megatron-style pattern strings (`M` Mamba-2, `*` attention, `-` MLP).
    letter: ClassVar[str] = ""
    # One line for `--help`-style listings.
    summary: ClassVar[str] = ""

    def check(self, d_model: int) -> list[tuple[str, str]]:
        """Shape rules this config breaks for a model of width `d_model`, as (field, message)."""
        return []

    def num_params(self, d_model: int) -> int:
        """Parameters of the layer module (the block's pre-norm is counted by the model)."""
        raise NotImplementedError(f"{type(self).__name__} must define num_params")

    def state_numel(self, d_model: int, context: int) -> int:
        """Elements of the decoding cache for one sequence that may grow to `context` tokens."""
        return 0

    def flops_per_token(self, d_model: int, context: int) -> int:
        """Forward FLOPs per token averaged over a causal sequence of `context` tokens.

        Convention (all kinds): 2 FLOPs per multiply-add of every matrix product and of the
        scan/attention arithmetic; elementwise work (norms, activations, gates, softplus) is not
        counted. See `hybridlab.cost.flops_per_token`.
        """
        raise NotImplementedError(f"{type(self).__name__} must define flops_per_token")

    # ---- introspection used by the parser and formatter -------------------------------------

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def field_type(cls, name: str) -> tuple[type, bool]:
        """(base type, optional) of field `name`: `int | None` -> (int, True)."""
        # Widened to `type`: mypy wrongly rejects `type[LayerConfig]` as not Hashable for the
        # `@cache`d helper (python/mypy#11470).
        owner: type = cls
        return _field_types(owner)[name]

    def non_default_args(self) -> dict[str, Any]:
        """Fields whose value differs from the class default, in declaration order."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = value
        return out


@cache
def _field_types(cls: type) -> dict[str, tuple[type, bool]]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        optional = False
        if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = len(args) < len(typing.get_args(tp))
            tp = args[0]
        out[f.name] = (tp, optional)
    return out


def coerce(cls: type[LayerConfig], name: str, value: Value) -> Any:
    """Convert a parsed value to field `name`'s type, or raise ValueError saying what was wanted."""
    tp, optional = cls.field_type(name)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "auto", "null")):
        if optional:
            return None
        given = value if isinstance(value, str) else "auto"
        raise ValueError(f"{cls.kind}.{name} needs a value of type {tp.__name__}, not {given!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{cls.kind}.{name} must be a finite number, got {value!r}")
            return float(value)
    elif tp is str and isinstance(value, str):
        return value
    want = tp.__name__ + (" or auto" if optional else "")
    raise ValueError(f"{cls.kind}.{name} must be {want}, got {format_value(value)!r}")


def format_value(value: Any) -> str:
    """Canonical text of an argument value (`true`, `none`, `64`, `0.001`, `1e-05`)."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


__all__ = ["LayerConfig", "Value", "ceil_div", "coerce", "format_value", "is_power_of_two"]

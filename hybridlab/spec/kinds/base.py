"""The torch-free half of a layer kind: its config dataclass, its shape rules and its costs.

Every kind's config subclasses `LayerConfig`. The fields are the knobs a spec may set
(`ssd(d_state=64)`), with defaults; `check` returns the shape rules the values break, before
torch ever sees them; `num_params`, `state_numel` and `flops_per_token` are exact arithmetic that
`hybridlab.cost` sums and that the contract test pins against the built module.

Optional fields (typed `X | None`) mean "derived from the model" when None, written `auto` (or
`none`) in a spec.

Every config checks its field types on construction (`SSDConfig(d_state="64")` is an error, not a
model that fails later): an int field takes an int (not a bool, and not a float, even a whole one
such as `2.0` or `1e2`: one rule for every int in a spec, the model-wide `d_model` included), a
float field a finite int or float, a bool field a bool; `coerce` also reads `auto` as None.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from hybridlab.spec.errors import SpecError

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
    # The layer module of a kind from outside hybridlab, as an import string
    # ("pkg.layers:MyLayer"), imported by `hybridlab.layers` only (never by spec or cost, which
    # import no torch). Built-in kinds leave it empty: `hybridlab.layers.LAYERS` lists them.
    layer_class: ClassVar[str] = ""

    def __post_init__(self) -> None:
        # Types first: `check` and the cost arithmetic compare and multiply these values.
        for name in self.field_names():
            try:
                value = check_type(type(self), name, getattr(self, name))
            except ValueError as err:
                raise SpecError(str(err)) from None
            # Frozen dataclass: normalise `dt_max=1` to 1.0 so equal configs print equally.
            object.__setattr__(self, name, value)

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
    """Convert a parsed value to field `name`'s type, or raise ValueError saying what was wanted.

    Laxer than `check_type` in one way only: `auto` / `none` / `null` (any case) mean None for an
    optional field.
    """
    tp, optional = cls.field_type(name)
    if isinstance(value, str) and value.lower() in ("none", "auto", "null"):
        if not optional:
            raise ValueError(
                f"{cls.kind}.{name} needs a value of type {tp.__name__}, not {value!r}"
            )
        return None
    return check_type(cls, name, value)


def check_type(cls: type[LayerConfig], name: str, value: Any) -> Any:
    """`value` if it has field `name`'s type (floats finite, ints as float for a float field);
    a ValueError naming the field, the type wanted and the value received otherwise."""
    tp, optional = cls.field_type(name)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{cls.kind}.{name} needs a value of type {tp.__name__}, not auto")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int past float's range, such as 10**400
                number = math.inf
            if not math.isfinite(number):
                shown = _SHORT.repr(value)
                raise ValueError(f"{cls.kind}.{name} must be a finite number, got {shown}")
            return number
    elif tp is str and isinstance(value, str):
        return value
    want = tp.__name__ + (" or auto" if optional else "")
    hint = whole_number_hint(value) if tp is int else ""
    raise ValueError(f"{cls.kind}.{name} must be {want}, got {describe(value)}{hint}")


def describe(value: Any) -> str:
    """A received value for an error message, with its type: `'64' (str)`, `True (bool)`."""
    return f"{_SHORT.repr(value)} ({type(value).__name__})"


def whole_number_hint(value: Any) -> str:
    """For a whole float given where an int goes (`1e2`, `64.0`): how to write it as an int."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"; write whole numbers without a decimal point or exponent: {int(value)}"
    return ""


# Bounded in length and depth, so a huge or deeply nested value cannot swamp (or overflow) it.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 40


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


__all__ = [
    "LayerConfig",
    "Value",
    "ceil_div",
    "check_type",
    "coerce",
    "describe",
    "format_value",
    "is_power_of_two",
    "whole_number_hint",
]

"""`ModelSpec`: a whole model as frozen data, and its canonical text.

A spec is model-wide settings plus a flat tuple of layer configs. It is validated on construction,
so an invalid `ModelSpec` cannot exist (`dataclasses.replace(spec, d_model=96)` re-checks every
layer). `format()` writes the canonical stack text: only non-default arguments, in field order,
and runs of repeated layers folded into `kind*N` / `[a, b]*N` greedily, longest run first, so
`parse(spec.format(), d_model=..., vocab_size=...) == spec` and equal specs print equally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds import KINDS, LayerConfig, format_value
from hybridlab.spec.kinds.base import describe

# RMSNorm's epsilon (usually 1e-5 or 1e-6). Below 1.4e-45 it is 0 in float32 and an all-zero row
# divides by zero (NaN); above 1 it swamps the activations (logits near zero).
NORM_EPS_RANGE = (1e-12, 1.0)
# The model-wide settings, in the order they are checked.
SETTINGS = ("d_model", "vocab_size", "norm_eps", "tie_embeddings")


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    """A hybrid language model: embedding, `layers` as pre-norm residual blocks, final norm, head.

    Args:
        layers: the stack, one config per block, in order (a sequence of `LayerConfig`s).
        d_model: residual width, an int >= 1.
        vocab_size: embedding and output size, an int >= 2.
        norm_eps: epsilon of every RMSNorm, a finite number in `NORM_EPS_RANGE`.
        tie_embeddings: share the embedding matrix with the output head; a bool (never a string).

    Raises:
        SpecError: naming the field and the value received, for a wrong type or range, or the
            layer index for a layer whose shape rules fail at `d_model`.

    Example:
        >>> spec = hybridlab.parse("[ssd(d_state=64), mlp]*3, attn(heads=4), mlp", d_model=128)
        >>> spec.format()
        '[ssd(d_state=64), mlp]*3, attn, mlp'
    """

    layers: tuple[LayerConfig, ...]
    d_model: int = 128
    vocab_size: int = 256
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        for name in SETTINGS:
            check_setting(name, getattr(self, name))
        # A frozen dataclass: normalise `norm_eps=1` to 1.0 so equal specs print equally.
        object.__setattr__(self, "norm_eps", float(self.norm_eps))
        if isinstance(self.layers, str | bytes | Mapping) or not isinstance(self.layers, Iterable):
            raise SpecError(
                "layers must be a sequence of layer configs such as SSDConfig() (use "
                f"hybridlab.parse for spec text), got {describe(self.layers)}"
            )
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise SpecError("the stack is empty: a model needs at least one layer")
        for index, layer in enumerate(self.layers):
            if type(layer) not in KINDS.values():
                raise SpecError(
                    f"layers[{index}] must be a layer config such as SSDConfig(), "
                    f"got {describe(layer)}",
                    layer=index,
                )
            issues = layer.check(self.d_model)
            if issues:
                raise SpecError(f"{layer.kind}: {issues[0][1]}", layer=index)

    def format(self) -> str:
        """The canonical stack text (model-wide settings are not part of it)."""
        return ", ".join(_fold([format_layer(layer) for layer in self.layers]))

    def pattern(self) -> str:
        """The Megatron-LM / Nemotron-H pattern string: `M` ssd, `S` scan, `*` attn, `-` mlp.

        Arguments are not part of a pattern; `from_pattern` rebuilds layers from model defaults.
        """
        return "".join(layer.letter for layer in self.layers)

    def to_dict(self) -> dict[str, int | float | bool | str]:
        """The spec as the YAML form's mapping (canonical stack string, model-wide settings)."""
        out: dict[str, int | float | bool | str] = {
            "d_model": self.d_model,
            "vocab_size": self.vocab_size,
        }
        if self.norm_eps != 1e-5:
            out["norm_eps"] = self.norm_eps
        if not self.tie_embeddings:
            out["tie_embeddings"] = False
        out["stack"] = self.format()
        return out

    def to_yaml(self) -> str:
        """The YAML form, readable by `hybridlab.parse` and `hybridlab train --spec FILE`."""
        lines = [
            f"{k}: {format_value(v) if k != 'stack' else _quote(str(v))}"
            for k, v in self.to_dict().items()
        ]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.format()

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def check_setting(name: str, value: Any) -> None:
    """Raise `SpecError` naming model-wide setting `name` if `value` has the wrong type or range.

    `d_model` is an int >= 1 and `vocab_size` an int >= 2 (a bool or `64.0` is no int); `norm_eps`
    a finite number in `NORM_EPS_RANGE`; `tie_embeddings` a bool (a string such as "false" is
    never one).
    """
    if name in ("d_model", "vocab_size"):
        least = 1 if name == "d_model" else 2
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{name} must be a positive integer >= {least}, got {describe(value)}")
        if value < least:
            raise SpecError(f"{name} must be a positive integer >= {least}, got {value}")
    elif name == "norm_eps":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"norm_eps must be a number, got {describe(value)}")
        low, high = NORM_EPS_RANGE
        # Written so that NaN fails too.
        if not low <= value <= high:
            raise SpecError(
                f"norm_eps must be a finite number in [{low:g}, {high:g}] (RMSNorm's epsilon, "
                f"usually 1e-5), got {describe(value)}"
            )
    elif name == "tie_embeddings":
        if not isinstance(value, bool):
            raise SpecError(f"tie_embeddings must be true or false, got {describe(value)}")
    else:
        raise SpecError(f"unknown model setting {name!r}", valid=SETTINGS)


def format_layer(layer: LayerConfig) -> str:
    args = layer.non_default_args()
    if not args:
        return layer.kind
    inner = ", ".join(f"{k}={format_value(v)}" for k, v in args.items())
    return f"{layer.kind}({inner})"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fold(items: Sequence[str]) -> list[str]:
    """Fold repeated runs: at each position take the (period, count) covering most layers."""
    out: list[str] = []
    i, n = 0, len(items)
    while i < n:
        best_period, best_count = 1, 1
        for period in range(1, (n - i) // 2 + 1):
            group = items[i : i + period]
            count = 1
            while items[i + count * period : i + (count + 1) * period] == group:
                count += 1
            if count >= 2 and period * count > best_period * best_count:
                best_period, best_count = period, count
        if best_count == 1:
            out.append(items[i])
        elif best_period == 1:
            out.append(f"{items[i]}*{best_count}")
        else:
            inner = ", ".join(_fold(items[i : i + best_period]))
            out.append(f"[{inner}]*{best_count}")
        i += best_period * best_count
    return out

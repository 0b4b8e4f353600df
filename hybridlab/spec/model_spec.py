"""`ModelSpec`: a whole model as frozen data, and its canonical text.

A spec is model-wide settings plus a flat tuple of layer configs. It is validated on construction,
so an invalid `ModelSpec` cannot exist (`dataclasses.replace(spec, d_model=96)` re-checks every
layer). `format()` writes the canonical stack text: only non-default arguments, in field order,
and runs of repeated layers folded into `kind*N` / `[a, b]*N` greedily, longest run first, so
equal specs print equally. The stack text holds the layers only: `parse(spec.format()) == spec`
when the model-wide settings are the defaults, while `to_yaml()` writes the whole spec and
`parse(spec.to_yaml()) == spec` holds for every spec.

Sizes are bounded (`MAX_LAYERS`, `MAX_D_MODEL`, `MAX_VOCAB_SIZE`, `MAX_PARAMS`): far above any
real model, low enough that a typo (`d_model=1000000`, `mlp(hidden=10**12)`, a pattern of 10⁵
letters) is refused at once, before anything tries to build or cost it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds import KINDS, LayerConfig, format_value
from hybridlab.spec.kinds.base import describe, whole_number_hint

# Guards against `ssd*100000000` exhausting memory; far above any real stack (Nemotron-H 56B has
# 118 layers).
MAX_LAYERS = 1024
# The residual width: the widest published models use 12,288-18,432 (GPT-3, Nemotron-4 340B).
MAX_D_MODEL = 65_536
# The vocabulary: 16x the largest in use (Gemma's 262,144).
MAX_VOCAB_SIZE = 2**22
# Parameters of the whole model, and so of any one layer: 2**40 = 1.1e12, 2.7x the largest dense
# model published (Llama 3's 405B). It bounds every size knob at once, whatever the kind, through
# the kinds' exact `num_params` (no knob can make a layer larger without adding parameters).
MAX_PARAMS = 2**40
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
        if len(self.layers) > MAX_LAYERS:
            raise SpecError(
                f"the stack has more than {MAX_LAYERS} layers ({len(self.layers):,} given)"
            )
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
        self._check_size()

    def _check_size(self) -> None:
        """Refuse a model of more than `MAX_PARAMS` parameters, naming its largest part."""
        total = self.num_params()
        if total <= MAX_PARAMS:
            return
        block_params = [self._block_params(layer) for layer in self.layers]
        largest = max(range(len(block_params)), key=block_params.__getitem__)
        embedding = self.vocab_size * self.d_model
        if block_params[largest] >= embedding:
            layer = self.layers[largest]
            part = f"layers[{largest}] = {format_layer(layer)} has {block_params[largest]:,}"
            where: int | None = largest
        else:
            part = f"the embedding (vocab_size × d_model) has {embedding:,}"
            where = None
        raise SpecError(
            f"the model would have {total:,} parameters, more than the {MAX_PARAMS:,} a spec may "
            f"ask for (d_model={self.d_model}): {part}; lower its sizes",
            layer=where,
        )

    def _block_params(self, layer: LayerConfig) -> int:
        """Parameters of one block: the layer and its pre-norm's weight."""
        return layer.num_params(self.d_model) + self.d_model

    def num_params(self) -> int:
        """Parameters of the model this spec builds: embedding, blocks (each layer and its
        pre-norm), final norm, and the output head unless it is tied to the embedding."""
        D, V = self.d_model, self.vocab_size
        blocks = sum(self._block_params(layer) for layer in self.layers)
        head = 0 if self.tie_embeddings else V * D
        return V * D + blocks + D + head

    def format(self) -> str:
        """The canonical stack text: the layers only, without the model-wide settings
        (`to_yaml` writes those too)."""
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
        """The YAML form, readable by `hybridlab.parse` and `hybridlab train --spec FILE`: the
        whole spec, so `parse(spec.to_yaml()) == spec`."""
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

    `d_model` is an int in [1, MAX_D_MODEL] and `vocab_size` an int in [2, MAX_VOCAB_SIZE] (a
    bool or `64.0` is no int); `norm_eps` a finite number in `NORM_EPS_RANGE`; `tie_embeddings` a
    bool (a string such as "false" is never one).
    """
    if name in ("d_model", "vocab_size"):
        least, most = (1, MAX_D_MODEL) if name == "d_model" else (2, MAX_VOCAB_SIZE)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(
                f"{name} must be a positive integer >= {least}, got {describe(value)}"
                f"{whole_number_hint(value)}"
            )
        if value < least:
            raise SpecError(f"{name} must be a positive integer >= {least}, got {value}")
        if value > most:
            raise SpecError(f"{name} must be at most {most:,}, got {value:,}")
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

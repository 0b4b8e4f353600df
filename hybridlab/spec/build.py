"""Resolve parsed layer nodes against the kind registry into a validated `ModelSpec`.

Every error points at the token responsible (the kind name, or the argument name) and carries the
layer's index in the expanded stack; checks that would otherwise fail deep inside torch run here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds import ALIASES, KINDS, LETTERS, LayerConfig, coerce, resolve_kind
from hybridlab.spec.kinds.base import describe
from hybridlab.spec.model_spec import MAX_LAYERS, ModelSpec, check_setting
from hybridlab.spec.parser import LayerNode, Token, parse_nodes

Defaults = Mapping[str, Mapping[str, Any]]


def build_spec(
    text: str,
    *,
    d_model: int = 128,
    vocab_size: int = 256,
    defaults: Defaults | None = None,
    **model_kwargs: Any,
) -> ModelSpec:
    """Parse stack `text` and build a `ModelSpec`; `defaults` maps kind -> {arg: value}.

    `model_kwargs` are the other model-wide settings (`norm_eps`, `tie_embeddings`).
    """
    check_model_settings(d_model=d_model, vocab_size=vocab_size, **model_kwargs)
    defaults = check_defaults({} if defaults is None else defaults)
    nodes = parse_nodes(text)
    layers = [_make_layer(node, index, text, d_model, defaults) for index, node in enumerate(nodes)]
    return ModelSpec(layers=tuple(layers), d_model=d_model, vocab_size=vocab_size, **model_kwargs)


def build_from_pattern(
    pattern: str,
    *,
    d_model: int = 128,
    vocab_size: int = 256,
    defaults: Defaults | None = None,
    **model_kwargs: Any,
) -> ModelSpec:
    """Build from a Megatron-style pattern (`M-M-*-`): one layer per letter, with `defaults`.

    Spaces, Megatron's pipeline separator `|` and `#` comments (to the end of the line) are
    ignored.
    """
    check_model_settings(d_model=d_model, vocab_size=vocab_size, **model_kwargs)
    defaults = check_defaults({} if defaults is None else defaults)
    layers: list[LayerConfig] = []
    line, column = 1, 0
    in_comment = False
    for char in pattern:
        column += 1
        if char == "\n":
            line, column, in_comment = line + 1, 0, False
            continue
        in_comment = in_comment or char == "#"
        if in_comment or char in " \t\r|":
            continue
        kind = LETTERS.get(char)
        if kind is not None and len(layers) == MAX_LAYERS:
            raise SpecError(
                f"the pattern has more than {MAX_LAYERS} layers",
                text=pattern,
                line=line,
                column=column,
                layer=len(layers),
            )
        if kind is None:
            raise SpecError(
                f"unknown pattern letter {char!r}",
                text=pattern,
                line=line,
                column=column,
                layer=len(layers),
                valid=[f"{letter} ({k})" for letter, k in LETTERS.items()],
            )
        token = Token("name", char, line, column)
        layers.append(_make_layer(LayerNode(kind, token), len(layers), pattern, d_model, defaults))
    if not layers:
        raise SpecError("the pattern is empty: give at least one letter, e.g. 'M-M*-'")
    return ModelSpec(layers=tuple(layers), d_model=d_model, vocab_size=vocab_size, **model_kwargs)


def check_model_settings(**settings: Any) -> None:
    """Model-wide settings are checked first: every layer's shape rules depend on them."""
    for name, value in settings.items():
        check_setting(name, value)


def check_defaults(defaults: Defaults) -> dict[str, dict[str, Any]]:
    """Validate per-kind defaults ({kind: {arg: value}}); aliases are folded to kind names."""
    if not isinstance(defaults, Mapping):
        raise SpecError(f"defaults must map layer kinds to arguments, got {describe(defaults)}")
    out: dict[str, dict[str, Any]] = {}
    for name, args in defaults.items():
        cls = resolve_kind(str(name))
        if cls is None:
            raise SpecError(
                f"defaults: unknown layer kind {name!r}{_did_you_mean(name, _all_kind_names())}",
                valid=_all_kind_names(),
            )
        if not isinstance(args, Mapping):
            raise SpecError(
                f"defaults.{name} must map argument names to values, got {describe(args)}"
            )
        checked = out.setdefault(cls.kind, {})
        for arg, value in args.items():
            if arg not in cls.field_names():
                raise SpecError(
                    f"defaults.{name}: unknown argument {arg!r} for {cls.kind}"
                    f"{_did_you_mean(arg, cls.field_names())}",
                    valid=cls.field_names(),
                )
            try:
                checked[arg] = coerce(cls, arg, value)
            except ValueError as err:
                raise SpecError(f"defaults.{name}: {err}") from None
    return out


def _all_kind_names() -> list[str]:
    return list(KINDS) + list(ALIASES)


def _did_you_mean(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _make_layer(
    node: LayerNode, index: int, text: str, d_model: int, defaults: dict[str, dict[str, Any]]
) -> LayerConfig:
    def error(message: str, token: Token, valid: Sequence[str] | None = None) -> SpecError:
        return SpecError(
            message, text=text, line=token.line, column=token.column, layer=index, valid=valid
        )

    cls = resolve_kind(node.kind)
    if cls is None:
        raise error(
            f"unknown layer kind {node.kind!r}{_did_you_mean(node.kind, _all_kind_names())}",
            node.token,
            valid=_all_kind_names(),
        )
    values = dict(defaults.get(cls.kind, {}))
    arg_tokens = {}
    for arg in node.args:
        if arg.name not in cls.field_names():
            raise error(
                f"unknown argument {arg.name!r} for {cls.kind}"
                f"{_did_you_mean(arg.name, cls.field_names())}",
                arg.token,
                valid=cls.field_names(),
            )
        try:
            values[arg.name] = coerce(cls, arg.name, arg.value)
        except ValueError as err:
            raise error(str(err), arg.token) from None
        arg_tokens[arg.name] = arg.token
    layer = cls(**values)
    issues = layer.check(d_model)
    if issues:
        field, message = issues[0]
        raise error(f"{cls.kind}: {message}", arg_tokens.get(field, node.token))
    return layer

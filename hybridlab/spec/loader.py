"""`parse`: one entry for every way a spec is written (stack text, pattern, YAML text or file).

The YAML form holds the model-wide settings beside the stack:

    d_model: 128
    vocab_size: 256
    defaults: {ssd: {d_state: 64, headdim: 32}, attn: {heads: 4}}
    stack: "[ssd, mlp]*3, attn, mlp"        # or:  pattern: "M-M-M-*-"

YAML is read through OmegaConf (safe loading: it never constructs Python objects); unknown keys
are errors, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridlab.config.files import read_text
from hybridlab.spec.build import Defaults, build_from_pattern, build_spec
from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds import LETTERS
from hybridlab.spec.model_spec import ModelSpec

YAML_KEYS = ("d_model", "vocab_size", "norm_eps", "tie_embeddings", "defaults", "stack", "pattern")
# A pattern is upper-case letters and symbols only; stack text always has a lower-case kind name.
_PATTERN_CHARS = re.compile("[A-Z" + re.escape("".join(LETTERS)) + r"| \t\r\n]+")


def parse(
    source: str | Path | Mapping[str, Any] | ModelSpec,
    *,
    d_model: int | None = None,
    vocab_size: int | None = None,
    defaults: Defaults | None = None,
) -> ModelSpec:
    """Parse a spec written as stack text, a pattern string, YAML text, a YAML file or a mapping.

    Args:
        source: `"[ssd(d_state=64), mlp]*3, attn, mlp"`, `"M-M-M*-"`, a path to a `.yaml` file,
            YAML text with a `stack:` or `pattern:` key, a mapping of the same, or a `ModelSpec`.
        d_model, vocab_size: model-wide settings; when given they override the YAML's (default
            128 and 256 when neither gives them).
        defaults: per-kind argument defaults, `{kind: {arg: value}}`, merged over the YAML's.

    Returns:
        A validated `ModelSpec`.

    Raises:
        SpecError: with the line, column and layer index of the problem and the valid names.

    Example:
        >>> spec = parse("[ssd(d_state=64), mlp]*3, attn(heads=4), mlp", d_model=128)
        >>> spec.pattern()
        'M-M-M-*-'
    """
    if isinstance(source, ModelSpec):
        return _from_mapping(source.to_dict(), None, d_model, vocab_size, defaults)
    if isinstance(source, Path) or (
        isinstance(source, str)
        and source.strip().endswith((".yaml", ".yml"))
        and "\n" not in source
    ):
        path = Path(source)
        try:
            text = read_text(path, "spec file")
        except ValueError as err:
            raise SpecError(f"{path}: {err}") from None
        return _from_mapping(_load_yaml(text, str(path)), str(path), d_model, vocab_size, defaults)
    if isinstance(source, Mapping):
        return _from_mapping(source, None, d_model, vocab_size, defaults)
    if not isinstance(source, str):
        raise SpecError(f"a spec must be text, a path or a mapping, got {type(source).__name__}")
    if ":" in source:
        return _from_mapping(_load_yaml(source, None), None, d_model, vocab_size, defaults)
    width = 128 if d_model is None else d_model
    vocab = 256 if vocab_size is None else vocab_size
    if _PATTERN_CHARS.fullmatch(source) and source.strip():
        return build_from_pattern(source, d_model=width, vocab_size=vocab, defaults=defaults)
    return build_spec(source, d_model=width, vocab_size=vocab, defaults=defaults)


def _load_yaml(text: str, where: str | None) -> dict[str, Any]:
    from omegaconf import OmegaConf

    try:
        conf = OmegaConf.create(text)
    except Exception as err:  # OmegaConf wraps yaml's errors in several types
        reason = _one_line(err)
        if not reason:  # OmegaConf refuses a scalar document without a word
            raise SpecError(
                "a spec file must be a YAML mapping with a 'stack' key", where=where
            ) from None
        raise SpecError(f"not valid YAML: {reason}", where=where) from None
    if not isinstance(conf, Mapping) and not OmegaConf.is_dict(conf):
        raise SpecError("a spec file must be a YAML mapping with a 'stack' key", where=where)
    try:
        return OmegaConf.to_container(conf, resolve=True)  # type: ignore[return-value]
    except Exception as err:
        raise SpecError(f"cannot resolve the YAML: {_one_line(err)}", where=where) from None


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _from_mapping(
    mapping: Mapping[str, Any],
    where: str | None,
    d_model: int | None,
    vocab_size: int | None,
    defaults: Defaults | None,
) -> ModelSpec:
    unknown = [k for k in mapping if k not in YAML_KEYS]
    if unknown:
        raise SpecError(f"unknown key {unknown[0]!r}", where=where, valid=YAML_KEYS)
    if ("stack" in mapping) == ("pattern" in mapping):
        raise SpecError("give exactly one of 'stack' or 'pattern'", where=where)
    merged: dict[str, dict[str, Any]] = {}
    for source in (mapping.get("defaults") or {}, defaults or {}):
        if not isinstance(source, Mapping):
            raise SpecError(
                f"defaults must map layer kinds to arguments, got {source!r}", where=where
            )
        for kind, args in source.items():
            merged.setdefault(kind, {}).update(args if isinstance(args, Mapping) else {"?": args})
    settings: dict[str, Any] = {
        "d_model": d_model if d_model is not None else mapping.get("d_model", 128),
        "vocab_size": vocab_size if vocab_size is not None else mapping.get("vocab_size", 256),
        "defaults": merged,
    }
    for key in ("norm_eps", "tie_embeddings"):
        if key in mapping:
            settings[key] = mapping[key]
    key = "stack" if "stack" in mapping else "pattern"
    text = mapping[key]
    if not isinstance(text, str):
        raise SpecError(f"{key} must be a string, got {text!r}", where=where)
    build = build_spec if key == "stack" else build_from_pattern
    try:
        return build(text, **settings)
    except SpecError as err:
        label = f"{where}: {key}" if where else key
        raise err.with_context(where=label) from None
    except TypeError as err:
        raise SpecError(str(err), where=where) from None

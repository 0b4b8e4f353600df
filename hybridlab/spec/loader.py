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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridlab.config.files import read_text
from hybridlab.spec.build import Defaults, build_from_pattern, build_spec, check_defaults
from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds.base import describe
from hybridlab.spec.model_spec import SETTINGS, ModelSpec, check_setting
from hybridlab.spec.source import SourceKind, classify

YAML_KEYS = ("d_model", "vocab_size", "norm_eps", "tie_embeddings", "defaults", "stack", "pattern")
# The keyword arguments of `parse`, which `build_model` and the cost functions pass through.
PARSE_OPTIONS = ("d_model", "vocab_size", "defaults")
# Everything `parse` accepts as its first argument.
SpecSource = ModelSpec | str | Path | Mapping[str, Any]


def parse(
    source: SpecSource,
    *,
    d_model: int | None = None,
    vocab_size: int | None = None,
    defaults: Defaults | None = None,
) -> ModelSpec:
    """Parse a spec written as stack text, a pattern string, YAML text, a YAML file or a mapping.

    A string is read as (first rule that applies; `hybridlab.spec.source` has the details):

    1. a file path: one line ending in `.yaml`/`.yml`, naming an existing file or without `#`;
    2. YAML text: its first line that is not blank, a `#` comment or `---` starts like a YAML
       mapping (`stack: ...`, `d_model: 64`, `{...}`);
    3. a pattern: only pattern letters (`M-M*-`), spaces, `|` and `#` comments;
    4. stack text otherwise.

    A `#` comment may hold anything (`"ssd, mlp  # note: see spec.yaml"` is stack text).

    Args:
        source: `"[ssd(d_state=64), mlp]*3, attn, mlp"`, `"M-M-M*-"`, a path to a `.yaml` file,
            YAML text with a `stack:` or `pattern:` key, a mapping of the same, or a `ModelSpec`.
        d_model, vocab_size: model-wide settings, ints; when given they override the YAML's
            (default 128 and 256 when neither gives them).
        defaults: per-kind argument defaults, `{kind: {arg: value}}`, merged over the YAML's.

    Every value is checked for its type and range (a string is never a bool, `True` and `2.5`
    are no ints, floats must be finite), from the stack text, the YAML or the arguments alike.

    Returns:
        A validated `ModelSpec` (`source` itself if it is one and nothing overrides it).

    Raises:
        SpecError: naming the key or argument, with the line, column and layer index of the
            problem in text, and the valid names.

    Example:
        >>> spec = parse("[ssd(d_state=64), mlp]*3, attn(heads=4), mlp", d_model=128)
        >>> spec.pattern()
        'M-M-M-*-'
    """
    if isinstance(source, ModelSpec):
        if d_model is None and vocab_size is None and defaults is None:
            return source
        return _from_mapping(source.to_dict(), None, d_model, vocab_size, defaults)
    if isinstance(source, Mapping):
        return _from_mapping(source, None, d_model, vocab_size, defaults)
    if not isinstance(source, str | Path):
        raise SpecError(
            "source must be spec text, a path to a .yaml file, a mapping or a ModelSpec, "
            f"got {describe(source)}"
        )
    if isinstance(source, Path):
        return _from_file(source, d_model, vocab_size, defaults)
    kind = classify(source)
    if kind is SourceKind.FILE:
        return _from_file(Path(source.strip()), d_model, vocab_size, defaults)
    if kind is SourceKind.YAML:
        return _from_mapping(_load_yaml(source, None), None, d_model, vocab_size, defaults)
    width = 128 if d_model is None else d_model
    vocab = 256 if vocab_size is None else vocab_size
    build = build_from_pattern if kind is SourceKind.PATTERN else build_spec
    return build(source, d_model=width, vocab_size=vocab, defaults=defaults)


def resolve(source: SpecSource, options: Mapping[str, Any], caller: str) -> ModelSpec:
    """`parse(source, **options)` for the functions that take a spec and `parse`'s options.

    Raises:
        TypeError: an option `parse` does not take, named with `caller` (`"count_params"`).
        SpecError: from `parse`.
    """
    unknown = [name for name in options if name not in PARSE_OPTIONS]
    if unknown:
        raise TypeError(
            f"{caller}() got an unexpected keyword argument {unknown[0]!r}; it takes parse's "
            f"options {', '.join(PARSE_OPTIONS)}"
        )
    return parse(source, **options)


def _from_file(
    path: Path, d_model: int | None, vocab_size: int | None, defaults: Defaults | None
) -> ModelSpec:
    name = str(path) if len(str(path)) <= 200 else str(path)[:197] + "..."
    try:
        text = read_text(path, "spec file")
    except ValueError as err:
        raise SpecError(f"{name}: {err}") from None
    except OSError as err:  # a name too long for the file system, before it is even opened
        raise SpecError(f"{name}: cannot be read: {err.strerror or err}") from None
    mapping = _load_yaml(text, name)
    try:
        return _from_mapping(mapping, name, d_model, vocab_size, defaults)
    except SpecError as err:
        raise _at_file_position(err, text) from None


def _at_file_position(err: SpecError, text: str) -> SpecError:
    """`err`, found in the file's stack (or pattern) string, placed at its line and column in
    the file `text` itself, where the string's lines map to the file's one to one: a string on
    one line, or a literal block (`stack: |`). Otherwise (a folded or multi-line flow string)
    `err` as it is, at its position in the string."""
    import yaml

    if err.line is None or err.column is None:
        return err
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return err
    nodes = [v for k, v in getattr(root, "value", []) if k.value in ("stack", "pattern")]
    if len(nodes) != 1 or not isinstance(nodes[0], yaml.ScalarNode):
        return err
    node, lines = nodes[0], text.splitlines()
    if node.style == "|":
        line = node.start_mark.line + err.line  # 0-based: the block starts after its `|`
        if line >= len(lines):
            return err
        column = len(lines[line]) - len(lines[line].lstrip(" ")) + err.column
    elif node.start_mark.line == node.end_mark.line and err.line == 1:
        line = node.start_mark.line
        column = node.start_mark.column + (node.style in ("'", '"')) + err.column
    else:
        return err
    return SpecError(
        err.message,
        text=text,
        line=line + 1,
        column=column,
        layer=err.layer,
        valid=err.valid,
        where=err.where,
    )


def _load_yaml(text: str, where: str | None) -> dict[str, Any]:
    from omegaconf import OmegaConf

    too_deep = SpecError(
        "the YAML nests too deeply to read (a spec file is a mapping of settings; only "
        "'defaults' nests, two levels deep)",
        where=where,
    )
    try:
        conf = OmegaConf.create(text)
    except RecursionError:
        raise too_deep from None
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
    except RecursionError:
        raise too_deep from None
    except Exception as err:
        raise SpecError(f"cannot resolve the YAML: {_one_line(err)}", where=where) from None


def _one_line(err: Exception, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _from_mapping(
    mapping: Mapping[str, Any],
    where: str | None,
    d_model: int | None,
    vocab_size: int | None,
    defaults: Defaults | None,
) -> ModelSpec:
    """Check every key of the YAML form (`where` names the file), then build the stack."""
    unknown = [k for k in mapping if k not in YAML_KEYS]
    if unknown:
        raise SpecError(f"unknown key {unknown[0]!r}", where=where, valid=YAML_KEYS)
    if ("stack" in mapping) == ("pattern" in mapping):
        raise SpecError("give exactly one of 'stack' or 'pattern'", where=where)
    key = "stack" if "stack" in mapping else "pattern"
    text = mapping[key]
    if not isinstance(text, str):
        raise SpecError(f"{key} must be a string, got {describe(text)}", where=where)
    settings: dict[str, Any] = {"d_model": 128, "vocab_size": 256}
    try:
        for name in SETTINGS:
            if name in mapping:
                check_setting(name, mapping[name])
                settings[name] = mapping[name]
        given = mapping.get("defaults")
        merged = check_defaults({} if given is None else given)
    except SpecError as err:
        raise err.with_context(where=where) from None
    # The arguments override the mapping's; `build` checks them.
    for kind, args in check_defaults({} if defaults is None else defaults).items():
        merged.setdefault(kind, {}).update(args)
    for name, value in (("d_model", d_model), ("vocab_size", vocab_size)):
        if value is not None:
            settings[name] = value
    build = build_spec if key == "stack" else build_from_pattern
    try:
        return build(text, defaults=merged, **settings)
    except SpecError as err:
        # Errors in the stack text carry their position in it; others are about an argument.
        label = f"{where}: {key}" if where else key
        raise err.with_context(where=label if err.line is not None else None) from None

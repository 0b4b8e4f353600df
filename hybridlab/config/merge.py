"""Typed settings from mappings and dotted overrides, shared by the CLI and the study loader.

`merge_dataclass(cls, settings, section)` builds an instance of a (structured-config) dataclass
from a mapping or from `field=value` strings (the grammar of `hybridlab.config.overrides`),
through OmegaConf so that types are checked; misspelt fields and invalid enum values are
`ValueError`s that name `section.field` and list the valid names.

Errors are `SettingError`s (a `ValueError`) whose `key` is the dotted setting to blame.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Budget:
    ...     trials: int = 8
    >>> merge_dataclass(Budget, ["trials=50"], "budget").trials
    50
    >>> try:
    ...     merge_dataclass(Budget, {"trialz": 50}, "budget")
    ... except SettingError as err:
    ...     print(err.key, "|", err)
    budget.trialz | unknown setting budget.trialz; valid budget settings: trials
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from hybridlab.config.errors import SettingError, first_line
from hybridlab.config.overrides import nest, parse_override

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def merge_dataclass(cls: type[T], settings: Mapping[str, Any] | list[str], section: str) -> T:
    """An instance of the dataclass `cls` with `settings` applied over its defaults.

    Args:
        cls: a dataclass that OmegaConf accepts as a structured config.
        settings: a mapping of field values, or dotted overrides such as `["steps=50"]`.
        section: the prefix used in messages (`train` → "train.steps").

    Raises:
        SettingError: settings that are no mapping, an unknown field, an invalid enum value, a
            value of the wrong type or shape (one value for a list field, ...).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(settings, Mapping):
        if not isinstance(settings, list) or not all(isinstance(s, str) for s in settings):
            raise SettingError(
                f"{section}: a section of settings is a mapping (name: value), got "
                f"{_shown(settings)}",
                key=section,
            )
        # Dotted `field=value` strings, in the one override grammar.
        parsed = [parse_override(item, where=f"{section} setting {item!r}") for item in settings]
        for override in parsed:
            if override.raw == "" and "." not in override.key:
                raise SettingError(
                    f"{section}.{override.key} needs a value (nothing was given after '=')",
                    key=f"{section}.{override.key.split('.')[0]}",
                )
        settings = nest(parsed)
    items = [(str(k), v) for k, v in settings.items()]
    valid = [f.name for f in fields(cls)]
    hints = typing.get_type_hints(cls)
    for key, value in items:
        name = key.split(".")[0]
        if name not in valid:
            raise SettingError(
                f"unknown setting {section}.{name}; valid {section} settings: {', '.join(valid)}",
                key=f"{section}.{name}",
            )
        kind = hints[name]
        optional = type(None) in typing.get_args(kind)
        if value in (None, "") and not optional and "." not in key:
            raise SettingError(
                f"{section}.{name} needs a value (nothing was given after '=')",
                key=f"{section}.{name}",
            )
        if "." not in key and value is not None:
            _check_shape(f"{section}.{name}", kind, value)
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            choices = [member.value for member in kind]
            if str(value) not in choices:
                raise SettingError(
                    f"{section}.{name}: invalid value {value!r}; valid: {', '.join(choices)}",
                    key=f"{section}.{name}",
                )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), dict(settings))
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except (OmegaConfBaseException, TypeError) as err:
        key = f"{section}.{getattr(err, 'full_key', None) or '?'}"
        raise SettingError(f"{key}: {first_line(err)}", key=key) from None


T = TypeVar("T", bound="DataclassInstance")


def _check_shape(key: str, kind: Any, value: Any) -> None:
    """Raise `SettingError` when `value` is not the shape of the field's type `kind`: a list for
    a list field, a mapping for a mapping field, one value for any other; for an int, float or
    bool field, a value of that type (text is not a number: `1_0` stays the text it says).
    OmegaConf's own messages name its node classes ("AnyNode is not a ListConfig"), not the
    setting, and it converts text to numbers as Python's `int()` does.
    """
    base = kind
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # `X | None`: X
        base = next(a for a in typing.get_args(kind) if a is not type(None))
    origin = typing.get_origin(base) or base
    if origin in (list, tuple) or origin is Sequence:
        if not isinstance(value, list | tuple):
            example = f"[{_shown(value)}]" if not isinstance(value, Mapping) else "[1, 2]"
            raise SettingError(f"{key}: takes a list, e.g. {example}; got {_shown(value)}", key=key)
    elif origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise SettingError(
                f"{key}: takes a mapping of name: value, e.g. {{name: 1}}; got {_shown(value)}",
                key=key,
            )
    elif isinstance(value, list | tuple | Mapping):
        raise SettingError(f"{key}: takes one value, got {_shown(value)}", key=key)
    elif origin in _SCALAR_TYPES and not _SCALAR_TYPES[origin][0](value):
        # OmegaConf would convert text ("1_0", "0x10") with Python's int(): not what it says.
        shown = f"{value!r} (text)" if isinstance(value, str) else _shown(value)
        raise SettingError(f"{key}: takes {_SCALAR_TYPES[origin][1]}, got {shown}", key=key)


# What a number or boolean field takes: (accepts, in words).
_SCALAR_TYPES: dict[Any, tuple[Any, str]] = {
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
}


def _shown(value: Any) -> str:
    """A value as a person writes it in YAML: `0.001`, `[1, 2]`, `{a: 1}`, `cpu` (an Enum's
    value, not its repr)."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_overrides(items: list[str], sections: tuple[str, ...]) -> dict[str, list[str]]:
    """Group `section.key=value` strings by section: `{"train": ["steps=5"], ...}`.

    Raises ValueError for an item without `=` or a dot, or with an unknown section.
    """
    out: dict[str, list[str]] = {name: [] for name in sections}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, field = key.strip().partition(".")
        if not sep or not dot or not field:
            raise ValueError(
                f"expected a setting as section.key=value, got {item!r} "
                f"(sections: {', '.join(sections)})"
            )
        if section not in out:
            raise ValueError(
                f"unknown settings section {section!r} in {item!r}; valid: {', '.join(sections)}"
            )
        out[section].append(f"{field}={value}")
    return out

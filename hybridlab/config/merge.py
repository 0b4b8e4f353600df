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
import typing
from collections.abc import Mapping
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
        SettingError: an unknown field, an invalid enum value or a value of the wrong type.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(settings, Mapping):
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
    except OmegaConfBaseException as err:
        key = f"{section}.{getattr(err, 'full_key', None) or '?'}"
        raise SettingError(f"{key}: {first_line(err)}", key=key) from None


T = TypeVar("T", bound="DataclassInstance")


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

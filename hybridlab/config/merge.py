"""Typed settings from mappings and dotted overrides, shared by the CLI and the study loader.

`merge_dataclass(cls, settings, section)` builds an instance of a (structured-config) dataclass
from a mapping or from Hydra-style `field=value` strings, through OmegaConf so that types are
checked; misspelt fields and invalid enum values are `ValueError`s that name `section.field` and
list the valid names.

Example:
    >>> from hybridlab.train import TrainConfig
    >>> merge_dataclass(TrainConfig, ["steps=50", "lr=3e-3"], "train").steps
    50
    >>> merge_dataclass(TrainConfig, {"stepz": 50}, "train")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown setting train.stepz; valid train settings: steps, batch_size, ...
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def merge_dataclass(cls: type, settings: Mapping[str, Any] | list[str], section: str) -> Any:
    """An instance of the dataclass `cls` with `settings` applied over its defaults.

    Args:
        cls: a dataclass that OmegaConf accepts as a structured config.
        settings: a mapping of field values, or dotted overrides such as `["steps=50"]`.
        section: the prefix used in messages (`train` → "train.steps").

    Raises:
        ValueError: an unknown field, an invalid enum value or a value of the wrong type.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(settings, Mapping):
        items = [(str(k), v) for k, v in settings.items()]
    else:
        items = [(item.partition("=")[0], item.partition("=")[2]) for item in settings]
    valid = [f.name for f in fields(cls)]
    hints = typing.get_type_hints(cls)
    for key, value in items:
        name = key.split(".")[0]
        if name not in valid:
            raise ValueError(
                f"unknown setting {section}.{name}; valid {section} settings: {', '.join(valid)}"
            )
        kind = hints[name]
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            choices = [member.value for member in kind]
            if str(value) not in choices:
                raise ValueError(
                    f"{section}.{name}: invalid value {value!r}; valid: {', '.join(choices)}"
                )
    try:
        base = OmegaConf.structured(cls)
        if isinstance(settings, Mapping):
            merged = OmegaConf.merge(base, dict(settings))
        else:
            merged = OmegaConf.merge(base, OmegaConf.from_dotlist(list(settings)))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{section}.{key}: {message}") from None


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

"""Layer kinds from outside hybridlab, declared through the entry-point group `hybridlab.kinds`.

A package declares each kind once, naming its config class (torch-free, a `LayerConfig`):

    [project.entry-points."hybridlab.kinds"]
    toy = "toykind.config:ToyConfig"          # the name is the kind

and the config class names its layer module by an import string, which `hybridlab.layers` alone
imports (so the spec language, the cost model and search spaces never import torch):

    @dataclass(frozen=True, kw_only=True, slots=True)
    class ToyConfig(LayerConfig):
        kind = "toy"
        letter = "T"
        layer_class = "toykind.layer:ToyMixer"

Kinds are discovered once, when `hybridlab.spec.kinds` is first imported, and join `KINDS`,
`ALIASES` and `LETTERS` (and `hybridlab.layers.LAYERS`) beside the built-in ones. A kind, alias or
pattern letter that is already taken, by a built-in kind or another package, is refused with an
error naming both; so is a class that is not a `LayerConfig` dataclass. Set
`HYBRIDLAB_NO_PLUGINS=1` to start without any (to get past a broken package).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

from hybridlab.spec.kinds.base import LayerConfig

ENTRY_POINT_GROUP = "hybridlab.kinds"
DISABLE_ENV = "HYBRIDLAB_NO_PLUGINS"
# Kind names and aliases: lower-case identifiers (a stack always has one, a pattern never does).
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Plugin pattern letters: one upper-case letter (the symbols belong to Megatron's patterns).
_LETTER = re.compile(r"[A-Z]")
_IMPORT_STRING = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class KindPluginError(ValueError):
    """A package's layer kind cannot be registered; the message names the package."""


class EntryPointLike(Protocol):
    """What discovery reads of an `importlib.metadata.EntryPoint`."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    def load(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class PluginKind:
    """A registered kind from outside hybridlab."""

    config_cls: type[LayerConfig]
    # The distribution that declared it (what `pip uninstall` takes).
    package: str
    # `name = value` as declared.
    entry_point: str


def discover_kinds(
    builtins: Sequence[type[LayerConfig]],
    entry_points: Iterable[EntryPointLike] | None = None,
) -> dict[str, PluginKind]:
    """The kinds installed packages declare, checked against `builtins` and each other.

    Args:
        builtins: the built-in config classes, whose names, aliases and letters are taken.
        entry_points: the entry points to read; by default the installed `hybridlab.kinds`
            group (none when `HYBRIDLAB_NO_PLUGINS` is set).

    Raises:
        KindPluginError: a class cannot be loaded or is not a `LayerConfig` dataclass, or its
            kind, an alias or its letter clashes with a built-in kind or another package's.
    """
    if entry_points is None:
        if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
            return {}
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    names: dict[str, str] = {}
    letters: dict[str, str] = {}
    for cls in builtins:
        for name in (cls.kind, *cls.aliases):
            names[name] = f"the built-in kind {cls.kind!r}"
        letters[cls.letter] = f"the built-in kind {cls.kind!r}"
    found: dict[str, PluginKind] = {}
    for ep in sorted(entry_points, key=lambda ep: (ep.name, ep.value)):
        plugin = _load(ep)
        cls = plugin.config_cls
        owner = f"kind {cls.kind!r} of package {plugin.package!r}"
        claims = [("kind name", cls.kind, names)]
        claims += [("alias", alias, names) for alias in cls.aliases]
        claims.append(("pattern letter", cls.letter, letters))
        for what, name, taken in claims:
            if name in taken:
                problem = f"its {what} {name!r} is already taken by {taken[name]}"
                raise _error(plugin.package, cls.kind, plugin.entry_point, problem)
            taken[name] = owner
        found[cls.kind] = plugin
    return found


def _load(ep: EntryPointLike) -> PluginKind:
    dist = getattr(ep, "dist", None)
    package = dist.name if dist is not None else ep.value.partition(":")[0].partition(".")[0]
    declared = f"{ep.name} = {ep.value}"
    try:
        cls = ep.load()
    except Exception as err:
        raise KindPluginError(
            f"package {package!r} declares layer kind {ep.name!r} ({ENTRY_POINT_GROUP}: "
            f"{declared}), which cannot be loaded: {type(err).__name__}: {err}{_WAYS_OUT}"
        ) from err
    problem = _class_problem(cls, ep.name)
    if problem:
        raise _error(package, ep.name, declared, problem)
    return PluginKind(config_cls=cls, package=package, entry_point=declared)


def _class_problem(cls: Any, name: str) -> str | None:
    """What is wrong with a declared config class, or None."""
    if not (isinstance(cls, type) and issubclass(cls, LayerConfig)):
        return f"it names {cls!r}, which is not a subclass of hybridlab's LayerConfig"
    if "__dataclass_fields__" not in cls.__dict__:
        return f"{cls.__name__} is not a dataclass: decorate it with @dataclass(frozen=True, ...)"
    if cls.kind != name:
        return f"the entry point's name must be the kind, {cls.kind!r} (the class's `kind`)"
    for alias in (cls.kind, *cls.aliases):
        if not _NAME.fullmatch(alias):
            return f"kind names and aliases are lower-case identifiers, got {alias!r}"
    if not _LETTER.fullmatch(cls.letter):
        return f"its pattern letter must be one upper-case letter A-Z, got {cls.letter!r}"
    if not _IMPORT_STRING.fullmatch(cls.layer_class):
        return (
            f"{cls.__name__}.layer_class must name the layer module as 'package.module:Class', "
            f"got {cls.layer_class!r}"
        )
    return None


def _error(package: str, kind: str, declared: str, problem: str) -> KindPluginError:
    return KindPluginError(
        f"package {package!r} declares layer kind {kind!r} ({ENTRY_POINT_GROUP}: {declared}), "
        f"but {problem}{_WAYS_OUT}"
    )


_WAYS_OUT = f". Fix or uninstall the package, or set {DISABLE_ENV}=1 to start without plugins."


__all__ = [
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "KindPluginError",
    "PluginKind",
    "discover_kinds",
]

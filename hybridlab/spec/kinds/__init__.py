"""The registry of layer kinds' configs: one entry per kind, aliases resolved here.

Adding a kind: a config file here (fields, `check`, costs) with its entry in `KINDS`, and a module
in `hybridlab/layers` with its entry in `hybridlab.layers.LAYERS`. The contract tests then cover it.
Kinds from other packages join through the entry-point group `hybridlab.kinds`, discovered once
here (`hybridlab.spec.kinds.plugins`); `PLUGINS` lists them with the package that declared them.
"""

from __future__ import annotations

from hybridlab.spec.kinds.attn import AttnConfig
from hybridlab.spec.kinds.base import LayerConfig, coerce, format_value
from hybridlab.spec.kinds.gdn import GDNConfig
from hybridlab.spec.kinds.mlp import MLPConfig
from hybridlab.spec.kinds.plugins import PluginKind, discover_kinds
from hybridlab.spec.kinds.scan import ScanConfig
from hybridlab.spec.kinds.ssd import SSDConfig

BUILTIN_KINDS: tuple[type[LayerConfig], ...] = (
    SSDConfig,
    ScanConfig,
    GDNConfig,
    AttnConfig,
    MLPConfig,
)
PLUGINS: dict[str, PluginKind] = discover_kinds(BUILTIN_KINDS)
KINDS: dict[str, type[LayerConfig]] = {
    cls.kind: cls for cls in (*BUILTIN_KINDS, *(p.config_cls for p in PLUGINS.values()))
}
ALIASES: dict[str, str] = {alias: cls.kind for cls in KINDS.values() for alias in cls.aliases}
LETTERS: dict[str, str] = {cls.letter: cls.kind for cls in KINDS.values()}


def resolve_kind(name: str) -> type[LayerConfig] | None:
    """The config class for a kind name or alias, or None."""
    return KINDS.get(ALIASES.get(name, name))


__all__ = [
    "ALIASES",
    "BUILTIN_KINDS",
    "KINDS",
    "LETTERS",
    "PLUGINS",
    "AttnConfig",
    "GDNConfig",
    "LayerConfig",
    "MLPConfig",
    "PluginKind",
    "SSDConfig",
    "ScanConfig",
    "coerce",
    "format_value",
    "resolve_kind",
]

"""Layer modules, one per kind, behind one contract (`hybridlab.layers.base`) and one registry.

Kinds from other packages (`hybridlab.spec.kinds.plugins`) join `LAYERS` here, last, so that
their modules may import from `hybridlab.layers`.
"""

from __future__ import annotations

from hybridlab.layers.attn import Attention
from hybridlab.layers.base import Cache, KVCache, Layer, SSMCache
from hybridlab.layers.gdn import DeltaCache, GatedDeltaNet
from hybridlab.layers.mlp import MLP
from hybridlab.layers.norm import GatedRMSNorm, RMSNorm
from hybridlab.layers.scan import Mamba1
from hybridlab.layers.ssd import Mamba2
from hybridlab.spec.kinds import KINDS, PLUGINS, LayerConfig

LAYERS: dict[str, type[Layer]] = {
    cls.config_cls.kind: cls for cls in (Mamba2, Mamba1, GatedDeltaNet, Attention, MLP)
}


def build_layer(config: LayerConfig, d_model: int) -> Layer:
    """The module for one layer config; the registry's error lists the kinds it knows."""
    try:
        cls = LAYERS[config.kind]
    except KeyError:
        raise ValueError(
            f"no module registered for layer kind {config.kind!r}; registered: {sorted(LAYERS)}"
        ) from None
    return cls(config, d_model)


# Imported here, after the names above exist: a plugin's module may import them.
from hybridlab.layers.plugins import load_plugin_layers  # noqa: E402

LAYERS.update(load_plugin_layers(PLUGINS))

assert set(LAYERS) == set(KINDS), "every spec kind needs a module (and vice versa)"

__all__ = [
    "LAYERS",
    "MLP",
    "Attention",
    "Cache",
    "DeltaCache",
    "GatedDeltaNet",
    "GatedRMSNorm",
    "KVCache",
    "Layer",
    "Mamba1",
    "Mamba2",
    "RMSNorm",
    "SSMCache",
    "build_layer",
]

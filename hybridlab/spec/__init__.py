"""The layer-spec language: text <-> frozen dataclasses, validated with positions. No torch here."""

from hybridlab.spec.build import build_from_pattern, build_spec
from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds import (
    KINDS,
    AttnConfig,
    LayerConfig,
    MLPConfig,
    ScanConfig,
    SSDConfig,
)
from hybridlab.spec.loader import parse
from hybridlab.spec.model_spec import ModelSpec, format_layer


def format_spec(spec: ModelSpec) -> str:
    """The canonical stack text of `spec` (same as `spec.format()`)."""
    return spec.format()


__all__ = [
    "KINDS",
    "AttnConfig",
    "LayerConfig",
    "MLPConfig",
    "ModelSpec",
    "SSDConfig",
    "ScanConfig",
    "SpecError",
    "build_from_pattern",
    "build_spec",
    "format_layer",
    "format_spec",
    "parse",
]

"""The layer-spec language: text <-> frozen dataclasses, validated with positions. No torch here."""

from typing import Any

from hybridlab.spec.build import build_from_pattern, build_spec
from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds import (
    KINDS,
    AttnConfig,
    GDNConfig,
    LayerConfig,
    MLPConfig,
    ScanConfig,
    SSDConfig,
)
from hybridlab.spec.loader import SpecSource, parse, resolve
from hybridlab.spec.model_spec import ModelSpec, format_layer


def format_spec(spec: SpecSource, **parse_kwargs: Any) -> str:
    """The canonical stack text of `spec` (same as `parse(spec, **parse_kwargs).format()`).

    Args:
        spec: a `ModelSpec` or anything `parse` accepts (stack text, a pattern, YAML, a path).
        parse_kwargs: `parse`'s `d_model`, `vocab_size` and `defaults`.

    Example:
        >>> format_spec("ssd, ssd, mlp(hidden=auto)")
        'ssd*2, mlp'
    """
    return resolve(spec, parse_kwargs, "format_spec").format()


__all__ = [
    "KINDS",
    "AttnConfig",
    "GDNConfig",
    "LayerConfig",
    "MLPConfig",
    "ModelSpec",
    "SSDConfig",
    "ScanConfig",
    "SpecError",
    "SpecSource",
    "build_from_pattern",
    "build_spec",
    "format_layer",
    "format_spec",
    "parse",
]

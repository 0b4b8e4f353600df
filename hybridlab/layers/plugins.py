"""The layer modules of kinds from outside hybridlab (see `hybridlab.spec.kinds.plugins`).

Each plugin config class names its module as `layer_class = "pkg.module:Class"`; this is the one
place that imports it, when `hybridlab.layers` is first imported, so the torch-free rooms (spec,
cost, space) can load the config without torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from hybridlab.layers.base import Layer
from hybridlab.spec.kinds.plugins import KindPluginError, PluginKind


def load_plugin_layers(plugins: Mapping[str, PluginKind]) -> dict[str, type[Layer]]:
    """{kind: layer class} for `plugins`, each checked to be a `Layer` of its config class.

    Raises:
        KindPluginError: naming the package, when the module cannot be imported or the class is
            not a `Layer` subclass whose `config_cls` is the kind's config class.
    """
    out: dict[str, type[Layer]] = {}
    for kind, plugin in plugins.items():
        config_cls = plugin.config_cls
        where = (
            f"package {plugin.package!r}: layer kind {kind!r} names its module "
            f"{config_cls.__name__}.layer_class = {config_cls.layer_class!r}"
        )
        module_name, _, qualname = config_cls.layer_class.partition(":")
        try:
            found: object = importlib.import_module(module_name)
            for attr in qualname.split("."):
                found = getattr(found, attr)
        except Exception as err:
            raise KindPluginError(
                f"{where}, which cannot be imported: {type(err).__name__}: {err}"
            ) from err
        if not (isinstance(found, type) and issubclass(found, Layer)):
            raise KindPluginError(f"{where}, which is not a subclass of hybridlab.layers.Layer")
        if getattr(found, "config_cls", None) is not config_cls:
            raise KindPluginError(
                f"{where}, whose config_cls must be {config_cls.__name__} (set "
                f"`config_cls = {config_cls.__name__}` on {found.__name__})"
            )
        out[kind] = found
    return out

"""hybridlab: design hybrid SSM/attention sequence models.

    >>> import hybridlab
    >>> spec = hybridlab.parse("[ssd(d_state=64), mlp]*3, attn(heads=4), mlp", d_model=128)
    >>> model = hybridlab.build_model(spec)
    >>> hybridlab.count_params(spec) == sum(p.numel() for p in model.parameters())
    True

The spec language and cost model import without torch; `build_model` imports it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hybridlab.cost import count_params, flops_per_token, layer_costs, state_bytes
from hybridlab.spec import ModelSpec, SpecError, format_spec, parse
from hybridlab.spec.loader import SpecSource, resolve

if TYPE_CHECKING:
    from hybridlab.model import HybridLM
    from hybridlab.train import TrainConfig, TrainResult

__version__ = "0.1.0"


def build_model(spec: SpecSource, **parse_kwargs: Any) -> HybridLM:
    """Build a `HybridLM` (an nn.Module) from a spec or anything `parse` accepts.

    The spec is parsed and checked here, before torch is imported: a bad value is a `SpecError`
    naming its key, an unknown keyword a `TypeError`.

    Args:
        spec: a `ModelSpec`, stack text, a pattern, YAML text, a path to a `.yaml` file or a
            mapping of the YAML form.
        parse_kwargs: `parse`'s `d_model`, `vocab_size` and `defaults` (they override a
            `ModelSpec`'s too).
    """
    checked = resolve(spec, parse_kwargs, "build_model")
    from hybridlab.model import build_model as _build

    return _build(checked)


def train_proxy(
    spec: ModelSpec | str, task: Any, train_config: TrainConfig | None = None, report: Any = None
) -> TrainResult:
    """Train a proxy of `spec` on `task`; see `hybridlab.train.train_proxy`."""
    from hybridlab.train import train_proxy as _train

    return _train(spec, task, train_config, report)


__all__ = [
    "ModelSpec",
    "SpecError",
    "__version__",
    "build_model",
    "count_params",
    "flops_per_token",
    "format_spec",
    "layer_costs",
    "parse",
    "state_bytes",
    "train_proxy",
]

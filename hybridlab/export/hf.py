"""hybridlab weights in a transformers family's names, and the directory `from_pretrained` loads.

Each family's mapping renames and reshapes, never changes a value: hybridlab's fused matrices
are split where the family keeps them apart (attention's `kv_proj` into `k_proj` and `v_proj`,
SwiGLU's `w_in` into `gate_proj` and `up_proj`), and the depthwise conv weight (C, K) gains the
`nn.Conv1d` axis (C, 1, K). transformers is imported only here, and only when called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from hybridlab.export.families import HFPlan
from hybridlab.export.weights import StateDict
from hybridlab.spec import AttnConfig, LayerConfig, MLPConfig, ModelSpec, ScanConfig, SSDConfig

Tensors = dict[str, torch.Tensor]
WEIGHTS_NAME = "model.safetensors"


def hf_state_dict(plan: HFPlan, spec: ModelSpec, state: StateDict) -> Tensors:
    """`state` (a checked HybridLM state_dict) in `plan`'s family's parameter names.

    The output head is written when the family does not tie it to the embedding (an untied spec,
    or Nemotron-H, which ties nothing: then it is a copy of the embedding).
    """
    out: Tensors = {}
    root, final_norm, embedding, layers = _NAMES[plan.family]
    out[f"{root}.{embedding}.weight"] = state["embedding.weight"]
    out[f"{root}.{final_norm}.weight"] = state["norm_f.weight"]
    if not spec.tie_embeddings or plan.head_copied:
        out["lm_head.weight"] = state["lm_head.weight"]
    for hf_prefix, norm_name, mixer_name, index, layer in layers(spec):
        src = f"blocks.{index}."
        out[f"{root}.layers.{hf_prefix}.{norm_name}.weight"] = state[src + "norm.weight"]
        for name, tensor in _layer_tensors(layer, state, src + "layer."):
            out[f"{root}.layers.{hf_prefix}.{mixer_name}.{name}"] = tensor
    # safetensors refuses tensors that share memory (the halves of a fused matrix, a tied head).
    return {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in out.items()}


Placement = Iterator[tuple[int, str, str, int, LayerConfig]]


def _one_per_layer(mixers: dict[str, str]) -> Callable[[ModelSpec], Placement]:
    """Families with one block per hybridlab layer (Mamba-2, Nemotron-H): `norm`, `mixer`."""

    def place(spec: ModelSpec) -> Placement:
        for index, layer in enumerate(spec.layers):
            yield index, "norm", mixers[layer.kind], index, layer

    return place


def _pairs(mixers: dict[str, str], norms: tuple[str, str]) -> Callable[[ModelSpec], Placement]:
    """Families whose layer is a mixer and its MLP (Llama, Jamba): two norms, two modules."""

    def place(spec: ModelSpec) -> Placement:
        for index, layer in enumerate(spec.layers):
            pair, is_mlp = divmod(index, 2)
            yield pair, norms[is_mlp], mixers[layer.kind], index, layer

    return place


# family: (root module, final norm, embedding, where each hybridlab layer goes).
_NAMES: dict[str, tuple[str, str, str, Callable[[ModelSpec], Placement]]] = {
    "llama": (
        "model",
        "norm",
        "embed_tokens",
        _pairs(
            {"attn": "self_attn", "mlp": "mlp"}, ("input_layernorm", "post_attention_layernorm")
        ),
    ),
    "mamba2": ("backbone", "norm_f", "embeddings", _one_per_layer({"ssd": "mixer"})),
    "nemotron_h": (
        "model",
        "norm_f",
        "embeddings",
        _one_per_layer({"ssd": "mixer", "attn": "mixer", "mlp": "mixer"}),
    ),
    "jamba": (
        "model",
        "final_layernorm",
        "embed_tokens",
        _pairs(
            {"scan": "mamba", "attn": "self_attn", "mlp": "feed_forward"},
            ("input_layernorm", "pre_ff_layernorm"),
        ),
    ),
}


def _layer_tensors(
    layer: LayerConfig, state: StateDict, src: str
) -> Iterator[tuple[str, torch.Tensor]]:
    """One layer's tensors in the names every family shares for that kind."""
    if isinstance(layer, AttnConfig):
        yield "q_proj.weight", state[src + "q_proj.weight"]
        k, v = state[src + "kv_proj.weight"].chunk(2, dim=0)  # (2·K·E, D): keys, then values
        yield "k_proj.weight", k
        yield "v_proj.weight", v
        yield "o_proj.weight", state[src + "out_proj.weight"]
    elif isinstance(layer, MLPConfig):
        w_in = state[src + "w_in.weight"]
        if layer.activation == "swiglu":
            gate, up = w_in.chunk(2, dim=0)  # (2F, D): gate, then up
            yield "gate_proj.weight", gate
            yield "up_proj.weight", up
        else:
            yield "up_proj.weight", w_in
        yield "down_proj.weight", state[src + "w_out.weight"]
    elif isinstance(layer, SSDConfig | ScanConfig):
        yield "conv1d.weight", state[src + "conv1d.weight"].unsqueeze(1)  # (C, K) -> (C, 1, K)
        yield "conv1d.bias", state[src + "conv1d.bias"]
        own = [name for name in state if name.startswith(src) and not name.startswith(src + "conv")]
        for name in own:
            yield _SSM_NAMES.get(name[len(src) :], name[len(src) :]), state[name]
    else:  # `plan_hf` refused every other kind
        raise AssertionError(f"no transformers mapping for {layer.kind}")


# hybridlab's Mamba-1 inner norms in Jamba's names; every other SSM parameter keeps its name
# (in_proj, x_proj, dt_proj, dt_bias, A_log, D, norm, out_proj).
_SSM_NAMES = {
    "dt_norm.weight": "dt_layernorm.weight",
    "B_norm.weight": "b_layernorm.weight",
    "C_norm.weight": "c_layernorm.weight",
}


def hf_config(plan: HFPlan, dtype: torch.dtype | None = None) -> Any:
    """The transformers config object of `plan` (transformers is imported here)."""
    transformers = import_transformers()
    config_class = getattr(transformers, plan.config_class)
    config = config_class(**plan.config)
    if dtype is not None:
        config.dtype = dtype
    return config


def import_transformers() -> Any:
    """transformers, or an ImportError that says how to get it or why it failed."""
    try:
        import transformers
        from transformers import PreTrainedConfig  # noqa: F401  (imports `kernels` when present)
    except ImportError as err:
        shadow = getattr(sys.modules.get("kernels"), "__file__", None)
        if shadow is not None and (Path(shadow).parents[1] / "hybridlab" / "export").is_dir():
            raise ImportError(
                "transformers imports the PyPI package `kernels`, and hybridlab's source folder "
                "kernels/ shadows it when Python runs from the repository root; run from another "
                "folder (the `hybridlab` command is not affected)"
            ) from err
        raise ImportError(
            f'a Hugging Face export needs transformers: pip install "hybridlab[export]" ({err})'
        ) from err
    return transformers


def write_hf(plan: HFPlan, tensors: Tensors | None, folder: Path) -> list[Path]:
    """Write `config.json` (and `model.safetensors` when `tensors` are given) into `folder`."""
    from safetensors.torch import save_file

    dtype = next(iter(tensors.values())).dtype if tensors else None
    hf_config(plan, dtype).save_pretrained(folder)
    written = [folder / "config.json"]
    if tensors is not None:
        save_file(tensors, folder / WEIGHTS_NAME, metadata={"format": "pt"})
        written.append(folder / WEIGHTS_NAME)
    return written


__all__ = ["WEIGHTS_NAME", "hf_config", "hf_state_dict", "import_transformers", "write_hf"]

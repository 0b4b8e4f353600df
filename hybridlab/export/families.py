"""Which Hugging Face transformers family expresses a stack exactly, and its `config.json`.

No torch here: a plan is the family and the keyword arguments of its config class. A stack a
family cannot express exactly (a kind it lacks, a knob it lacks or holds once for the whole model,
a block order it cannot place) is refused with an `ExportError` naming the layer: never an
approximate export.

- `llama`: `[attn, mlp]*N`; RoPE, SwiGLU, one attention and one MLP shape.
- `mamba2`: `ssd*N`; one Mamba-2 shape.
- `nemotron_h`: `ssd`, `attn`, `mlp` in any order; attention without position encoding
  (`rope=false`), squared-ReLU MLP (`activation=relu2`), one shape per kind, its own head.
- `jamba`: `[scan or attn, mlp]*N`; attention without position encoding at a fixed period,
  SwiGLU, Mamba-1 with RMSNorm on dt, B and C (`inner_norms=true`), one shape per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hybridlab.export.errors import refuse
from hybridlab.spec import AttnConfig, LayerConfig, MLPConfig, ModelSpec, ScanConfig, SSDConfig
from hybridlab.spec.model_spec import format_layer

# The epsilon of the norms inside hybridlab's layers (Mamba-2's gated output norm, Mamba-1's
# inner norms: `hybridlab.layers.norm`'s default); the families use the model's `norm_eps` there.
LAYER_NORM_EPS = 1e-5

C = TypeVar("C", bound=LayerConfig)


@dataclass(frozen=True)
class HFPlan:
    """A stack as a transformers family: the config class and its keyword arguments.

    Attributes:
        family: the key in `FAMILIES` ("llama", "mamba2", "nemotron_h", "jamba").
        title: the family's name for messages ("Nemotron-H").
        config_class: the transformers config class, by name ("NemotronHConfig").
        config: its keyword arguments.
        head_copied: the family has no tied head, so the export writes the output head as a
            copy of the embedding (equal logits; the two may drift apart in later training).
    """

    family: str
    title: str
    config_class: str
    config: dict[str, Any] = field(default_factory=dict)
    head_copied: bool = False


def choose_family(spec: ModelSpec) -> str:
    """The family for `spec`'s kinds: attention + MLP → Llama (Nemotron-H when no attention
    layer uses RoPE); Mamba-2 only → Mamba-2; Mamba-2 with attention or MLP → Nemotron-H; Mamba-1
    (with attention, MLP) → Jamba.

    Raises:
        ExportError: at the first layer of a kind no family holds (Gated DeltaNet, a plugin's
            kind), or the first layer that mixes Mamba-1 and Mamba-2.
    """
    first: dict[str, int] = {}
    for index, layer in enumerate(spec.layers):
        if not isinstance(layer, SSDConfig | ScanConfig | AttnConfig | MLPConfig):
            raise refuse(
                "Hugging Face transformers",
                f"no family that hybridlab exports to (Llama, Mamba-2, Nemotron-H, Jamba) has a "
                f"{layer.kind} layer",
                spec,
                index,
            )
        first.setdefault(layer.kind, index)
    if "ssd" in first and "scan" in first:
        second = max(first["ssd"], first["scan"])
        raise refuse(
            "Hugging Face transformers",
            "no family holds both Mamba-1 (scan) and Mamba-2 (ssd) layers",
            spec,
            second,
        )
    if "ssd" in first:
        return "mamba2" if set(first) == {"ssd"} else "nemotron_h"
    if "scan" in first:
        return "jamba"
    # Attention and MLP only: Llama's attention rotates (RoPE); without, Nemotron-H holds them.
    nope = all(not layer.rope for layer in spec.layers if isinstance(layer, AttnConfig))
    return "nemotron_h" if "attn" in first and nope else "llama"


def plan_hf(spec: ModelSpec, family: str | None = None, context: int = 4096) -> HFPlan:
    """The family (`choose_family`'s unless `family` names one) and its config for `spec`.

    Args:
        spec: the stack.
        family: a key of `FAMILIES`, or None to choose from the stack.
        context: `max_position_embeddings`, the longest sequence the model is meant for.

    Raises:
        ExportError: naming the layer the family cannot express, and why.
        ValueError: for an unknown family or a context below 1.
    """
    if family is None:
        family = choose_family(spec)
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be an int >= 1, got {context!r}")
    return FAMILIES[family](spec, context)


def _llama(spec: ModelSpec, context: int) -> HFPlan:
    title = "Llama"
    _kinds(spec, title, {"attn", "mlp"}, "attention and MLP layers only")
    _alternate(spec, title, AttnConfig, "attention")
    attn = one_shape(spec, title, AttnConfig)
    mlp = one_shape(spec, title, MLPConfig)
    assert attn is not None and mlp is not None  # `_alternate` placed both
    _attention(spec, title, rope=True)
    _mlp_activation(spec, title, "swiglu")
    return HFPlan(
        family="llama",
        title=title,
        config_class="LlamaConfig",
        config={
            **_common(spec, context),
            "num_hidden_layers": spec.num_layers // 2,
            "num_attention_heads": attn.heads,
            "num_key_value_heads": attn.num_kv_heads(),
            "head_dim": attn.dim_per_head(spec.d_model),
            "rope_parameters": {"rope_type": "default", "rope_theta": attn.rope_theta},
            "attention_bias": False,
            "intermediate_size": mlp.hidden_dim(spec.d_model),
            "hidden_act": "silu",
            "mlp_bias": False,
            "rms_norm_eps": spec.norm_eps,
            "tie_word_embeddings": spec.tie_embeddings,
        },
    )


def _mamba2(spec: ModelSpec, context: int) -> HFPlan:
    title = "Mamba-2"
    _kinds(spec, title, {"ssd"}, "Mamba-2 layers only (ssd)")
    ssd = one_shape(spec, title, SSDConfig)
    assert ssd is not None
    _layer_norm_eps(spec, title, SSDConfig, "the Mamba-2 gated output norm")
    return HFPlan(
        family="mamba2",
        title=title,
        config_class="Mamba2Config",
        config={
            **_common(spec, context),
            "num_hidden_layers": spec.num_layers,
            **_mamba2_fields(ssd, spec.d_model, prefix=""),
            "layer_norm_epsilon": spec.norm_eps,
            "residual_in_fp32": False,
            "tie_word_embeddings": spec.tie_embeddings,
        },
    )


def _nemotron_h(spec: ModelSpec, context: int) -> HFPlan:
    title = "Nemotron-H"
    _kinds(spec, title, {"ssd", "attn", "mlp"}, "Mamba-2, attention and MLP layers only")
    ssd = one_shape(spec, title, SSDConfig)
    attn = one_shape(spec, title, AttnConfig)
    mlp = one_shape(spec, title, MLPConfig)
    _attention(spec, title, rope=False)
    _mlp_activation(spec, title, "relu2")
    if ssd is not None:
        _layer_norm_eps(spec, title, SSDConfig, "the Mamba-2 gated output norm")
    config: dict[str, Any] = {
        **_common(spec, context),
        # The same letters as `spec.pattern()` and Megatron-LM: M Mamba-2, * attention, - MLP.
        "hybrid_override_pattern": spec.pattern(),
        "layer_norm_epsilon": spec.norm_eps,
        "residual_in_fp32": False,
        "use_bias": False,
        # Nemotron-H's head is its own matrix (its model class ties nothing).
        "tie_word_embeddings": False,
    }
    if ssd is not None:
        config.update(_mamba2_fields(ssd, spec.d_model, prefix="mamba_"))
    if attn is not None:
        config.update(
            num_attention_heads=attn.heads,
            num_key_value_heads=attn.num_kv_heads(),
            head_dim=attn.dim_per_head(spec.d_model),
            attention_bias=False,
        )
    if mlp is not None:
        config.update(
            intermediate_size=mlp.hidden_dim(spec.d_model), mlp_hidden_act="relu2", mlp_bias=False
        )
    return HFPlan(
        family="nemotron_h",
        title=title,
        config_class="NemotronHConfig",
        config=config,
        head_copied=spec.tie_embeddings,
    )


def _jamba(spec: ModelSpec, context: int) -> HFPlan:
    title = "Jamba"
    _kinds(spec, title, {"scan", "attn", "mlp"}, "Mamba-1, attention and MLP layers only")
    _alternate(spec, title, AttnConfig | ScanConfig, "Mamba-1 or attention")
    scan = one_shape(spec, title, ScanConfig)
    attn = one_shape(spec, title, AttnConfig)
    mlp = one_shape(spec, title, MLPConfig)
    assert mlp is not None  # `_alternate` placed one
    _attention(spec, title, rope=False)
    _mlp_activation(spec, title, "swiglu")
    for index, layer in enumerate(spec.layers):
        if isinstance(layer, ScanConfig) and not layer.inner_norms:
            raise refuse(
                title,
                "Jamba's Mamba layers apply an RMSNorm to dt, B and C before the scan; write "
                "scan(inner_norms=true)",
                spec,
                index,
            )
    if scan is not None:
        _layer_norm_eps(spec, title, ScanConfig, "the Mamba-1 norms on dt, B and C")
    period, offset = _jamba_period(spec, title)
    config: dict[str, Any] = {
        **_common(spec, context),
        "num_hidden_layers": spec.num_layers // 2,
        "attn_layer_period": period,
        "attn_layer_offset": offset,
        # One expert everywhere: every MLP is a plain JambaMLP.
        "num_experts": 1,
        "num_experts_per_tok": 1,
        "expert_layer_period": 1,
        "expert_layer_offset": 0,
        "intermediate_size": mlp.hidden_dim(spec.d_model),
        "hidden_act": "silu",
        "rms_norm_eps": spec.norm_eps,
        "tie_word_embeddings": spec.tie_embeddings,
    }
    if attn is not None:
        if attn.dim_per_head(spec.d_model) * attn.heads != spec.d_model:
            index = _first(spec, AttnConfig)
            raise refuse(
                title,
                f"Jamba's attention has head_dim = d_model / heads = {spec.d_model // attn.heads}",
                spec,
                index,
            )
        config.update(num_attention_heads=attn.heads, num_key_value_heads=attn.num_kv_heads())
    if scan is not None:
        config.update(
            mamba_d_state=scan.d_state,
            mamba_d_conv=scan.d_conv,
            mamba_expand=scan.expand,
            mamba_dt_rank=scan.rank(spec.d_model),
            mamba_conv_bias=True,
            mamba_proj_bias=False,
        )
    return HFPlan(family="jamba", title=title, config_class="JambaConfig", config=config)


def _jamba_period(spec: ModelSpec, title: str) -> tuple[int, int]:
    """Jamba's `(attn_layer_period, attn_layer_offset)`: attention sits in Jamba layer i (a mixer
    and its MLP) exactly when i % period == offset."""
    layers = spec.num_layers // 2
    attention = [i for i in range(layers) if isinstance(spec.layers[2 * i], AttnConfig)]
    if not attention:
        return layers + 1, layers  # offset past the last layer: no attention anywhere
    # One attention layer: any period past the end places it alone.
    period = attention[1] - attention[0] if len(attention) > 1 else layers
    offset = attention[0] % period
    for i in range(layers):
        if (i % period == offset) != (i in attention):
            what = "an attention layer" if i in attention else "a Mamba-1 layer"
            raise refuse(
                title,
                f"Jamba places attention every {period} layers from layer {offset} (pairs of a "
                f"mixer and its MLP); this is {what} off that period",
                spec,
                2 * i,
            )
    return period, offset


def _common(spec: ModelSpec, context: int) -> dict[str, Any]:
    return {
        "vocab_size": spec.vocab_size,
        "hidden_size": spec.d_model,
        "max_position_embeddings": context,
        # The lab's vocabularies have no special tokens: generation stops at max_new_tokens.
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
    }


def _mamba2_fields(ssd: SSDConfig, d_model: int, prefix: str) -> dict[str, Any]:
    """Mamba-2's shape in Mamba2Config's names (`prefix=""`) or NemotronHConfig's ("mamba_" on
    the head count and size; the rest as in Mamba2Config)."""
    heads = "mamba_num_heads" if prefix else "num_heads"
    head_dim = "mamba_head_dim" if prefix else "head_dim"
    state = "ssm_state_size" if prefix else "state_size"
    return {
        heads: ssd.nheads(d_model),
        head_dim: ssd.headdim,
        state: ssd.d_state,
        "n_groups": ssd.ngroups,
        "expand": ssd.expand,
        "conv_kernel": ssd.d_conv,
        "use_conv_bias": True,
        "chunk_size": ssd.chunk_size,
        "time_step_min": ssd.dt_min,
        "time_step_max": ssd.dt_max,
        "time_step_limit": (0.0, float("inf")),
    }


def _kinds(spec: ModelSpec, title: str, allowed: set[str], holds: str) -> None:
    for index, layer in enumerate(spec.layers):
        if layer.kind not in allowed:
            raise refuse(title, f"{title} holds {holds}", spec, index)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _alternate(spec: ModelSpec, title: str, mixer: Any, what: str) -> None:
    """The stack is pairs (mixer, mlp): each of the family's layers is a mixer and its MLP."""
    for index, layer in enumerate(spec.layers):
        want_mlp = index % 2 == 1
        if want_mlp != isinstance(layer, MLPConfig) or not (want_mlp or isinstance(layer, mixer)):
            want = "an mlp" if want_mlp else f"{_article(what)} {what} layer"
            raise refuse(
                title,
                f"each {title} layer is {_article(what)} {what} layer and its MLP, so the stack "
                f"must alternate "
                f"[mixer, mlp]; position {index} needs {want}",
                spec,
                index,
            )
    if spec.num_layers % 2:
        raise refuse(
            title,
            f"each {title} layer is {_article(what)} {what} layer and its MLP; the last mixer "
            f"has no MLP",
            spec,
            spec.num_layers - 1,
        )


def one_shape(spec: ModelSpec, title: str, kind: type[C]) -> C | None:
    """The one configuration of `kind` in the stack (None if it has none); `title` holds one
    shape per kind, so a second, different one is refused."""
    found: C | None = None
    first = 0
    for index, layer in enumerate(spec.layers):
        if not isinstance(layer, kind):
            continue
        if found is None:
            found, first = layer, index
        elif layer != found:
            raise refuse(
                title,
                f"{title}'s config holds one {layer.kind} shape for every layer; this one differs "
                f"from layer {first} ({format_layer(found)})",
                spec,
                index,
            )
    return found


def _attention(spec: ModelSpec, title: str, *, rope: bool) -> None:
    for index, layer in enumerate(spec.layers):
        if not isinstance(layer, AttnConfig):
            continue
        if layer.window is not None:
            reason = f"{title}'s attention has no sliding window"
        elif layer.rope != rope:
            reason = (
                f"{title}'s attention rotates queries and keys (RoPE); write attn(rope=true)"
                if rope
                else f"{title}'s attention has no position encoding; write attn(rope=false)"
            )
        else:
            continue
        raise refuse(title, reason, spec, index)


def _mlp_activation(spec: ModelSpec, title: str, activation: str) -> None:
    wanted = {"swiglu": "SwiGLU", "relu2": "squared ReLU without a gate"}[activation]
    for index, layer in enumerate(spec.layers):
        if isinstance(layer, MLPConfig) and layer.activation != activation:
            raise refuse(
                title,
                f"{title}'s MLP is {wanted}; write mlp(activation={activation})",
                spec,
                index,
            )


def _layer_norm_eps(spec: ModelSpec, title: str, kind: type[LayerConfig], norm: str) -> None:
    if spec.norm_eps != LAYER_NORM_EPS:
        raise refuse(
            title,
            f"{title} uses the model's norm_eps={spec.norm_eps:g} in {norm}, where hybridlab "
            f"uses {LAYER_NORM_EPS:g}; set norm_eps: {LAYER_NORM_EPS:g}",
            spec,
            _first(spec, kind),
        )


def _first(spec: ModelSpec, kind: type[LayerConfig]) -> int:
    return next(i for i, layer in enumerate(spec.layers) if isinstance(layer, kind))


FAMILIES: dict[str, Callable[[ModelSpec, int], HFPlan]] = {
    "llama": _llama,
    "mamba2": _mamba2,
    "nemotron_h": _nemotron_h,
    "jamba": _jamba,
}

__all__ = ["FAMILIES", "LAYER_NORM_EPS", "HFPlan", "choose_family", "one_shape", "plan_hf"]

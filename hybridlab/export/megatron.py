"""The argument block of a Megatron-LM (or NeMo) hybrid model run: the stack as command-line flags.

No weights: the block describes the architecture; parallelism, data, tokenizer and training
flags are the run's own. Every flag written is in `MEGATRON_FLAGS`, each with where Megatron-LM
defines it, and the tests parse the block against that list. No torch here.

Megatron-LM's hybrid layers fix what hybridlab leaves free, and a stack that sets it otherwise is
refused by layer: its Mamba mixer has a width-4 conv (`MambaMixer(d_conv=4)`); its Gated DeltaNet
and its absent Mamba-1 are not hybridlab's; one shape per kind for the whole model.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from hybridlab.export.errors import refuse
from hybridlab.export.families import one_shape
from hybridlab.spec import AttnConfig, MLPConfig, ModelSpec, SSDConfig

TARGET = "Megatron-LM"
# The width of the conv in Megatron-LM's MambaMixer (megatron/core/ssm/mamba_mixer.py).
MEGATRON_D_CONV = 4

_ARGS = "megatron/training/arguments.py"
_TRANSFORMER = "megatron/core/transformer/transformer_config.py (TransformerConfig, as --flags)"
_TOKENIZER = "megatron/training/config/training_config.py (TokenizerConfig, as --flags)"


@dataclass(frozen=True)
class Flag:
    """A Megatron-LM command-line flag: whether it takes a value (and of which type), and the
    file that defines it (NVIDIA/Megatron-LM, checked at commit d98e8a6, August 2026)."""

    type: type | None
    source: str


MEGATRON_FLAGS: dict[str, Flag] = {
    # Deprecated in favour of --hybrid-layer-pattern (Feb 2026), which older Megatron-LM and NeMo
    # lack; current Megatron-LM forwards it with a warning, so it works on both.
    "--hybrid-override-pattern": Flag(str, _ARGS + " (_add_experimental_args)"),
    "--num-layers": Flag(int, _TRANSFORMER),
    "--hidden-size": Flag(int, _TRANSFORMER),
    "--ffn-hidden-size": Flag(int, _TRANSFORMER),
    "--num-attention-heads": Flag(int, _TRANSFORMER),
    "--group-query-attention": Flag(None, _ARGS + " (_add_network_size_args)"),
    "--num-query-groups": Flag(int, _TRANSFORMER),
    "--kv-channels": Flag(int, _TRANSFORMER),
    "--position-embedding-type": Flag(str, _ARGS + " (_add_network_size_args)"),
    "--rotary-base": Flag(int, _ARGS + " (_add_network_size_args)"),
    "--max-position-embeddings": Flag(int, _ARGS + " (_add_network_size_args)"),
    "--seq-length": Flag(int, _ARGS + " (_add_data_args)"),
    "--swiglu": Flag(None, _ARGS + " (_add_network_size_args)"),
    "--squared-relu": Flag(None, _ARGS + " (_add_network_size_args)"),
    "--normalization": Flag(str, _TRANSFORMER),
    "--norm-epsilon": Flag(float, _TRANSFORMER + ", layernorm_epsilon"),
    "--disable-bias-linear": Flag(None, _TRANSFORMER + ", add_bias_linear"),
    "--untie-embeddings-and-output-weights": Flag(None, _ARGS + " (_add_network_size_args)"),
    "--mamba-state-dim": Flag(int, _TRANSFORMER),
    "--mamba-head-dim": Flag(int, _TRANSFORMER),
    "--mamba-num-groups": Flag(int, _TRANSFORMER),
    "--mamba-num-heads": Flag(int, _TRANSFORMER),
    "--vocab-size": Flag(int, _TOKENIZER),
}

Args = list[tuple[str, str | None]]


def megatron_args(spec: ModelSpec, context: int = 4096) -> Args:
    """The flags (name, value or None) that describe `spec` to Megatron-LM's hybrid model.

    Raises:
        ExportError: naming the first layer Megatron-LM cannot express, and why.
    """
    for index, layer in enumerate(spec.layers):
        if not isinstance(layer, SSDConfig | AttnConfig | MLPConfig):
            reason = (
                "Megatron-LM's hybrid models have no Mamba-1 layer"
                if layer.kind == "scan"
                else f"hybridlab exports Mamba-2, attention and MLP layers to {TARGET}, not "
                f"{layer.kind}"
            )
            raise refuse(TARGET, reason, spec, index)
        if isinstance(layer, SSDConfig) and layer.d_conv != MEGATRON_D_CONV:
            raise refuse(
                TARGET,
                f"{TARGET}'s Mamba mixer has a conv of width {MEGATRON_D_CONV}; write "
                f"ssd(d_conv={MEGATRON_D_CONV})",
                spec,
                index,
            )
        if isinstance(layer, AttnConfig) and layer.window is not None:
            raise refuse(
                TARGET, "hybridlab does not export sliding windows to Megatron-LM", spec, index
            )
        if isinstance(layer, AttnConfig) and layer.rope and not layer.rope_theta.is_integer():
            raise refuse(
                TARGET,
                f"{TARGET}'s --rotary-base is an integer, got rope_theta={layer.rope_theta}",
                spec,
                index,
            )
    ssd = one_shape(spec, TARGET, SSDConfig)
    attn = one_shape(spec, TARGET, AttnConfig)
    mlp = one_shape(spec, TARGET, MLPConfig)
    D = spec.d_model
    args: Args = [
        ("--hybrid-override-pattern", spec.pattern()),
        ("--num-layers", str(spec.num_layers)),
        ("--hidden-size", str(D)),
        ("--normalization", "RMSNorm"),
        ("--norm-epsilon", repr(spec.norm_eps)),
        ("--disable-bias-linear", None),
        ("--vocab-size", str(spec.vocab_size)),
        ("--seq-length", str(context)),
        ("--max-position-embeddings", str(context)),
    ]
    if not spec.tie_embeddings:
        args.append(("--untie-embeddings-and-output-weights", None))
    if ssd is not None:
        args += [
            ("--mamba-state-dim", str(ssd.d_state)),
            ("--mamba-head-dim", str(ssd.headdim)),
            ("--mamba-num-groups", str(ssd.ngroups)),
            ("--mamba-num-heads", str(ssd.nheads(D))),
        ]
    if attn is None:
        # Megatron derives kv_channels = hidden_size // num_attention_heads whatever the pattern.
        args.append(("--num-attention-heads", "1"))
    else:
        args += [
            ("--num-attention-heads", str(attn.heads)),
            ("--kv-channels", str(attn.dim_per_head(D))),
            ("--position-embedding-type", "rope" if attn.rope else "none"),
        ]
        if attn.num_kv_heads() != attn.heads:
            groups = str(attn.num_kv_heads())
            args += [("--group-query-attention", None), ("--num-query-groups", groups)]
        if attn.rope:
            args.append(("--rotary-base", str(int(attn.rope_theta))))
    if mlp is not None:
        args.append(("--ffn-hidden-size", str(mlp.hidden_dim(D))))
        args.append(("--swiglu" if mlp.activation == "swiglu" else "--squared-relu", None))
    return args


def format_args(spec: ModelSpec, args: Args) -> str:
    """The block as a bash array, one flag per line, values quoted for the shell.

    Use: `source megatron_args.sh && torchrun pretrain_hybrid.py "${HYBRIDLAB_ARGS[@]}" ...`.
    """
    lines = [
        f"# Megatron-LM hybrid model arguments for the hybridlab stack {spec.format()}",
        f"# (d_model {spec.d_model}, vocab_size {spec.vocab_size}), written by hybridlab export.",
        "# Add the run's own parallelism, data, tokenizer and training flags.",
        "HYBRIDLAB_ARGS=(",
    ]
    for flag, value in args:
        lines.append(f"    {flag}" + ("" if value is None else f" {shlex.quote(value)}"))
    lines.append(")")
    return "\n".join(lines) + "\n"


__all__ = ["MEGATRON_FLAGS", "Flag", "format_args", "megatron_args"]

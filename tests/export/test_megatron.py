"""`--to megatron`: every flag written is one Megatron-LM defines (the list in
`hybridlab.export.megatron`, with where each is defined), the block parses back to the stack's
shape, and stacks Megatron-LM's hybrid models cannot express are refused by layer."""

from __future__ import annotations

import argparse
import shlex

import pytest

import hybridlab
from hybridlab.export import MEGATRON_FILE, ExportError, export, megatron_args
from hybridlab.export.megatron import MEGATRON_FLAGS


def parser() -> argparse.ArgumentParser:
    """An argparse parser of exactly `MEGATRON_FLAGS`, typed as Megatron-LM types them."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    for flag, spec in MEGATRON_FLAGS.items():
        if spec.type is None:
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=spec.type)
    return parser


def written_args(text: str) -> list[str]:
    """The flags and values of the bash array in a written block."""
    body = text.split("HYBRIDLAB_ARGS=(", 1)[1].rsplit(")", 1)[0]
    return shlex.split(body)


def test_every_flag_names_where_megatron_defines_it():
    for flag, spec in MEGATRON_FLAGS.items():
        assert flag.startswith("--") and spec.source.startswith("megatron/"), flag


@pytest.mark.parametrize(
    "stack, settings, expected",
    [
        pytest.param(
            "[ssd(d_state=64, headdim=32, ngroups=2), mlp(activation=relu2)]*2, "
            "attn(heads=4, kv_heads=1, rope=false), mlp(activation=relu2)",
            {},
            {
                "hybrid_override_pattern": "M-M-*-",
                "num_layers": 6,
                "mamba_state_dim": 64,
                "mamba_head_dim": 32,
                "mamba_num_groups": 2,
                "mamba_num_heads": 8,
                "num_attention_heads": 4,
                "group_query_attention": True,
                "num_query_groups": 1,
                "kv_channels": 32,
                "position_embedding_type": "none",
                "squared_relu": True,
                "swiglu": False,
                "untie_embeddings_and_output_weights": False,
            },
            id="nemotron-h-like",
        ),
        pytest.param(
            "[attn(rope_theta=500000.0), mlp]*2",
            {"tie_embeddings": False, "norm_eps": 1e-6},
            {
                "hybrid_override_pattern": "*-*-",
                "position_embedding_type": "rope",
                "rotary_base": 500000,
                "group_query_attention": False,
                "swiglu": True,
                "untie_embeddings_and_output_weights": True,
                "norm_epsilon": 1e-6,
                "ffn_hidden_size": 344,
            },
            id="llama-like-untied",
        ),
        pytest.param(
            "ssd*2", {}, {"hybrid_override_pattern": "MM", "num_attention_heads": 1}, id="mamba2"
        ),
    ],
)
def test_the_block_parses_back_to_the_stack(tmp_path, stack, settings, expected):
    spec = hybridlab.parse({"stack": stack, "d_model": 128, "vocab_size": 300, **settings})
    result = export(spec, to="megatron", out=tmp_path / "mega", context=2048)
    assert result.files == (tmp_path / "mega" / MEGATRON_FILE,)
    args = vars(parser().parse_args(written_args(result.files[0].read_text())))
    common = {
        "hidden_size": 128,
        "vocab_size": 300,
        "seq_length": 2048,
        "max_position_embeddings": 2048,
        "normalization": "RMSNorm",
        "disable_bias_linear": True,
    }
    assert {k: args[k] for k in common} == common
    assert {k: args[k] for k in expected} == expected


@pytest.mark.parametrize(
    "stack, layer, text, reason",
    [
        pytest.param("ssd, mlp, gdn", 2, "gdn", "not gdn", id="gated-deltanet"),
        pytest.param("scan, mlp", 0, "scan", "no Mamba-1 layer", id="mamba1"),
        pytest.param("ssd, ssd(d_conv=2)", 1, "ssd(d_conv=2)", "conv of width 4", id="d-conv"),
        pytest.param("ssd, attn(window=8)", 1, "attn(window=8)", "sliding windows", id="window"),
        pytest.param(
            "attn(rope_theta=10000.5), mlp", 0, "attn(rope_theta=10000.5)", "integer", id="theta"
        ),
        pytest.param("mlp, mlp(hidden=8)", 1, "mlp(hidden=8)", "one mlp shape", id="two-mlps"),
    ],
)
def test_a_stack_megatron_cannot_express_is_refused_by_layer(stack, layer, text, reason):
    with pytest.raises(ExportError, match=reason) as info:
        megatron_args(hybridlab.parse(stack))
    assert (info.value.target, info.value.layer, info.value.text) == ("Megatron-LM", layer, text)


def test_megatron_takes_no_weights(tmp_path):
    with pytest.raises(ValueError, match="writes no weights"):
        export("ssd", to="megatron", out=tmp_path / "m", weights={})

"""The family a stack exports to, and the stacks no family expresses exactly: refused with the
layer (index and text) and the reason, before anything is written."""

from __future__ import annotations

import re

import pytest

import hybridlab
from hybridlab.export import ExportError, choose_family, export, plan_hf


@pytest.mark.parametrize(
    "stack, family",
    [
        pytest.param("[attn, mlp]*2", "llama", id="attn-mlp-llama"),
        pytest.param("attn(rope=false)*2", "nemotron_h", id="nope-attn-nemotron-h"),
        pytest.param("ssd*3", "mamba2", id="ssd-only-mamba2"),
        pytest.param("[ssd, mlp(activation=relu2)]*2", "nemotron_h", id="ssd-mlp-nemotron-h"),
        pytest.param("ssd, attn(rope=false), ssd", "nemotron_h", id="ssd-attn-nemotron-h"),
        pytest.param("[scan(inner_norms=true), mlp]*2", "jamba", id="scan-mlp-jamba"),
        pytest.param("scan, mlp, attn, mlp", "jamba", id="scan-attn-jamba"),
    ],
)
def test_the_family_is_chosen_from_the_kinds(stack, family):
    assert choose_family(hybridlab.parse(stack)) == family


REFUSED = [
    pytest.param(
        "ssd, mlp, gdn", None, 2, "gdn", "no family that hybridlab exports to", id="gated-deltanet"
    ),
    pytest.param(
        "ssd, mlp, scan, mlp", None, 2, "scan", "both Mamba-1 (scan) and Mamba-2", id="scan-ssd-mix"
    ),
    pytest.param(
        "[attn(window=64), mlp]*2", None, 0, "attn(window=64)", "no sliding window", id="window"
    ),
    pytest.param("attn, attn, mlp, mlp", None, 1, "attn", "must alternate", id="llama-order"),
    pytest.param("[attn, mlp]*2, attn", None, 4, "attn", "has no MLP", id="llama-odd"),
    pytest.param(
        "attn, mlp, attn(heads=2), mlp",
        None,
        2,
        "attn(heads=2)",
        "one attn shape",
        id="llama-2-shapes",
    ),
    pytest.param(
        "[attn, mlp(activation=relu2)]*2",
        None,
        1,
        "mlp(activation=relu2)",
        "SwiGLU",
        id="llama-relu2",
    ),
    pytest.param(
        "ssd, attn, mlp(activation=relu2)", None, 1, "attn", "write attn(rope=false)", id="nh-rope"
    ),
    pytest.param("ssd, attn(rope=false), mlp", None, 2, "mlp", "activation=relu2", id="nh-swiglu"),
    pytest.param(
        "ssd(d_state=16), ssd(d_state=32)",
        None,
        1,
        "ssd(d_state=32)",
        "one ssd shape",
        id="m2-shapes",
    ),
    pytest.param("scan, mlp", None, 0, "scan", "inner_norms=true", id="jamba-inner-norms"),
    pytest.param(
        "[scan(inner_norms=true), mlp, attn(rope=false), mlp]*2, attn(rope=false), mlp",
        None,
        8,
        "attn(rope=false)",
        "every 2 layers from layer 1",
        id="jamba-period",
    ),
    pytest.param("ssd*2", "llama", 0, "ssd", "attention and MLP layers only", id="asked-llama"),
]


@pytest.mark.parametrize("stack, family, layer, text, reason", REFUSED)
def test_a_stack_the_family_cannot_express_is_refused_by_layer(
    tmp_path, stack, family, layer, text, reason
):
    with pytest.raises(ExportError, match=re.escape(reason)) as info:
        export(stack, to="hf", out=tmp_path / "out", family=family)
    assert (info.value.layer, info.value.text) == (layer, text)
    assert f"layer {layer} ({text})" in str(info.value)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind


def test_a_norm_eps_the_mamba2_gated_norm_does_not_use_is_refused():
    spec = hybridlab.parse({"stack": "attn(rope=false), ssd", "norm_eps": 1e-6})
    with pytest.raises(
        ExportError, match="norm_eps=1e-06 in the Mamba-2 gated output norm"
    ) as info:
        plan_hf(spec)
    assert info.value.layer == 1


def test_a_pure_mamba2_stack_may_ask_for_nemotron_h():
    plan = plan_hf(hybridlab.parse("ssd*2"), family="nemotron_h")
    assert plan.config_class == "NemotronHConfig"
    assert plan.config["hybrid_override_pattern"] == "MM"


def test_jamba_places_attention_by_period_and_offset():
    stack = "[[scan(inner_norms=true), mlp]*3, attn(rope=false), mlp]*2"
    plan = plan_hf(hybridlab.parse(stack))
    assert (plan.config["attn_layer_period"], plan.config["attn_layer_offset"]) == (4, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"to": "onnx"}, "to must be one of hf, megatron", id="target"),
        pytest.param({"family": "mamba"}, "family must be one of", id="family"),
        pytest.param({"context": 0}, "context must be an int >= 1", id="context"),
    ],
)
def test_bad_arguments_name_what_is_wrong(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export("[attn, mlp]", out=tmp_path / "out", **kwargs)


def test_an_existing_non_empty_out_is_refused_unless_forced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not empty"):
        export("ssd", to="megatron", out=out)
    assert (out / "old.txt").read_text() == "keep me"
    export("ssd", to="megatron", out=out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["megatron_args.sh"]

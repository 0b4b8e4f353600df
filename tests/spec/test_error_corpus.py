"""Malformed specs, each with the message and the position it must give."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

import hybridlab
from hybridlab import SpecError
from hybridlab.spec import AttnConfig, MLPConfig, ModelSpec, SSDConfig

# (spec text, message fragment, line, column, layer index)
CORPUS = [
    pytest.param("", "the spec is empty", 1, 1, 0, id="empty"),
    pytest.param(
        "[" * 500 + "ssd" + "]" * 500, "groups nest more than 64 deep", 1, 65, 0, id="too-deep"
    ),
    pytest.param("   \n  ", "the spec is empty", 2, 3, 0, id="only-whitespace"),
    pytest.param("ssd, foo", "unknown layer kind 'foo'", 1, 6, 1, id="unknown-kind"),
    pytest.param("ssd, mlpp", "did you mean 'mlp'", 1, 6, 1, id="unknown-kind-suggestion"),
    pytest.param("ssd(d_stat=4)", "unknown argument 'd_stat' for ssd", 1, 5, 0, id="unknown-arg"),
    pytest.param("attn(head=2)", "did you mean 'heads'", 1, 6, 0, id="unknown-arg-suggestion"),
    pytest.param("[ssd, mlp*3", "expected ',' or ']'", 1, 12, 4, id="unclosed-group"),
    pytest.param("ssd, mlp]", "expected ',' or the end", 1, 9, 2, id="stray-close"),
    pytest.param("ssd(d_state=64", "expected ',' or ')'", 1, 15, 0, id="unclosed-args"),
    pytest.param("ssd(d_state)", "expected '=' after argument 'd_state'", 1, 12, 0, id="arg-no-eq"),
    pytest.param("ssd(d_state=)", "expected a value for 'd_state'", 1, 13, 0, id="arg-no-value"),
    pytest.param("ssd(=4)", "expected an argument name", 1, 5, 0, id="arg-no-name"),
    pytest.param("ssd(d_state=4, d_state=8)", "given twice", 1, 16, 0, id="duplicate-arg"),
    pytest.param("ssd*0", "repeat count must be >= 1", 1, 5, 0, id="repeat-zero"),
    pytest.param("ssd*x", "expected a repeat count", 1, 5, 1, id="repeat-not-int"),
    pytest.param("ssd*2.5", "expected a repeat count", 1, 5, 1, id="repeat-float"),
    pytest.param("ssd*100000", "more than 1024 layers", 1, 5, 0, id="too-many-layers"),
    pytest.param("ssd, " * 1025, "more than 1024 layers", 1, 5121, 1024, id="1025-listed"),
    pytest.param("M" * 1025, "the pattern has more than 1024", 1, 1025, 1024, id="1025-letters"),
    pytest.param("M" * 100_000, "the pattern has more than 1024", 1, 1025, 1024, id="1e5-letters"),
    pytest.param(
        "mlp, mlp(hidden=10000000000)",
        "more than the 1,099,511,627,776 a spec may ask for (d_model=128): layers[1] = "
        "mlp(hidden=10000000000) has 3,840,000,000,128",
        None,
        None,
        1,
        id="mlp-hidden-huge",
    ),
    pytest.param("[]", "empty group", 1, 2, 0, id="empty-group"),
    pytest.param("ssd,, mlp", "expected a layer kind or '['", 1, 5, 1, id="double-comma"),
    pytest.param("ssd; mlp", "unexpected character ';'", 1, 4, None, id="bad-char"),
    pytest.param("ssd(d_state=64)\nmlp", "expected ',' or the end", 2, 1, 1, id="missing-comma"),
    pytest.param("ssd,\n  attn(heads=3)", "heads=3 must divide d_model=128", 2, 8, 1, id="heads"),
    pytest.param("ssd(headdim=48)", "headdim=48 must divide expand·d_model", 1, 5, 0, id="headdim"),
    pytest.param(
        "ssd(ngroups=3)", "ngroups=3 must divide the number of heads", 1, 5, 0, id="ngroups"
    ),
    pytest.param("ssd(d_state=512)", "d_state=512 must be in [1, 256]", 1, 5, 0, id="d-state-big"),
    pytest.param("scan(d_state=0)", "d_state=0 must be in [1, 256]", 1, 6, 0, id="scan-d-state"),
    pytest.param("ssd(chunk_size=48)", "must be a power of two", 1, 5, 0, id="chunk-size"),
    pytest.param("attn(kv_heads=3)", "kv_heads=3 must divide heads=4", 1, 6, 0, id="kv-heads"),
    pytest.param("attn(heads=4, head_dim=7)", "must be even", 1, 15, 0, id="odd-head-dim"),
    pytest.param("attn(window=0)", "window=0 must be >= 1", 1, 6, 0, id="window"),
    pytest.param(
        "ssd(d_state=true)", "ssd.d_state must be int, got True (bool)", 1, 5, 0, id="bool-for-int"
    ),
    pytest.param("ssd(d_state=1.5)", "must be int, got 1.5 (float)", 1, 5, 0, id="float-for-int"),
    # One rule for every int: a whole number written as a float is refused, with the int to write.
    pytest.param(
        "mlp, ssd(d_state=1e2)", "got 100.0 (float); write whole numbers", 1, 10, 1, id="1e2-int"
    ),
    pytest.param("ssd(expand=2.0)", "expand must be int, got 2.0 (float)", 1, 5, 0, id="2.0-int"),
    pytest.param(
        "ssd(d_state=auto)",
        "needs a value of type int, not 'auto'",
        1,
        5,
        0,
        id="auto-not-optional",
    ),
    pytest.param("ssd(dt_max=1e309)", "must be a finite number, got inf", 1, 5, 0, id="inf"),
    pytest.param("ssd(dt_max=1e308)", "need dt_max <= 10.0", 1, 5, 0, id="dt-max-huge"),
    pytest.param("scan(dt_max=50)", "need dt_max <= 10.0", 1, 6, 0, id="scan-dt-max-huge"),
    pytest.param("ssd(dt_min=0.5, dt_max=0.1)", "dt_min=0.5 <= dt_max=0.1", 1, 5, 0, id="dt-range"),
    pytest.param("mlp(hidden=0)", "hidden=0 must be >= 1", 1, 5, 0, id="mlp-hidden"),
    pytest.param(
        "mlp(activation=gelu)",
        "activation='gelu' is not one of swiglu, relu2",
        1,
        5,
        0,
        id="mlp-activation",
    ),
    pytest.param("mlp(activation=2)", "mlp.activation must be str", 1, 5, 0, id="activation-int"),
    pytest.param("attn(rope=1)", "attn.rope must be bool, got 1 (int)", 1, 6, 0, id="rope-int"),
    pytest.param("scan(dt_rank=0)", "dt_rank=0 must be >= 1", 1, 6, 0, id="dt-rank"),
    pytest.param("[ssd, mlp]*2, attn(kv_heads=5)", "kv_heads=5", 1, 20, 4, id="layer-index"),
    pytest.param("M-X*", "unknown pattern letter 'X'", 1, 3, 2, id="pattern-letter"),
    pytest.param("ssd(d_state=12abc)", "expected ',' or ')'", 1, 15, 0, id="number-then-name"),
    # Issue 14: every value in the text is checked for type, finiteness and range.
    pytest.param("ssd(A_init_max=1e309)", "A_init_max must be a finite", 1, 5, 0, id="a-init-inf"),
    pytest.param("ssd(A_init_max=1e7)", "need A_init_max <= 1e+06", 1, 5, 0, id="a-init-huge"),
    pytest.param("ssd(dt_max=nan)", "ssd.dt_max must be float, got 'nan'", 1, 5, 0, id="nan"),
    pytest.param("ssd(dt_min=-1e309)", "must be a finite number, got -inf", 1, 5, 0, id="-inf"),
    pytest.param("attn(rope_theta=1e309)", "must be a finite", 1, 6, 0, id="rope-theta-inf"),
    pytest.param("attn(rope_theta=0.5)", "rope_theta=0.5 must be >= 1", 1, 6, 0, id="rope-tiny"),
    pytest.param(
        "ssd(d_state=1" + "0" * 5000 + ")", "value of 'd_state' is too long", 1, 5, 0, id="5000-dig"
    ),
    pytest.param("ssd*1" + "0" * 5000, "repeat count is too long", 1, 5, 0, id="5000-digit-count"),
    pytest.param("ssd(d_state: 4)", "unexpected character ':'", 1, 12, None, id="colon-in-args"),
    pytest.param("ssd, mlp:", "unexpected character ':'", 1, 9, None, id="colon-after-stack"),
    pytest.param(
        "[" * 400 + "ssd" + "]" * 400, "groups nest more than 64 deep", 1, 65, 0, id="400-deep"
    ),
]


@pytest.mark.parametrize("text, fragment, line, column, layer", CORPUS)
def test_malformed_spec_reports_message_and_position(text, fragment, line, column, layer):
    with pytest.raises(SpecError) as info:
        hybridlab.parse(text, d_model=128)
    err = info.value
    assert fragment in err.message, f"message was: {err.message}"
    assert (err.line, err.column, err.layer) == (line, column, layer), str(err)


def test_error_is_a_value_error_rendered_with_caret_and_valid_names():
    with pytest.raises(ValueError) as info:
        hybridlab.parse("[ssd, mlp]*2,\n  atn(heads=2)")
    text = str(info.value)
    assert "unknown layer kind 'atn'" in text
    assert "line 2, column 3, layer 4" in text
    assert "\n      atn(heads=2)\n      ^" in text
    assert "valid: ssd, scan, gdn, attn, mlp" in text


def test_unknown_argument_lists_valid_arguments():
    with pytest.raises(SpecError) as info:
        hybridlab.parse("attn(windw=4)")
    assert "window" in info.value.valid and "heads" in info.value.valid


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        pytest.param({"d_model": 0}, "d_model must be a positive integer >= 1", id="d-model-zero"),
        pytest.param(
            {"vocab_size": 1}, "vocab_size must be a positive integer >= 2", id="vocab-one"
        ),
        pytest.param({"d_model": 65_537}, "d_model must be at most 65,536", id="d-model-huge"),
        pytest.param(
            {"vocab_size": 2**22 + 1}, "vocab_size must be at most 4,194,304", id="vocab-huge"
        ),
        pytest.param(
            {"d_model": 16.0}, "without a decimal point or exponent: 16$", id="d-model-16.0"
        ),
        pytest.param(
            {"defaults": {"sdd": {"d_state": 4}}}, "unknown layer kind 'sdd'", id="defaults-kind"
        ),
        pytest.param(
            {"defaults": {"ssd": {"d_stat": 4}}}, "unknown argument 'd_stat'", id="defaults-arg"
        ),
        pytest.param({"defaults": {"ssd": {"d_state": "x"}}}, "must be int", id="defaults-type"),
    ],
)
def test_model_wide_settings_are_checked(kwargs, fragment):
    with pytest.raises(SpecError, match=fragment):
        hybridlab.parse("ssd, mlp", **kwargs)


def test_a_model_over_the_parameter_cap_names_its_largest_part():
    """At the widest d_model and vocabulary, 20 MLPs push the model over 2**40 parameters; the
    untied embedding and head are its largest part, so the error names them, and no layer."""
    with pytest.raises(SpecError) as info:
        ModelSpec(
            layers=(MLPConfig(),) * 20, d_model=65_536, vocab_size=2**22, tie_embeddings=False
        )
    assert "the embedding (vocab_size × d_model) has 274,877,906,944" in info.value.message
    assert info.value.layer is None


def test_default_that_breaks_a_shape_rule_points_at_the_layer():
    with pytest.raises(SpecError) as info:
        hybridlab.parse("mlp, ssd", defaults={"ssd": {"headdim": 48}})
    assert (info.value.line, info.value.column, info.value.layer) == (1, 6, 1)


# Issue 14, the API sweep: each input that was accepted (a silently wrong model) or failed deep
# inside Python, with the message it must give now. (source, parse keyword arguments, fragments)
SWEEP = [
    pytest.param(
        {"stack": "ssd", "tie_embeddings": "false"},
        {},
        ["tie_embeddings must be true or false, got 'false' (str)"],
        id="tie-embeddings-string-false",
    ),
    pytest.param(
        {"stack": "ssd", "tie_embeddings": "no"}, {}, ["tie_embeddings", "'no' (str)"], id="tie-no"
    ),
    pytest.param(
        {"stack": "ssd", "tie_embeddings": "maybe"}, {}, ["tie_embeddings"], id="tie-maybe"
    ),
    pytest.param({"stack": "ssd", "tie_embeddings": 0}, {}, ["got 0 (int)"], id="tie-zero"),
    pytest.param(
        "stack: ssd\ntie_embeddings: 'false'\n", {}, ["tie_embeddings"], id="tie-yaml-quoted"
    ),
    pytest.param(
        "ssd",
        {"defaults": {"ssd": {"dt_max": math.inf}}},
        ["defaults.ssd: ssd.dt_max must be a finite number, got inf"],
        id="defaults-dt-max-inf",
    ),
    pytest.param(
        "ssd", {"defaults": {"ssd": {"dt_max": math.nan}}}, ["ssd.dt_max", "nan"], id="dt-max-nan"
    ),
    pytest.param(
        "ssd",
        {"defaults": {"ssd": {"A_init_max": math.inf}}},
        ["ssd.A_init_max must be a finite number"],
        id="defaults-a-init-max-inf",
    ),
    pytest.param(
        "ssd", {"defaults": {"ssd": {"A_init_max": 1e39}}}, ["A_init_max <= 1e+06"], id="a-1e39"
    ),
    pytest.param(
        "attn",
        {"defaults": {"attn": {"rope_theta": 1e-300}}},
        ["rope_theta=1e-300 must be >= 1"],
        id="rope-theta-tiny-nan-logits",
    ),
    pytest.param(
        {"stack": "ssd", "norm_eps": math.inf},
        {},
        ["norm_eps must be a finite number in [1e-12, 1]", "got inf"],
        id="norm-eps-inf",
    ),
    pytest.param(
        {"stack": "ssd", "norm_eps": math.nan}, {}, ["norm_eps", "nan"], id="norm-eps-nan"
    ),
    pytest.param({"stack": "ssd", "norm_eps": 1e-50}, {}, ["norm_eps"], id="norm-eps-underflow"),
    pytest.param({"stack": "ssd", "norm_eps": True}, {}, ["True (bool)"], id="norm-eps-bool"),
    pytest.param(
        "stack: ssd\nnorm_eps: abc\n",
        {},
        ["norm_eps must be a number, got 'abc' (str)"],
        id="norm-eps-yaml-abc",
    ),
    pytest.param("stack: ssd\nnorm_eps: .inf\n", {}, ["norm_eps", "inf"], id="norm-eps-yaml-inf"),
    pytest.param(
        "stack: ssd\nd_model: 64.0\n", {}, ["d_model", "64.0 (float)"], id="d-model-yaml-float"
    ),
    pytest.param("stack: ssd\nd_model: true\n", {}, ["d_model", "True (bool)"], id="d-model-yes"),
    pytest.param("ssd", {"d_model": 2.5}, ["d_model", "2.5 (float)"], id="d-model-2.5"),
    pytest.param("ssd", {"d_model": True}, ["d_model", "True (bool)"], id="d-model-true"),
    pytest.param("ssd", {"vocab_size": "256"}, ["vocab_size", "'256' (str)"], id="vocab-str"),
    pytest.param(
        "ssd", {"defaults": {"ssd": {"d_state": True}}}, ["ssd.d_state", "True"], id="arg-true"
    ),
    pytest.param(
        "ssd", {"defaults": {"ssd": {"d_state": 2.5}}}, ["ssd.d_state", "2.5"], id="arg-2.5"
    ),
    pytest.param(
        "ssd", {"defaults": {"ssd": {"d_state": "64"}}}, ["ssd.d_state", "'64'"], id="arg-str"
    ),
    pytest.param(
        "stack: ssd\ndefaults: {ssd: 3}\n",
        {},
        ["defaults.ssd must map argument names to values, got 3 (int)"],
        id="defaults-not-a-mapping",
    ),
    pytest.param("ssd", {"defaults": []}, ["defaults must map layer kinds"], id="defaults-list"),
    pytest.param(
        "ssd, mlp,  # see spec.yaml\nfoo",
        {},
        ["unknown layer kind 'foo'"],
        id="comment-with-path-stays-text",
    ),
    pytest.param("spec.yaml", {}, ["spec.yaml: spec file does not exist"], id="missing-file"),
    pytest.param("a" * 5000 + ".yaml", {}, ["cannot be read: File name too long"], id="long-path"),
    pytest.param(5, {}, ["source must be spec text", "5 (int)"], id="source-int"),
    pytest.param(None, {}, ["source must be spec text", "None"], id="source-none"),
    pytest.param(
        "stack: ssd\ndefaults: " + "[" * 1500 + "]" * 1500,
        {},
        ["not valid YAML", "nesting depth"],
        id="yaml-1500-deep",
    ),
    pytest.param(
        "stack: ssd\ndefaults: " + "{a: " * 400 + "1" + "}" * 400,
        {},
        ["the YAML nests too deeply"],
        id="yaml-400-deep-mapping",
    ),
]


@pytest.mark.parametrize("source, kwargs, fragments", SWEEP)
def test_api_sweep_inputs_are_refused_with_the_key_named(source, kwargs, fragments):
    with pytest.raises(SpecError) as info:
        hybridlab.parse(source, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_a_yaml_stack_too_deep_is_positioned_in_the_stack():
    stack = "[" * 400 + "ssd" + "]" * 400
    with pytest.raises(SpecError) as info:
        hybridlab.parse(f"d_model: 64\nstack: '{stack}'\n")
    err = info.value
    assert err.where == "stack" and "groups nest more than 64 deep" in err.message
    assert (err.line, err.column, err.layer) == (1, 65, 0)


def test_a_setting_in_a_file_is_named_with_the_file(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("stack: ssd\nnorm_eps: abc\n")
    with pytest.raises(SpecError, match=r"m\.yaml: norm_eps must be a number, got 'abc'"):
        hybridlab.parse(path)


@pytest.mark.parametrize(
    "make, fragment",
    [
        pytest.param(
            lambda: ModelSpec(layers=(MLPConfig(),), tie_embeddings="false"),
            "tie_embeddings must be true or false",
            id="spec-tie-string",
        ),
        pytest.param(
            lambda: ModelSpec(layers=(MLPConfig(),), norm_eps=math.inf), "norm_eps", id="spec-eps"
        ),
        pytest.param(lambda: ModelSpec(layers="ssd, mlp"), "layers must be a sequence", id="text"),
        pytest.param(lambda: ModelSpec(layers=(1,)), "layers[0] must be a layer config", id="int"),
        pytest.param(lambda: SSDConfig(d_state="64"), "ssd.d_state must be int", id="config-str"),
        pytest.param(lambda: SSDConfig(expand=True), "ssd.expand must be int", id="config-bool"),
        pytest.param(lambda: SSDConfig(dt_max=math.inf), "dt_max must be a finite", id="cfg-inf"),
        pytest.param(lambda: AttnConfig(window=2.5), "attn.window must be int or auto", id="win"),
        pytest.param(
            lambda: dataclasses.replace(hybridlab.parse("ssd"), tie_embeddings="no"),
            "tie_embeddings",
            id="replace",
        ),
    ],
)
def test_constructors_check_types(make, fragment):
    with pytest.raises(SpecError, match=re.escape(fragment)):
        make()


def test_to_yaml_keeps_an_untied_head():
    spec = hybridlab.parse({"stack": "ssd", "tie_embeddings": False, "norm_eps": 1e-6})
    assert "tie_embeddings: false" in spec.to_yaml()
    assert hybridlab.parse(spec.to_yaml()) == spec


def test_build_model_checks_its_arguments_before_building():
    # Issue 14: tie_embeddings="false" built a model whose head was tied.
    with pytest.raises(SpecError, match="tie_embeddings must be true or false, got 'false'"):
        hybridlab.build_model({"stack": "mlp", "tie_embeddings": "false"})
    with pytest.raises(TypeError, match=r"build_model\(\) got an unexpected keyword .*'d_modle'"):
        hybridlab.build_model("mlp", d_modle=16)
    # Keyword arguments override a ModelSpec's settings too (they were dropped silently).
    model = hybridlab.build_model(hybridlab.parse("mlp(hidden=8)"), d_model=16, vocab_size=10)
    assert (model.spec.d_model, model.spec.vocab_size) == (16, 10)

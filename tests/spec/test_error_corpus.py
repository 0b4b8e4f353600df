"""Malformed specs, each with the message and the position it must give."""

from __future__ import annotations

import pytest

import hybridlab
from hybridlab import SpecError

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
        "ssd(d_state=true)", "ssd.d_state must be int, got 'true'", 1, 5, 0, id="bool-for-int"
    ),
    pytest.param("ssd(d_state=1.5)", "must be int, got '1.5'", 1, 5, 0, id="float-for-int"),
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
    pytest.param("scan(dt_rank=0)", "dt_rank=0 must be >= 1", 1, 6, 0, id="dt-rank"),
    pytest.param("[ssd, mlp]*2, attn(kv_heads=5)", "kv_heads=5", 1, 20, 4, id="layer-index"),
    pytest.param("M-X*", "unknown pattern letter 'X'", 1, 3, 2, id="pattern-letter"),
    pytest.param("ssd(d_state=12abc)", "expected ',' or ')'", 1, 15, 0, id="number-then-name"),
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
    assert "valid: ssd, scan, attn, mlp" in text


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


def test_default_that_breaks_a_shape_rule_points_at_the_layer():
    with pytest.raises(SpecError) as info:
        hybridlab.parse("mlp, ssd", defaults={"ssd": {"headdim": 48}})
    assert (info.value.line, info.value.column, info.value.layer) == (1, 6, 1)

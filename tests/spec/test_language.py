"""The layer-spec language: parsing, defaults, canonical form, patterns, the YAML form."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import hybridlab
from hybridlab import SpecError
from hybridlab.spec import AttnConfig, MLPConfig, ScanConfig, SSDConfig


def test_design_example_is_eight_layers():
    spec = hybridlab.parse("[ssd(d_state=64), mlp]*3, attn(heads=4, kv_heads=1), mlp")
    assert [layer.kind for layer in spec.layers] == ["ssd", "mlp"] * 3 + ["attn", "mlp"]
    assert spec.layers[0] == SSDConfig(d_state=64)
    assert spec.layers[6] == AttnConfig(heads=4, kv_heads=1)


@pytest.mark.parametrize(
    "text, canonical",
    [
        pytest.param("ssd, ssd, ssd", "ssd*3", id="single-run"),
        pytest.param("[ssd, mlp]*3, attn, mlp", "[ssd, mlp]*3, attn, mlp", id="group"),
        pytest.param("[[ssd, mlp]*2]*2", "[ssd, mlp]*4", id="nested-flattens"),
        pytest.param("ssd(d_state=128), attn(heads=4)", "ssd, attn", id="defaults-dropped"),
        pytest.param("mamba2, mamba1, attention, swiglu", "ssd, scan, attn, mlp", id="aliases"),
        pytest.param("ssd(dt_min = 1e-3,)", "ssd", id="float-default"),
        pytest.param("ssd(dt_min=2e-3)", "ssd(dt_min=0.002)", id="float"),
        pytest.param("attn(window=none), attn(window=16)", "attn, attn(window=16)", id="optional"),
        pytest.param("[ssd, ssd, attn]*2", "[ssd*2, attn]*2", id="inner-run"),
        pytest.param("ssd, # the first\n mlp,  # trailing comma\n", "ssd, mlp", id="comments"),
    ],
)
def test_canonical_form(text, canonical):
    spec = hybridlab.parse(text)
    assert spec.format() == canonical
    assert hybridlab.format_spec(spec) == canonical
    assert hybridlab.parse(canonical) == spec


def test_per_kind_defaults_apply_and_args_override():
    spec = hybridlab.parse(
        "ssd, ssd(d_state=32), attn", defaults={"ssd": {"d_state": 64}, "mha": {"heads": 2}}
    )
    assert spec.layers[0].d_state == 64 and spec.layers[1].d_state == 32
    assert spec.layers[2].heads == 2
    assert spec.format() == "ssd(d_state=64), ssd(d_state=32), attn(heads=2)"


@pytest.mark.parametrize(
    "pattern, kinds",
    [
        pytest.param("M-M*-", ["ssd", "mlp", "ssd", "attn", "mlp"], id="nemotron-style"),
        pytest.param("MS*", ["ssd", "scan", "attn"], id="mamba1-letter"),
        pytest.param("M-|M-", ["ssd", "mlp", "ssd", "mlp"], id="pipeline-separator"),
    ],
)
def test_pattern_import(pattern, kinds):
    spec = hybridlab.parse(pattern)
    assert [layer.kind for layer in spec.layers] == kinds


def test_pattern_export_and_import_round_trip_with_defaults():
    defaults = {"ssd": {"d_state": 16, "headdim": 32}}
    spec = hybridlab.parse("[ssd, mlp]*4, attn, mlp", defaults=defaults)
    assert spec.pattern() == "M-M-M-M-*-"
    assert hybridlab.parse(spec.pattern(), defaults=defaults) == spec


YAML = """\
d_model: 64
vocab_size: 512
defaults: {ssd: {d_state: 16, headdim: 32}, attn: {heads: 2}}
stack: "[ssd, mlp]*2, attn, mlp"
"""


def test_yaml_form_text_file_and_mapping(tmp_path: Path):
    spec = hybridlab.parse(YAML)
    assert (spec.d_model, spec.vocab_size, spec.num_layers) == (64, 512, 6)
    assert spec.layers[0] == SSDConfig(d_state=16, headdim=32)
    path = tmp_path / "model.yaml"
    path.write_text(YAML)
    assert hybridlab.parse(path) == spec
    assert hybridlab.parse(str(path)) == spec
    assert hybridlab.parse(spec.to_dict()) == spec
    assert hybridlab.parse(spec.to_yaml()) == spec


def test_yaml_pattern_key_and_overrides():
    spec = hybridlab.parse("d_model: 64\npattern: M-*-\n", vocab_size=100, d_model=96)
    assert (spec.d_model, spec.vocab_size, spec.pattern()) == (96, 100, "M-*-")


@pytest.mark.parametrize(
    "text, fragment",
    [
        pytest.param("d_model: 64\nstak: ssd\n", "unknown key 'stak'", id="unknown-key"),
        pytest.param("d_model: 64\n", "exactly one of 'stack' or 'pattern'", id="no-stack"),
        pytest.param("stack: ssd\npattern: M\n", "exactly one", id="both"),
        pytest.param("stack: [ssd, mlp]\n", "stack must be a string", id="stack-list"),
        pytest.param("stack: 'ssd, foo'\n", "stack: unknown layer kind 'foo'", id="bad-stack"),
        pytest.param(
            "stack: ssd\nd_model: {a: 1}\n", "d_model must be a positive integer", id="d-model"
        ),
        pytest.param("stack: ssd\n  bad: [\n", "not valid YAML", id="bad-yaml"),
        pytest.param(
            "stack: ssd\ndefaults: {ssd: {foo: 1}}\n", "unknown argument 'foo'", id="defaults"
        ),
    ],
)
def test_yaml_errors(text, fragment):
    with pytest.raises(SpecError, match=fragment):
        hybridlab.parse(text)


def test_missing_spec_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(SpecError, match="does not exist"):
        hybridlab.parse(str(tmp_path / "nope.yaml"))


def test_spec_is_frozen_and_revalidated_on_replace():
    spec = hybridlab.parse("mlp, attn(heads=4)", d_model=64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.d_model = 32  # type: ignore[misc]
    with pytest.raises(SpecError, match="heads=4 must divide d_model=66"):
        dataclasses.replace(spec, d_model=66)


def test_configs_are_typed_and_kw_only():
    with pytest.raises(TypeError):
        SSDConfig(64)  # type: ignore[misc]
    assert ScanConfig().d_state == 16 and SSDConfig().d_state == 128
    assert MLPConfig().hidden_dim(128) == 344

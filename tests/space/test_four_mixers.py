"""Gated DeltaNet in layouts and search spaces: `ssm: gdn`, its letter in explicit patterns, and
the shipped four-mixer space (ssd, scan, gdn, attn) that samples and builds every mixer."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest
import torch

import hybridlab
from hybridlab.config import load_yaml
from hybridlab.space import InfeasibleSample, load_space
from hybridlab.space.layout import SSM_KINDS, layout_pattern, layout_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("layout", "pattern"),
    [
        pytest.param(dict(depth=3, num_attn=1, ssm="gdn", mlp=True), "G-*-G-", id="gdn-spread"),
        pytest.param(
            dict(depth=2, attn_ratio=0.5, placement="back", ssm="gated_deltanet"), "G*", id="alias"
        ),
        pytest.param(dict(placement="MG*S"), "MG*S", id="explicit-all-four"),
    ],
)
def test_layouts_take_gated_deltanet(layout, pattern):
    assert layout_pattern(**layout) == pattern
    assert hybridlab.parse(layout_stack(**layout), d_model=64).pattern() == pattern


def test_ssm_choices_are_every_kind_but_attention_and_mlp():
    assert {"ssd", "scan", "gdn"} <= set(SSM_KINDS)
    assert not {"attn", "mlp"} & set(SSM_KINDS)
    with pytest.raises(ValueError, match=r"unknown ssm kind 'attn'; valid: ssd, scan, gdn"):
        layout_pattern(depth=2, ssm="attn")


def test_a_pattern_with_an_unknown_letter_lists_the_letters():
    with pytest.raises(ValueError, match=r"G \(gdn\)"):
        layout_pattern(placement="MQ*")


def test_the_four_mixer_space_samples_and_builds_each_mixer():
    space = load_space(load_yaml(ROOT / "search_spaces" / "four_mixers.yaml", what="space"))
    specs = {}
    for ssm, ratio in itertools.product(["ssd", "scan", "gdn"], [0.0, 0.5, 1.0]):
        values = space.sample(optuna.trial.FixedTrial({"ssm": ssm, "attn_ratio": ratio}))
        try:
            proposal_spec = space.build(values, vocab_size=80)
            space.check(values, proposal_spec)
        except InfeasibleSample:
            assert ratio == 1.0 and ssm != "ssd"  # one all-attention representative
            continue
        specs[(ssm, ratio)] = proposal_spec
    assert len(specs) == 7
    kinds = {layer.kind for spec in specs.values() for layer in spec.layers}
    assert kinds == {"ssd", "scan", "gdn", "attn"}
    assert specs[("gdn", 0.5)].pattern() == "G*"
    torch.manual_seed(0)
    ids = torch.randint(0, 80, (2, 9))
    for spec in specs.values():
        model = hybridlab.build_model(spec)
        assert model(ids).shape == (2, 9, 80)
        assert hybridlab.count_params(spec) == sum(p.numel() for p in model.parameters())

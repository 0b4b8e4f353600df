"""Spaces: the shipped files, interpolation, the model template, constraints, infeasibility."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import optuna
import pytest

import hybridlab
from hybridlab.config import StudyConfigError, load_yaml, parse_yaml
from hybridlab.space import InfeasibleSample, load_space
from hybridlab.space.knobs import RandomSuggester

ROOT = Path(__file__).resolve().parents[2]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def space_from(text: str):
    return load_space(parse_yaml(text, where="space.yaml", what="space"))


@pytest.mark.parametrize("name", ["hybrid_small", "ratio_placement"])
def test_shipped_spaces_sample_valid_hybrids(name):
    space = load_space(load_yaml(ROOT / "search_spaces" / f"{name}.yaml", what="space"))
    proposals = space.precheck(vocab_size=128, draws=48)
    assert len(proposals) >= 10
    for p in proposals:
        pattern = p.spec.pattern()
        mixers = pattern.replace("-", "")
        if (
            "*" in mixers
            and set(mixers) != {"*"}
            and p.values.get("placement", "spread") == "spread"
        ):
            assert mixers[0] != "*" and mixers[-1] != "*", pattern
        assert p.spec.vocab_size == 128
        assert (
            p.values["attn.kv_heads"] is None or p.values["attn.kv_heads"] <= p.values["attn.heads"]
        )
        # What the study stores lets anyone rebuild the same spec.
        assert hybridlab.parse(p.spec.to_dict()) == p.spec
        assert space.build(space.sample(optuna.trial.FixedTrial(p.params)), 128) == p.spec


def test_the_lab_knobs_are_expressible():
    space = space_from(
        """
knobs:
  d_model: {choice: [64]}
  depth: {int: [4, 4]}
  attn_ratio: {choice: [0.25]}
  placement: {choice: [spread]}
  ssm: {choice: [scan]}
  mlp: {choice: [true]}
  d_state: {choice: [8]}
  headdim: {choice: [16]}
  heads: {choice: [4]}
  kv_heads: {choice: [2]}
model:
  d_model: ${knobs.d_model}
  layout: {depth: "${knobs.depth}", attn_ratio: "${knobs.attn_ratio}",
           placement: "${knobs.placement}", ssm: "${knobs.ssm}", mlp: "${knobs.mlp}"}
  defaults:
    scan: {d_state: "${knobs.d_state}"}
    ssd: {d_state: "${knobs.d_state}", headdim: "${knobs.headdim}"}
    attn: {heads: "${knobs.heads}", kv_heads: "${knobs.kv_heads}"}
"""
    )
    spec = space.propose(RandomSuggester(0), 256).spec
    assert spec.d_model == 64
    assert spec.pattern() == "S-S-*-S-"
    assert spec.format() == "[scan(d_state=8), mlp]*2, attn(kv_heads=2), mlp, scan(d_state=8), mlp"


def test_stack_text_interpolation_and_inactive_knobs_fall_back_to_defaults():
    space = space_from(
        """
knobs:
  n: {int: [2, 2]}
  use_attn: {choice: [false]}
  attn: {when: "use_attn", heads: {choice: [8]}}
model:
  d_model: 32
  stack: "[ssd(headdim=16), mlp]*${knobs.n}, attn"
  defaults: {attn: {heads: "${knobs.attn.heads}"}}
"""
    )
    proposal = space.propose(RandomSuggester(0), 64)
    assert proposal.spec.format() == "[ssd(headdim=16), mlp]*2, attn"  # heads: the default 4
    assert proposal.params == {"n": 2, "use_attn": False}


CONSTRAINED = """
knobs:
  heads: {choice: [2, 4]}
  kv_heads: {choice: [1, 2, 4]}
model:
  d_model: 32
  stack: attn
  defaults: {attn: {heads: "${knobs.heads}", kv_heads: "${knobs.kv_heads}"}}
constraints:
  - "kv_heads == 1 or kv_heads * 2 <= heads"
  - "state_bytes(context=100) <= 6400"
"""


def test_constraints_and_spec_rules_make_samples_infeasible():
    space = space_from(CONSTRAINED)
    outcomes = {}
    for heads in (2, 4):
        for kv in (1, 2, 4):
            try:
                space.propose(optuna.trial.FixedTrial({"heads": heads, "kv_heads": kv}), 64)
                outcomes[heads, kv] = "ok"
            except InfeasibleSample as err:
                outcomes[heads, kv] = str(err)
    # The KV cache is 2·kv_heads·head_dim·100 tokens·4 bytes; head_dim = 32 / heads.
    state = "constraint 'state_bytes(context=100) <= 6400' does not hold"
    ratio = "constraint 'kv_heads == 1 or kv_heads * 2 <= heads' does not hold"
    assert outcomes == {
        (4, 1): "ok",  # 2·1·8·100·4 = 6400
        (2, 1): state,  # 12,800
        (4, 2): state,
        (2, 2): ratio,
        (4, 4): ratio,
        (2, 4): "stack: attn: kv_heads=4 must divide heads=2",  # the spec's own rule
    }


def test_spec_rules_make_samples_infeasible_with_the_reason():
    space = space_from(
        """
knobs:
  headdim: {choice: [24]}
model:
  d_model: 32
  stack: ssd
  defaults: {ssd: {headdim: "${knobs.headdim}"}}
"""
    )
    with pytest.raises(InfeasibleSample, match="headdim=24 must divide expand·d_model"):
        space.propose(RandomSuggester(0), 64)
    with pytest.raises(StudyConfigError, match="no feasible architecture in 8 random samples"):
        space.precheck(64, draws=8)


def test_optuna_trials_see_only_active_knobs():
    space = load_space(load_yaml(ROOT / "search_spaces" / "hybrid_small.yaml", what="space"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(15):
        trial = study.ask()
        try:
            proposal = space.propose(trial, 128)
        except InfeasibleSample:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        assert trial.params == proposal.params
        assert ("ssd.d_state" in trial.params) == (trial.params["ssm"] == "ssd")
        study.tell(trial, 0.0)


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_study_files_validate(path):
    from hybridlab.study import StudyConfigError, load_plan

    try:
        plan = load_plan(path)
    except StudyConfigError as err:
        # studies/cluster.yaml keeps its study in PostgreSQL: without the driver (the postgres
        # extra) it is refused at load, saying what to install; the rest of it still holds.
        assert importlib.util.find_spec("psycopg2") is None, err
        assert err.key == "storage" and 'pip install "hybridlab[postgres]"' in str(err)
        plan = load_plan(path, ["storage=null"])
    assert plan.executor.backend == "ray" and plan.budget.trials

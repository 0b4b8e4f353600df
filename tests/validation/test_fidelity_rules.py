"""What a fidelity may say: a multiplier scales only a setting whose larger value is a bigger
run, and no such setting is lowered (a validation asks whether a ranking holds higher up)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from study_helpers import write_study

from hybridlab.config import StudyConfigError
from hybridlab.study import load_plan
from hybridlab.train import TrainConfig
from hybridlab.validation.fidelity import SCALABLE, parse_fidelity, resolve_fidelity

NOT_SCALABLE = [
    f"train.{f.name}" for f in dataclasses.fields(TrainConfig) if f"train.{f.name}" not in SCALABLE
]
# Each example loads the study again (its space is sampled): a few are enough.
SLOW = settings(max_examples=8, deadline=None)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    path = write_study(tmp_path_factory.mktemp("study"), steps=4)
    return path, load_plan(path)


@given(st.sampled_from(SCALABLE), st.floats(0.01, 0.99))
def test_a_multiplier_below_1_is_refused_for_every_setting(key, factor):
    with pytest.raises(StudyConfigError, match="would lower the fidelity"):
        parse_fidelity(f"{key}={factor:.2f}x")


@SLOW
@given(key=st.sampled_from(NOT_SCALABLE), factor=st.integers(1, 8))
def test_a_multiplier_is_refused_where_more_is_no_bigger_run(study, key, factor):
    path, plan = study
    with pytest.raises(StudyConfigError, match="a multiplier scales a setting whose larger"):
        resolve_fidelity(path, [], [f"{key}={factor}x"], plan)


@SLOW
@given(factor=st.integers(1, 4))
def test_a_multiplier_of_a_bigger_run_scales_it(study, factor):
    path, plan = study
    fidelity = resolve_fidelity(path, [], [f"train.steps={factor}x"], plan)
    assert fidelity.plan.train.steps == factor * plan.train.steps

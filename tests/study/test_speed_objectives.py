"""Speed objectives in a study: measured on the worker after training, by label, with noise."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState
from study_helpers import write_study

from hybridlab.config import StudyConfigError
from hybridlab.study import load_plan, run_study
from hybridlab.study.requests import trial_request
from hybridlab.study.storage import open_study

SPEED_OBJECTIVES = """\
objectives:
  - {name: accuracy}
  - {name: decode_tokens_per_s, context: 32, batch: 2}
  - {name: train_tokens_per_s, context: 16, label: train_at_16}
  - {name: peak_memory_bytes, context: 32, batch: 2, ref: 1.0e9}
"""


def with_objectives(path, objectives: str = SPEED_OBJECTIVES):
    text = path.read_text()
    start = text.index("objectives:")
    end = text.index("sampler:")
    path.write_text(text[:start] + objectives + text[end:])
    return path


def test_a_study_measures_speed_objectives_after_training(tmp_path):
    plan = load_plan(with_objectives(write_study(tmp_path, trials=2, steps=2)))
    request = trial_request(plan, 0, {"d_model": 16, "stack": "attn(heads=2)"}, 0)
    assert [(r["label"], r["context"], r["batch"]) for r in request.speed] == [
        ("decode_tokens_per_s", 32, 2),
        ("train_at_16", 16, 1),
        ("peak_memory_bytes", 32, 2),
    ]
    summary = run_study(plan)
    assert (summary.trained, summary.complete) == (2, 2)
    trials = open_study(plan, create=False).trials
    for trial in trials:
        assert trial.state == TrialState.COMPLETE
        _accuracy, decode, train, memory = trial.values
        assert decode > 0 and train > 0 and memory > 0
    assert plan.directions == ["maximize", "maximize", "maximize", "minimize"]


@pytest.mark.parametrize(
    "objective, message",
    [
        ("{name: peak_memory_bytes}", "needs a ref"),
        ("{name: decode_tokens_per_s, batch: 0}", "batch must be >= 1"),
        ("{name: decode_tokens_per_s, dtype: fp8}", "fp32, bf16 or fp16"),
        ("{name: params, batch: 2}", "params takes no batch"),
    ],
)
def test_bad_speed_objectives_are_refused(tmp_path, objective, message):
    path = with_objectives(write_study(tmp_path), f"objectives:\n  - {objective}\n")
    with pytest.raises(StudyConfigError, match=message):
        load_plan(path)


def test_speed_objectives_refuse_a_pruner(tmp_path):
    path = with_objectives(write_study(tmp_path, steps=20))
    with pytest.raises(StudyConfigError, match="pruner cannot judge them"):
        load_plan(path, ["pruner.name=asha", "pruner.min_steps=5"])

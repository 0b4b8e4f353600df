"""Pruning on real Ray: a stopped trial ends at its next report and its slot runs the next trial."""

from __future__ import annotations

import time

import pytest
from optuna.trial import TrialState
from study_helpers import write_study

from hybridlab.study import load_plan, run_study
from hybridlab.study.storage import open_study
from hybridlab.tracking import Tracker

pytestmark = [pytest.mark.ray, pytest.mark.slow]


class Clock(Tracker):
    """When each trial's metrics reached the driver."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def log_metrics(self, number, step, metrics) -> None:
        now = time.monotonic()
        self.first.setdefault(number, now)
        self.last[number] = now


def test_a_pruned_trial_ends_at_its_next_report_and_frees_its_slot(tmp_path, ray_local):
    path = write_study(
        tmp_path,
        trials=5,
        steps=400,
        executor="{backend: ray, max_concurrent: 1, resources: {cpu: 1}}",
        extra="pruner: {name: asha, min_steps: 20, reduction_factor: 3, min_trials: 1}\n",
    )
    plan = load_plan(path, ["train.log_every=5"])
    clock = Clock()
    summary = run_study(plan, trackers=[clock])
    trials = sorted(open_study(plan, create=False).trials, key=lambda t: t.number)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and summary.pruned == len(pruned) and summary.trained == 5
    for trial in pruned:
        step, done = trial.user_attrs["pruned_at_step"], trial.user_attrs["steps_done"]
        # It trained on only until its next report (log_every = 5), not to step 400.
        assert step <= done <= step + 2 * 5, (step, done)
        assert trial.user_attrs["worker"]["pid"]
        if "duplicate_of" in trial.user_attrs:
            continue  # judged on its twin's records: it trained nothing
        # One slot: the next trial trained in it, after this one stopped.
        later = [t.number for t in trials if t.number > trial.number and t.number in clock.first]
        if later:
            assert clock.first[later[0]] >= clock.last[trial.number]

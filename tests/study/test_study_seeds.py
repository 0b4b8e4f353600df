"""A study whose trials train under several seeds (`train.seeds`): Optuna is told the mean (or,
with `train.seeds_statistic: best`, the member best on validation), every trial keeps its
spread, and `study pareto` and MLflow show mean ± std for the front."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.study import load_plan, run_study
from hybridlab.study.storage import open_study

runner = CliRunner()
SEEDED = ["train.seeds=2", "task.num_valid_examples=16", "train.lr_race=[3e-3, 1e-2]"]


def run_and_collect(path, overrides):
    """Run the study at `path` with `overrides`; (its plan, its complete trials, at least one)."""
    plan = load_plan(path, overrides)
    run_study(plan)
    complete = open_study(plan, create=False).get_trials(states=(TrialState.COMPLETE,))
    assert complete
    return plan, complete


@pytest.mark.slow
def test_every_trial_reports_the_mean_over_its_seeds_and_its_spread(tmp_path):
    path = write_study(tmp_path, trials=3, steps=3, extra="tracking: mlflow\n")
    plan, complete = run_and_collect(path, SEEDED)
    for trial in complete:
        spread = trial.user_attrs["spread"]["accuracy"]
        assert trial.values[0] == pytest.approx(spread["mean"]) and spread["n"] == 2
        assert trial.user_attrs["seeds"] == 2 and len(trial.user_attrs["members"]) == 4

    result = runner.invoke(app, ["study", "pareto", str(path), *SEEDED, "--json"])
    assert result.exit_code == 0, result.output
    front = json.loads(result.stdout)["front"]
    assert all(p["seeds"]["accuracy"]["n"] == 2 for p in front)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{plan.folder.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(plan.name).experiment_id
    for run in client.search_runs([experiment], "tags.outcome = 'complete'"):
        assert {"seeds/accuracy/mean", "seeds/accuracy/std"} <= set(run.data.metrics)


@pytest.mark.slow
def test_a_best_of_seeds_study_tells_optuna_the_member_best_on_validation(tmp_path):
    path = write_study(tmp_path, trials=2, steps=3)
    overrides = [*SEEDED, "train.seeds_statistic=best"]
    _, complete = run_and_collect(path, overrides)
    for trial in complete:
        members = trial.user_attrs["members"]
        chosen = min(members, key=lambda m: m["valid_loss"])
        assert trial.values[0] == pytest.approx(chosen["accuracy"])
        spread = trial.user_attrs["spread"]["accuracy"]
        assert spread["best"] == pytest.approx(chosen["accuracy"]) and spread["n"] == 2

    result = runner.invoke(app, ["study", "pareto", str(path), *overrides, "--json"])
    assert result.exit_code == 0, result.output
    front = json.loads(result.stdout)["front"]
    assert all(p["seeds"]["accuracy"]["best"] == p["values"]["accuracy"] for p in front)
    assert all(p["within_noise_of"] is None for p in front)
    table = runner.invoke(app, ["study", "pareto", str(path), *overrides])
    assert table.exit_code == 0 and "best of 2" in table.output

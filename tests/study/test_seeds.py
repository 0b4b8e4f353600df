"""Seed noise: the front trained again under more seeds, recorded in the study (not as trials),
resumed without repeats, shown by `study pareto` with the trials that are within noise."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState
from study_helpers import KIND_SPACE, write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.execution import worker as worker_module
from hybridlab.pareto import Spread, spread, summarise, within_noise
from hybridlab.study import load_plan, run_study
from hybridlab.study.seed_runs import missing_seeds
from hybridlab.study.storage import open_study
from hybridlab.train import TrainResult


def seeded_training(spec, task, config, report=None):
    """Accuracy set by the spec, plus a little seed noise; trials record their seeds."""
    seeded_training.seeds.append(config.seed)
    base = (len(spec.format()) % 7) / 7
    return TrainResult(status="ok", accuracy=base + 0.01 * (config.seed % 3), loss=1.0)


def test_front_trials_are_trained_again_under_more_seeds_and_resume_adds_only_missing(
    tmp_path, monkeypatch
):
    seeded_training.seeds = []
    monkeypatch.setattr(worker_module, "train_proxy", seeded_training)
    path = write_study(tmp_path, space=KIND_SPACE, trials=4)
    plan = load_plan(path, ["budget.front_seeds=2"])
    run_study(plan)
    study = open_study(plan, create=False)
    # A repeated architecture (duplicate_of) shares the seed runs of the trial it repeats.
    repeats = {t.number for t in study.trials if t.user_attrs.get("duplicate_of") is not None}
    front = sorted(t.number for t in study.best_trials if t.number not in repeats)
    runs = study.user_attrs["seeds"]
    assert sorted(int(n) for n in runs) == front
    assert all(sorted(r["seed"] for r in runs[str(n)]) == [1, 2] for n in front)
    assert all(set(r["values"]) == {"accuracy"} for n in front for r in runs[str(n)])
    # Seed runs are not trials: the study still has the 4 trials it trained.
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    assert sorted(s for s in seeded_training.seeds if s) == sorted([1, 2] * len(front))

    seeded_training.seeds = []
    run_study(load_plan(path, ["budget.front_seeds=3"]))
    assert sorted(seeded_training.seeds) == [3] * len(front)
    runs = open_study(plan, create=False).user_attrs["seeds"]
    assert all(sorted(r["seed"] for r in runs[str(n)]) == [1, 2, 3] for n in front)

    result = CliRunner().invoke(app, ["study", "pareto", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    stacks = {p["number"]: p["stack"] for p in data["front"]}
    for point in data["front"]:
        # A repeated architecture is never "within noise" of its own twin.
        other = point["within_noise_of"]
        assert other is None or stacks[other] != point["stack"]
        assert point["seeds"]["accuracy"]["n"] == 4
        assert point["values"]["accuracy"] == pytest.approx(
            runs[str(point["number"])][0]["values"]["accuracy"] - 0.01
        )
    table = CliRunner().invoke(app, ["study", "pareto", str(path)], env={"COLUMNS": "200"})
    assert "± " in table.stdout and "within noise of" in table.stdout


def test_missing_seeds_are_those_not_recorded():
    assert missing_seeds([{"seed": 2}], base_seed=0, k=3) == [1, 3]
    assert missing_seeds([], base_seed=5, k=2) == [6, 7]


def test_spread_is_mean_and_sample_standard_deviation():
    assert spread([1.0, 2.0, 3.0]) == Spread(2.0, 1.0, 3)
    assert spread([4.0]) == Spread(4.0, 0.0, 1)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(Spread(0.90, 0.02, 4), Spread(0.91, 0.02, 4), True, id="close"),
        pytest.param(Spread(0.90, 0.01, 4), Spread(0.50, 0.01, 4), False, id="far"),
        pytest.param(Spread(0.90, 0.0, 1), Spread(0.90, 0.0, 1), False, id="one-run"),
        # The spread of seeds is not the noise of their best: no judgement either way.
        pytest.param(Spread(0.90, 0.02, 4, best=0.93), Spread(0.91, 0.02, 4), False, id="best"),
    ],
)
def test_within_noise_is_twice_the_standard_error_of_the_difference(a, b, expected):
    assert within_noise(a, b) is expected


def test_a_costlier_trial_within_noise_of_a_cheaper_one_is_flagged():
    directions = {"accuracy": "maximize", "params": "minimize"}
    front = {
        1: {"accuracy": 0.92, "params": 100.0},
        2: {"accuracy": 0.93, "params": 500.0},
        3: {"accuracy": 0.99, "params": 900.0},
    }
    runs = {
        1: [{"seed": s, "values": {"accuracy": v}} for s, v in ((1, 0.90), (2, 0.94))],
        2: [{"seed": s, "values": {"accuracy": v}} for s, v in ((1, 0.91), (2, 0.95))],
        3: [{"seed": s, "values": {"accuracy": v}} for s, v in ((1, 0.99), (2, 0.99))],
        # A failed seed run has no values and is left out.
    }
    runs[3].append({"seed": 3, "values": None})
    summary = summarise(front, runs, ["accuracy"], ["params"], directions)
    assert summary.within_noise_of == {2: 1}
    assert summary.spread[3]["accuracy"].n == 3


def test_mlflow_shows_the_seed_spread_on_front_trials(tmp_path, monkeypatch):
    import mlflow

    seeded_training.seeds = []
    monkeypatch.setattr(worker_module, "train_proxy", seeded_training)
    path = write_study(tmp_path, space=KIND_SPACE, trials=3, extra="tracking: mlflow\n")
    plan = load_plan(path, ["budget.front_seeds=2"])
    run_study(plan)
    front = {t.number for t in open_study(plan, create=False).best_trials}
    client = mlflow.tracking.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], "tags.`hybridlab.role` = 'trial'")
    seeded = {int(r.data.tags["trial_number"]): r for r in runs if "seeds/n" in r.data.metrics}
    assert set(seeded) == front
    for run in seeded.values():
        assert run.data.metrics["seeds/n"] == 3
        assert {"seeds/accuracy/mean", "seeds/accuracy/std"} <= set(run.data.metrics)
        assert run.data.tags["within_noise"] in ("true", "false")

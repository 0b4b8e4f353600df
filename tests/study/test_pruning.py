"""A study with a pruner: trials stopped at rungs are PRUNED, recorded, never on the front, and
a resumed study decides as the first run would have."""

from __future__ import annotations

import json
import math

import mlflow
import optuna
import pytest
from optuna.trial import TrialState
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.execution import worker as worker_module
from hybridlab.study import load_plan, run_study
from hybridlab.study.pruning import Asha
from hybridlab.study.storage import open_study
from hybridlab.train import StopTraining, TrainResult

optuna.logging.set_verbosity(optuna.logging.WARNING)
runner = CliRunner()
ASHA = "pruner: {name: asha, min_steps: 3, reduction_factor: 3, min_trials: 2}\n"


class Learner:
    """Fake training that learns: accuracy rises linearly to a quality fixed by the spec. It
    evaluates at `config.eval_at` and at the end, counts the steps it trains, and stops when
    the report raises `StopTraining`, as the trainer does."""

    def __init__(self) -> None:
        self.steps = 0
        self.runs = 0

    def __call__(self, spec, task, config, report=None):
        self.runs += 1
        quality = 0.2 + 0.7 * ((len(spec.format()) * 7) % 11) / 11
        accuracy = 0.0
        for step in range(1, config.steps + 1):
            self.steps += 1
            if step in config.eval_at or step == config.steps:
                accuracy = quality * step / config.steps
                try:
                    if report is not None:
                        report(step, {"eval/accuracy": accuracy, "eval/loss": 1 - accuracy})
                except StopTraining:
                    return TrainResult(
                        status="ok", accuracy=accuracy, loss=1.0, steps_done=step,
                        stop_reason="report",
                    )  # fmt: skip
        return TrainResult(status="ok", accuracy=accuracy, loss=1.0, steps_done=config.steps)


@pytest.fixture
def learner(monkeypatch):
    fake = Learner()
    monkeypatch.setattr(worker_module, "train_proxy", fake)
    return fake


def trials_of(plan):
    return open_study(plan, create=False).get_trials(deepcopy=False)


def test_asha_stops_trials_at_rungs_and_none_of_them_reaches_the_front(tmp_path, learner):
    plan = load_plan(write_study(tmp_path, trials=10, steps=27, extra=ASHA))
    assert plan.rungs == [3, 9]
    summary = run_study(plan)
    trials = trials_of(plan)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and summary.pruned == len(pruned)
    assert summary.trained == 10  # pruned trials count against the budget
    for trial in pruned:
        step = trial.user_attrs["pruned_at_step"]
        assert trial.user_attrs["outcome"] == "pruned" and step in plan.rungs
        assert str(step) in trial.user_attrs["rungs"]
        assert trial.user_attrs["steps_done"] == step  # stopped at once (inline)
    best = open_study(plan, create=False).best_trials
    assert best and all(t.state == TrialState.COMPLETE for t in best)
    assert not {t.number for t in best} & {t.number for t in pruned}
    # Every trained trial was judged at each rung it reached.
    for trial in trials:
        if trial.state == TrialState.COMPLETE and "duplicate_of" not in trial.user_attrs:
            assert sorted(map(int, trial.user_attrs["rungs"])) == plan.rungs
    assert learner.steps < learner.runs * 27


def test_a_resumed_study_replays_the_rungs_and_never_retrains_a_stopped_trial(tmp_path, learner):
    path = write_study(tmp_path, trials=6, steps=27, extra=ASHA)
    run_study(load_plan(path))
    first = {t.number: t.state for t in trials_of(load_plan(path))}
    runs_before = learner.runs
    plan = load_plan(path, ["budget.trials=12"])
    run_study(plan)
    trials = trials_of(plan)
    # The first run's trials are as they were; the new ones trained once each (repeats of a
    # completed architecture reuse its result).
    assert {t.number: t.state for t in trials if t.number in first} == first
    new = [t for t in trials if t.number not in first and "duplicate_of" not in t.user_attrs]
    assert learner.runs - runs_before == len(new)
    # Replaying every record in the order the trials reached the rungs gives the stored
    # decisions: the resumed run saw the first run's records.
    replay = Asha(plan.rungs, plan.directions, plan.refs, reduction_factor=3, min_trials=2)
    for trial in sorted(trials, key=lambda t: t.number):
        rungs = trial.user_attrs.get("rungs", {})
        for step in sorted(map(int, rungs)):
            keep = replay.decide(trial.number, step, rungs[str(step)])
            assert keep == (trial.user_attrs.get("pruned_at_step") != step), trial.number


def test_a_pruned_trial_in_mlflow_has_its_tags_status_and_rung_metrics(tmp_path, learner):
    plan = load_plan(write_study(tmp_path, trials=8, steps=27, extra=ASHA + "tracking: mlflow\n"))
    run_study(plan)
    pruned = {t.number: t for t in trials_of(plan) if t.state == TrialState.PRUNED}
    assert pruned
    client = mlflow.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], "tags.pruned = 'true'")
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == sorted(pruned)
    for run in runs:
        trial = pruned[int(run.data.tags["trial_number"])]
        step = trial.user_attrs["pruned_at_step"]
        assert run.info.status == "KILLED" and run.data.tags["outcome"] == "pruned"
        assert run.data.tags["pruned_at_step"] == str(step) and run.data.tags["pareto"] == "false"
        history = client.get_metric_history(run.info.run_id, "eval/accuracy")
        # A repeat of a stopped trial is judged on that trial's records: it trains nothing.
        trained = "duplicate_of" not in trial.user_attrs
        expected = [s for s in plan.rungs if s <= step] if trained else []
        assert sorted(m.step for m in history) == expected


@pytest.mark.parametrize("name", ["median", "successive_halving", "hyperband"])
def test_optunas_pruners_serve_a_single_objective_study(tmp_path, learner, name):
    study = write_study(tmp_path, trials=8, steps=27, extra=f"pruner: {name}\n")
    text = study.read_text().replace(
        "  - {name: params}\n  - {name: state_bytes, context: 16}\n", ""
    )
    study.write_text(text)
    plan = load_plan(study, ["pruner.min_steps=3"])
    assert plan.labels == ["accuracy"]
    run_study(plan)
    trials = trials_of(plan)
    # Optuna keeps the rung values as the trials' intermediate values.
    judged = [t for t in trials if t.intermediate_values]
    assert judged and all(set(t.intermediate_values) <= set(plan.rungs) for t in judged)
    for trial in trials:
        if trial.state == TrialState.PRUNED:
            assert trial.user_attrs["pruned_at_step"] == max(trial.intermediate_values)


def test_study_pareto_counts_pruned_trials(tmp_path, learner):
    path = write_study(tmp_path, trials=10, steps=27, extra=ASHA)
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    assert "stopped early by the pruner" in result.output
    data = json.loads(runner.invoke(app, ["study", "pareto", str(path), "--json"]).stdout)
    pruned = sum(t.state == TrialState.PRUNED for t in trials_of(load_plan(path)))
    assert data["trials"]["pruned"] == pruned > 0
    text = runner.invoke(app, ["study", "pareto", str(path)]).stdout
    assert f"{pruned} pruned" in text


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        pytest.param(
            "pruner=median", "pruner.name", "takes one objective", id="median-3-objectives"
        ),
        pytest.param("pruner.name=halving", "pruner.name", "unknown pruner", id="unknown"),
        pytest.param("pruner.min_steps=27", "pruner.min_steps", "before the last step", id="late"),
        pytest.param("pruner.reduction_factor=1", "pruner.reduction_factor", ">= 2", id="eta-1"),
    ],
)
def test_a_pruner_that_cannot_work_is_exit_2_naming_its_key(tmp_path, override, key, words):
    path = write_study(tmp_path, trials=2, steps=27, extra=ASHA)
    result = runner.invoke(app, ["study", "run", str(path), override])
    assert result.exit_code == 2, result.output
    assert key in result.stderr and words in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_real_training_with_asha_trains_fewer_steps_and_prunes(tmp_path):
    """The held-out check in small: a real study with `pruner.name=asha` (the CLI override)."""
    path = write_study(tmp_path, trials=8, steps=60, sampler="random")
    overrides = ["pruner.name=asha", "pruner.min_steps=6", "pruner.min_trials=2"]
    result = runner.invoke(app, ["study", "run", str(path), *overrides])
    assert result.exit_code == 0, result.output
    trials = trials_of(load_plan(path, overrides))
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned
    trained = [t for t in trials if "duplicate_of" not in t.user_attrs]
    steps = sum(t.user_attrs["steps_done"] for t in trained)
    assert steps < 60 * len(trained)
    best = open_study(load_plan(path, overrides), create=False).best_trials
    assert all(t.state == TrialState.COMPLETE for t in best)
    assert all(math.isfinite(v) for t in best for v in t.values)


def test_a_repeat_of_a_stopped_trial_is_judged_on_its_records_without_training(tmp_path, learner):
    path = write_study(tmp_path, trials=10, steps=27, extra=ASHA)
    run_study(load_plan(path))
    plan = load_plan(path, ["budget.trials=11"])
    study = open_study(plan, create=False)
    # The most dominated of the stopped trials: its repeat stops where it did.
    pruned = [
        t
        for t in study.trials
        if t.state == TrialState.PRUNED and "duplicate_of" not in t.user_attrs
    ]
    # Lowest accuracy at the first rung, then the most parameters.
    worst = min(
        pruned, key=lambda t: (t.user_attrs["rungs"]["3"][0], -t.user_attrs["rungs"]["3"][1])
    )
    study.enqueue_trial(dict(worst.params))
    runs = learner.runs
    run_study(plan)
    repeat = max(trials_of(plan), key=lambda t: t.number)
    assert repeat.params == worst.params
    assert repeat.state == TrialState.PRUNED and repeat.user_attrs["duplicate_of"] == worst.number
    assert repeat.user_attrs["pruned_at_step"] == worst.user_attrs["pruned_at_step"]
    assert learner.runs == runs  # nothing trained

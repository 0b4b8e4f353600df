"""`train.seeds`: a trial trained under k seeds at every rate of its sweep reports the mean over
seeds at the rate best on the validation split, with the spread, and equals the lone runs."""

from __future__ import annotations

import statistics

import pytest

from hybridlab.execution import TrialRequest
from hybridlab.execution.worker import run_trial
from hybridlab.tasks import make_task
from hybridlab.train import TrainConfig, train_proxy
from hybridlab.train.members import train_seeded

TASK = {"vocab_size": 32, "seq_len": 16, "num_kv_pairs": 2, "num_train_examples": 64,
        "num_eval_examples": 16, "num_valid_examples": 16}  # fmt: skip
TRAIN = {"steps": 12, "batch_size": 8, "eval_every": 6, "device": "cpu"}
SPEC = "ssd(d_state=4, headdim=8), attn(heads=2)"


@pytest.fixture(scope="module")
def task():
    return make_task("mqar", TASK)


def test_the_result_is_the_mean_over_seeds_at_the_rate_best_on_validation(task):
    config = TrainConfig(**TRAIN, seeds=2, lr_race=[3e-3, 3e-2])
    seeded = train_seeded(SPEC, task, config)
    lone = {
        (seed, lr): train_proxy(SPEC, task, TrainConfig(**TRAIN, seed=seed, lr=lr))
        for seed in (0, 1)
        for lr in (3e-3, 3e-2)
    }
    mean_valid = {
        lr: statistics.fmean(lone[seed, lr].valid_loss for seed in (0, 1)) for lr in (3e-3, 3e-2)
    }
    chosen = min(mean_valid, key=mean_valid.get)
    assert seeded.lr == chosen and seeded.seeds == 2
    accuracies = [lone[seed, chosen].accuracy for seed in (0, 1)]
    assert seeded.accuracy == pytest.approx(statistics.fmean(accuracies), abs=1e-6)
    assert seeded.spread["accuracy"]["std"] == pytest.approx(statistics.stdev(accuracies), abs=1e-6)
    assert seeded.spread["accuracy"]["n"] == 2
    assert [(m["seed"], m["lr"]) for m in seeded.members] == list(lone)
    # Every member's validation score is kept, so that a member can be chosen on it later.
    for record, run in zip(seeded.members, lone.values(), strict=True):
        assert record["valid_accuracy"] == pytest.approx(run.valid_accuracy, abs=1e-6)
        assert record["valid_loss"] == pytest.approx(run.valid_loss, rel=1e-3)
    losses = [lone[seed, chosen].loss for seed in (0, 1)]
    # float32 drift of a vectorised group against lone runs, over 12 steps at a high rate
    assert seeded.loss == pytest.approx(statistics.fmean(losses), rel=1e-3)
    # The compute of every member is counted.
    assert seeded.steps_done + seeded.race_steps == 4 * TRAIN["steps"]


def test_a_sweep_without_a_validation_split_is_refused(task):
    no_valid = make_task("mqar", {**TASK, "num_valid_examples": 0})
    with pytest.raises(ValueError, match="num_valid_examples"):
        train_seeded(SPEC, no_valid, TrainConfig(**TRAIN, seeds=2, lr_race=[3e-3, 1e-2]))


@pytest.mark.parametrize(
    ("seeds", "message"),
    [(0, r"train.seeds must be in \[1, 64\]"), (65, r"train.seeds must be in \[1, 64\]")],
    ids=["zero", "too-many"],
)
def test_seeds_out_of_range_are_refused(seeds, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**TRAIN, seeds=seeds).validate()


def test_a_worker_reports_one_progress_line_per_step_for_the_group():
    reports = []
    request = TrialRequest(
        number=0,
        spec={"d_model": 16, "stack": "attn(heads=2), mlp"},
        task={"name": "mqar", **TASK},
        train={**TRAIN, "seeds": 3, "log_every": 3},
    )
    result = run_trial(request.to_dict(), lambda step, metrics: reports.append((step, metrics)))
    assert result["seeds"] == 3 and set(result["spread"]) >= {"accuracy", "loss"}
    steps = [step for step, _ in reports]
    assert steps == sorted(set(steps)) == [3, 6, 9, 12]
    evaluated = dict(reports)[6]
    assert "eval/accuracy" in evaluated and "train/loss" in evaluated


def test_best_reports_the_member_lowest_on_validation_with_the_seeds_spread(task):
    config = TrainConfig(**TRAIN, seeds=2, lr_race=[3e-3, 3e-2], seeds_statistic="best")
    seeded = train_seeded(SPEC, task, config)
    lone = {
        (seed, lr): train_proxy(SPEC, task, TrainConfig(**TRAIN, seed=seed, lr=lr))
        for seed in (0, 1)
        for lr in (3e-3, 3e-2)
    }
    seed, lr = min(lone, key=lambda key: lone[key].valid_loss)
    winner = lone[seed, lr]
    assert seeded.lr == lr and seeded.seeds == 2
    # float32 drift of a vectorised group against lone runs, over 12 steps at a high rate
    assert seeded.accuracy == pytest.approx(winner.accuracy, abs=2e-3)
    assert seeded.valid_loss == pytest.approx(winner.valid_loss, rel=1e-3)
    accuracies = [lone[s, lr].accuracy for s in (0, 1)]
    spread = seeded.spread["accuracy"]
    assert spread["mean"] == pytest.approx(statistics.fmean(accuracies), abs=2e-3)
    assert spread["n"] == 2 and spread["best"] == seeded.accuracy
    assert len(seeded.members) == 4


def test_best_of_one_rate_picks_among_its_seeds(task):
    config = TrainConfig(**TRAIN, seeds=3, lr=3e-3, seeds_statistic="best")
    seeded = train_seeded(SPEC, task, config)
    chosen = min(seeded.members, key=lambda m: m["valid_loss"])
    assert seeded.accuracy == chosen["accuracy"] and seeded.lr == 3e-3
    assert seeded.valid_loss == chosen["valid_loss"] and seeded.seeds == 3
    assert seeded.spread["accuracy"]["n"] == 3


def test_best_without_a_validation_split_is_refused_naming_the_setting(task):
    no_valid = make_task("mqar", {**TASK, "num_valid_examples": 0})
    config = TrainConfig(**TRAIN, seeds=2, seeds_statistic="best")
    with pytest.raises(ValueError, match=r"seeds_statistic=best.*num_valid_examples"):
        train_seeded(SPEC, no_valid, config)


def test_an_unknown_statistic_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"train.seeds_statistic must be one of mean, best"):
        TrainConfig(**TRAIN, seeds=2, seeds_statistic="median").validate()


def test_a_best_trial_reports_the_most_accurate_member_as_its_progress():
    reports = []
    request = TrialRequest(
        number=0,
        spec={"d_model": 16, "stack": "attn(heads=2), mlp"},
        task={"name": "mqar", **TASK},
        train={**TRAIN, "seeds": 3, "log_every": 3, "seeds_statistic": "best"},
    )
    result = run_trial(request.to_dict(), lambda step, metrics: reports.append((step, metrics)))
    assert result["spread"]["accuracy"]["best"] == result["accuracy"]
    # At the last evaluation the progress line is the most accurate member's.
    last = dict(reports)[12]
    assert last["eval/accuracy"] == pytest.approx(max(m["accuracy"] for m in result["members"]))

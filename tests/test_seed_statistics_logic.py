"""The arithmetic of benchmarks/seed_statistics.py on made-up members: the two statistics of k
seeds (their mean, and the validation-chosen best), pooling the members of several reports, the
spread of each statistic over k-subsets, and the resampled agreement between seed sets. The
members themselves come from `front_stability.py --json` runs (minutes), not from these tests."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"benchmarks/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_load("front_stability")
bench = _load("seed_statistics")

COSTS = {"attn": {"params": 30.0}, "ssd": {"params": 10.0}}
LABELS, DIRECTIONS = ["accuracy", "params"], ["maximize", "minimize"]


def member(seed, accuracy, valid_loss, status="ok"):
    return {"seed": seed, "lr": 1e-2, "accuracy": accuracy, "valid_loss": valid_loss,
            "status": status}  # fmt: skip


def test_best_is_the_member_lowest_on_validation_not_on_test():
    members = [member(0, 0.3, 2.0), member(1, 0.9, 0.5), member(2, 0.95, 0.7)]
    assert bench.best_on_validation(members) == 0.9  # seed 2 scores higher on test: not chosen
    assert bench.mean_accuracy(members) == pytest.approx((0.3 + 0.9 + 0.95) / 3)


def test_a_validation_tie_goes_to_the_lower_seed():
    assert bench.best_on_validation([member(5, 0.2, 1.0), member(3, 0.8, 1.0)]) == 0.8


def test_reports_pool_by_architecture_and_seed_leaving_out_failed_members():
    run = {"architecture": "ssd", "members": [member(0, 0.3, 2.0), member(1, 0.9, 0.5)]}
    again = {"architecture": "ssd", "members": [member(1, 0.9, 0.5), member(2, 0.1, None)]}
    failed = {"architecture": "ssd", "members": [member(3, 0.0, 9.0, status="failed")]}
    attn = {"architecture": "attn", "members": [member(0, 0.99, 0.01)]}
    pools = bench.pooled_members([{"runs": [run, failed]}, {"runs": [again, attn]}])
    assert [m["seed"] for m in pools["ssd"]] == [0, 1]
    assert [m["seed"] for m in pools["attn"]] == [0]


@pytest.mark.parametrize(
    "statistic, k, expected",
    [
        # Seeds that learned (0.9) or not (0.3), two of each, valid loss lower when learned.
        pytest.param("mean", 1, 0.3, id="one-seed"),
        pytest.param("mean", 2, np.std([0.3, 0.6, 0.6, 0.6, 0.6, 0.9]), id="mean-of-2"),
        pytest.param("best", 2, np.std([0.3, 0.9, 0.9, 0.9, 0.9, 0.9]), id="best-of-2"),
        pytest.param("best", 4, 0.0, id="best-of-all"),
    ],
)
def test_the_spread_of_a_statistic_is_taken_over_every_k_subset(statistic, k, expected):
    members = [member(0, 0.3, 2.0), member(1, 0.3, 2.1), member(2, 0.9, 0.4), member(3, 0.9, 0.5)]
    assert bench.subset_std(members, k, statistic) == pytest.approx(expected)


def test_no_spread_without_k_members():
    assert bench.subset_std([member(0, 0.3, 2.0)], 2, "mean") is None


def test_resampling_an_architecture_whose_seeds_all_agree_meets_every_target():
    pools = {
        "attn": [member(s, 0.99, 0.01) for s in range(4)],
        "ssd": [member(s, 0.40, 1.0) for s in range(4)],
    }
    row = bench.resample(pools, COSTS, LABELS, DIRECTIONS, 2, "mean", 50, np.random.default_rng(0))
    assert row["sets"] == 2
    assert row["tau_mean"] == 1.0 and row["same_front"] == 1.0
    assert row["largest_std"] == 0.0 and row["targets_met"] == 1.0


def test_resampling_sees_that_the_best_of_restarts_is_steadier_than_their_mean():
    # The SSD learns in half its seeds (and then scores lower on validation): a coin flip.
    pools = {
        "attn": [member(s, 0.99, 0.01) for s in range(8)],
        "ssd": [member(s, 0.95 if s % 2 else 0.25, 0.2 if s % 2 else 2.0) for s in range(8)],
    }
    rows = {
        stat: bench.resample(
            pools, COSTS, LABELS, DIRECTIONS, 4, stat, 200, np.random.default_rng(1)
        )
        for stat in ("mean", "best")
    }
    assert rows["best"]["largest_std"] < rows["mean"]["largest_std"]
    assert rows["best"]["targets_met"] > rows["mean"]["targets_met"]


def test_too_few_seeds_for_two_sets_is_said_not_guessed():
    pools = {"attn": [member(0, 0.99, 0.01)], "ssd": [member(0, 0.4, 1.0)]}
    row = bench.resample(pools, COSTS, LABELS, DIRECTIONS, 1, "mean", 5, np.random.default_rng(0))
    assert row == {"sets": 1}


def test_a_report_without_members_exits_2_with_a_message(tmp_path, capsys):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"study": "s", "overrides": [], "runs": [{"architecture": "a"}]}))
    assert bench.main([str(path)]) == 2
    assert "no members" in capsys.readouterr().err


def test_an_unreadable_report_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert bench.main([str(path)]) == 2
    assert "broken.json" in capsys.readouterr().err

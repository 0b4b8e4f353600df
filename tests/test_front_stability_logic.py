"""The arithmetic of benchmarks/front_stability.py on made-up seed sets: Kendall τ between sets,
the front of each set, how often two sets agree on it, their Jaccard overlap, the spread of each
architecture, and a set's mean over its seeds. The training itself runs only under
`python benchmarks/front_stability.py` (minutes); the grid it trains is checked on the
quickstart's study file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "front_stability", ROOT / "benchmarks/front_stability.py"
)
bench = importlib.util.module_from_spec(spec)
sys.modules["front_stability"] = bench  # dataclasses look their module up there
spec.loader.exec_module(bench)

# Three architectures: accuracy measured, params an exact cost (smaller is better).
COSTS = {"attn": {"params": 30.0}, "hybrid": {"params": 20.0}, "ssd": {"params": 10.0}}
LABELS, DIRECTIONS = ["accuracy", "params"], ["maximize", "minimize"]


def sets_of(*accuracies):
    """Seed sets from rows of (attn, hybrid, ssd) accuracies."""
    return [
        {name: {"accuracy": a} for name, a in zip(COSTS, row, strict=True)} for row in accuracies
    ]


@pytest.mark.parametrize(
    "rows, mean, worst",
    [
        pytest.param([(0.9, 0.8, 0.3), (0.95, 0.7, 0.2)], 1.0, 1.0, id="same-order"),
        pytest.param([(0.9, 0.8, 0.3), (0.3, 0.8, 0.9)], -1.0, -1.0, id="reversed"),
        pytest.param(
            [(0.9, 0.8, 0.3), (0.9, 0.8, 0.3), (0.8, 0.9, 0.3)], 5 / 9, 1 / 3, id="one-swap"
        ),
    ],
)
def test_kendall_tau_is_taken_between_every_pair_of_sets(rows, mean, worst):
    tau = bench.tau_between_sets(sets_of(*rows), "accuracy")
    assert tau.mean == pytest.approx(mean) and tau.worst == pytest.approx(worst)
    assert tau.pairs == len(rows) * (len(rows) - 1) // 2


def test_tau_is_undefined_for_a_set_where_every_architecture_ties():
    tau = bench.tau_between_sets(sets_of((0.9, 0.8, 0.3), (0.25, 0.25, 0.25)), "accuracy")
    assert (tau.mean, tau.worst, tau.pairs) == (None, None, 0)


def test_tau_compares_only_the_architectures_both_sets_measured():
    first, second = sets_of((0.9, 0.8, 0.3), (0.2, 0.8, 0.9))
    del second["attn"]  # its run failed in the second set
    tau = bench.tau_between_sets([first, second], "accuracy")
    assert tau.mean == pytest.approx(-1.0) and tau.pairs == 1


def test_kendall_tau_counts_ties_as_tau_b_does():
    # Pairs: (a,b) tied in x; (a,c), (b,c) concordant: τ-b = 2 / sqrt(2 · 3).
    assert bench.kendall_tau([1.0, 1.0, 0.0], [1.0, 0.5, 0.0]) == pytest.approx(2 / 6**0.5)
    assert bench.kendall_tau([1.0], [1.0]) is None


def test_the_front_uses_the_measured_values_and_the_exact_costs():
    high, low = sets_of((0.99, 0.95, 0.3), (0.99, 0.99, 0.3))
    assert bench.front_of(high, COSTS, LABELS, DIRECTIONS) == {"attn", "hybrid", "ssd"}
    # The hybrid recalls as well as attention at fewer params: attention leaves the front.
    assert bench.front_of(low, COSTS, LABELS, DIRECTIONS) == {"hybrid", "ssd"}


def test_an_architecture_whose_runs_failed_is_on_no_front():
    (values,) = sets_of((0.9, 0.8, 0.3))
    del values["ssd"]
    assert bench.front_of(values, COSTS, LABELS, DIRECTIONS) == {"attn", "hybrid"}


@pytest.mark.parametrize(
    "fronts, same, jaccard_mean, jaccard_worst",
    [
        pytest.param([{"a", "b"}, {"a", "b"}, {"b", "a"}], 1.0, 1.0, 1.0, id="all-same"),
        pytest.param([{"a", "b"}, {"a", "c"}], 0.0, 1 / 3, 1 / 3, id="one-shared"),
        pytest.param(
            [{"a", "b"}, {"a", "b"}, {"a", "b", "c"}],
            1 / 3,
            (1 + 2 / 3 + 2 / 3) / 3,
            2 / 3,
            id="one-grows",
        ),
        pytest.param([set(), set()], 1.0, 1.0, 1.0, id="both-empty"),
    ],
)
def test_front_agreement_counts_equal_fronts_and_their_overlap(
    fronts, same, jaccard_mean, jaccard_worst
):
    agree, overlap = bench.front_agreement([frozenset(f) for f in fronts])
    assert agree.mean == pytest.approx(same) and agree.worst == float(same == 1.0)
    assert overlap.mean == pytest.approx(jaccard_mean)
    assert overlap.worst == pytest.approx(jaccard_worst)


def test_the_spread_over_sets_is_the_mean_and_sample_std_of_each_architecture():
    summary = bench.spread_over_sets(sets_of((0.9, 0.6, 0.2), (0.7, 0.6, 0.4)), ["accuracy"])
    assert summary["attn"]["accuracy"] == {
        "mean": pytest.approx(0.8),
        "std": pytest.approx(0.1414, abs=1e-4),
        "n": 2,
    }
    assert summary["hybrid"]["accuracy"]["std"] == 0.0


def test_a_set_reports_the_mean_of_its_seeds_and_fails_with_any_of_them():
    runs = [{"accuracy": 0.9, "loss": 0.2}, {"accuracy": 0.7, "loss": 0.4}]
    assert bench.mean_of_seeds(runs) == {"accuracy": pytest.approx(0.8), "loss": pytest.approx(0.3)}
    assert bench.mean_of_seeds([runs[0], None]) is None


def test_the_quickstarts_grid_is_its_five_architectures_each_once():
    from hybridlab.study.config import load_plan

    names = list(bench.architectures(load_plan(ROOT / "studies/quickstart.yaml")))
    assert len(names) == len(set(names)) == 5
    assert "attn(heads=2)*2" in names and "ssd(d_state=8, headdim=16)*2" in names

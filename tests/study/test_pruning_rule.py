"""The cost-aware multi-objective ASHA rule (`hybridlab.study.pruning`), on its own."""

from __future__ import annotations

import math

import pytest

from hybridlab.config import SettingError
from hybridlab.pareto import crowding_distance, rung_order
from hybridlab.study.pruning import Asha, PrunerConfig

ACC_PARAMS = ["maximize", "minimize"]
REFS = [0.0, 1000.0]


def asha(eta: int = 3, min_trials: int = 1) -> Asha:
    return Asha([10, 30, 90], ACC_PARAMS, REFS, reduction_factor=eta, min_trials=min_trials)


@pytest.mark.parametrize(
    ("steps", "race", "config", "rungs"),
    [
        pytest.param(800, 0, {}, [88, 264, 792], id="default-steps-over-eta-squared"),
        pytest.param(800, 0, {"min_steps": 50}, [50, 150, 450], id="given-min-steps"),
        pytest.param(800, 100, {}, [101, 303], id="default-past-the-race"),
        pytest.param(
            100, 0, {"reduction_factor": 2, "min_steps": 10}, [10, 20, 40, 80], id="eta-2"
        ),
    ],
)
def test_rungs_are_min_steps_times_powers_of_eta_below_the_last_step(steps, race, config, rungs):
    pruner = PrunerConfig(name="asha", **config)
    pruner.validate(steps, race, learned=1, objectives=3)
    assert pruner.rungs(steps, race) == rungs


def test_no_pruner_has_no_rungs():
    assert PrunerConfig().rungs(800, 0) == []


@pytest.mark.parametrize(
    ("config", "args", "key", "words"),
    [
        pytest.param({"name": "bogus"}, (800, 0, 1, 2), "pruner.name", "unknown pruner", id="name"),
        pytest.param(
            {"name": "median"}, (800, 0, 1, 2), "pruner.name", "takes one objective", id="median-mo"
        ),
        pytest.param(
            {"name": "asha"},
            (800, 0, 0, 2),
            "pruner.name",
            "no objective is learned",
            id="no-learned",
        ),
        pytest.param(
            {"name": "asha", "reduction_factor": 1},
            (800, 0, 1, 2),
            "pruner.reduction_factor",
            ">= 2",
            id="eta-1",
        ),
        pytest.param(
            {"name": "asha", "min_steps": 50},
            (800, 80, 1, 2),
            "pruner.min_steps",
            "learning-rate race",
            id="in-the-race",
        ),
        pytest.param(
            {"name": "asha", "min_steps": 800},
            (800, 0, 1, 2),
            "pruner.min_steps",
            "before the last step",
            id="past-the-end",
        ),
        pytest.param(
            {"name": "asha", "min_trials": 0},
            (800, 0, 1, 2),
            "pruner.min_trials",
            ">= 1",
            id="min-trials",
        ),
    ],
)
def test_pruner_settings_that_cannot_work_name_their_key(config, args, key, words):
    with pytest.raises(SettingError) as info:
        PrunerConfig(**config).validate(*args)
    assert info.value.key == key and words in str(info.value)


def test_the_first_trials_at_a_rung_always_go_on():
    rule = asha(min_trials=3)
    assert rule.decide(0, 10, [0.9, 100]) and rule.decide(1, 10, [0.1, 900])


def test_a_dominated_trial_stops_once_the_rung_has_enough_records():
    rule = asha(eta=3, min_trials=3)
    for number, values in enumerate([[0.9, 100], [0.8, 200]]):
        rule.decide(number, 10, values)
    assert not rule.decide(2, 10, [0.5, 500])  # dominated by both


def test_a_cheap_trial_of_middling_quality_goes_on_where_an_expensive_one_stops():
    """Same quality, different cost: the cost decides, as it would on the final front."""
    rule = asha(eta=2, min_trials=2)
    rule.decide(0, 10, [0.8, 400])
    assert rule.decide(1, 10, [0.5, 20])  # on the rung's front: nothing is cheaper
    assert not rule.decide(2, 10, [0.5, 600])  # as good as 1, 30x the cost: dominated


def test_keeps_the_top_fraction_one_over_eta():
    rule = asha(eta=3, min_trials=1)
    # Nine trials on a line of strictly better quality and cost: each dominates the next.
    kept = [rule.decide(n, 30, [0.9 - 0.05 * n, 100 + 10 * n]) for n in range(9)]
    assert kept[0] and not any(kept[3:])
    order = rung_order(rule.records[30], ACC_PARAMS, REFS)
    assert order == list(range(9))


def test_within_a_rank_the_larger_hypervolume_contribution_wins():
    table = {0: [0.5, 100.0], 1: [0.48, 10.0]}
    # 1 adds more: a little less accurate, ten times cheaper.
    assert rung_order(table, ACC_PARAMS, REFS) == [1, 0]


def test_records_reload_into_the_same_decisions():
    """A resumed study rebuilds the rungs from the trials' `rungs` attrs (JSON: string keys)."""
    first = asha(eta=3, min_trials=3)
    history = [[0.9, 100], [0.7, 300], [0.6, 50], [0.4, 700]]
    decisions = [first.decide(n, 10, v) for n, v in enumerate(history)]
    resumed = asha(eta=3, min_trials=3)
    for n, v in enumerate(history[:3]):
        resumed.load(n, {"10": v, "999": [1.0, 1.0]})  # an unknown step is ignored
    assert resumed.decide(3, 10, history[3]) == decisions[3]


def test_crowding_gives_the_extremes_infinity_and_interior_points_their_gap():
    layer = {0: [0.0, 1.0], 1: [0.5, 0.5], 2: [1.0, 0.0]}
    distance = crowding_distance(layer)
    assert distance[0] == distance[2] == math.inf
    assert distance[1] == pytest.approx(2.0)

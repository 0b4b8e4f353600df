"""Search-space leaves, constants and conditional groups; define-by-run through Optuna."""

from __future__ import annotations

import math

import optuna
import pytest

from hybridlab.space.knobs import (
    Choice,
    Const,
    FloatRange,
    Group,
    IntRange,
    RandomSuggester,
    parse_knobs,
    sample_knobs,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

LEAVES = [
    pytest.param(
        {"choice": [1, "a", True, None, 0.5]},
        Choice("x", (1, "a", True, None, 0.5)),
        id="choice-mixed",
    ),
    pytest.param({"int": [2, 8]}, IntRange("x", 2, 8), id="int"),
    pytest.param({"int": [2, 8], "step": 2}, IntRange("x", 2, 8, 2), id="int-step"),
    pytest.param({"int": [1, 64], "log": True}, IntRange("x", 1, 64, 1, True), id="int-log"),
    pytest.param({"float": [0.1, 0.5]}, FloatRange("x", 0.1, 0.5), id="float"),
    pytest.param(
        {"float": [1e-4, 1e-2], "log": True},
        FloatRange("x", 1e-4, 1e-2, None, True),
        id="float-log",
    ),
    pytest.param({"float": [0, 1], "step": 0.25}, FloatRange("x", 0.0, 1.0, 0.25), id="float-step"),
]


@pytest.mark.parametrize(("leaf", "expected"), LEAVES)
def test_every_leaf_type_parses_and_samples_within_its_range(leaf, expected):
    (node,) = parse_knobs({"x": leaf})
    assert node == expected
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for suggester in [RandomSuggester(s) for s in range(20)] + [study.ask() for _ in range(20)]:
        value = sample_knobs((node,), suggester)["x"]
        if isinstance(node, Choice):
            assert value in node.values
            continue
        assert node.low <= value <= node.high
        if node.step is not None:
            assert math.isclose(
                (value - node.low) / node.step, round((value - node.low) / node.step)
            )
        if isinstance(node, IntRange):
            assert isinstance(value, int)


def test_constants_are_values_not_parameters():
    (node,) = parse_knobs({"expand": 2})
    assert node == Const("expand", 2)
    trial = optuna.create_study().ask()
    assert sample_knobs((node,), trial) == {"expand": 2}
    assert trial.params == {}


SPACE = {
    "ssm": {"choice": ["ssd", "scan"]},
    "attn_ratio": {"choice": [0.0, 0.25]},
    "ssd": {"when": "ssm == 'ssd'", "d_state": {"choice": [16, 32]}},
    "attn": {
        "when": "attn_ratio > 0",
        "heads": {"choice": [2, 4]},
        "kv": {"when": "attn.heads == 4", "kv_heads": {"int": [1, 4]}},
    },
}


def test_conditional_groups_are_define_by_run():
    knobs = parse_knobs(SPACE)
    assert isinstance(knobs[2], Group) and knobs[2].when.text == "ssm == 'ssd'"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        values = sample_knobs(knobs, trial)
        # Optuna only ever hears of the active knobs ...
        active = {k for k, v in values.items() if v is not None}
        assert set(trial.params) == active
        # ... and the conditions hold exactly when their knobs are active.
        assert (values["ssd.d_state"] is not None) == (values["ssm"] == "ssd")
        assert (values["attn.heads"] is not None) == (values["attn_ratio"] > 0)
        assert (values["attn.kv.kv_heads"] is not None) == (values["attn.heads"] == 4)
        seen.add(frozenset(active))
        study.tell(trial, 0.0)
    assert len(seen) >= 4  # several shapes of the conditional space were visited


def test_a_condition_on_an_inactive_knob_is_false():
    knobs = parse_knobs(
        {
            "a": {"choice": [0]},
            "g": {"when": "a == 1", "x": {"choice": [1]}},
            "h": {"when": "g.x == 1", "y": {"choice": [2]}},
        }
    )
    assert sample_knobs(knobs, RandomSuggester(0)) == {"a": 0, "g.x": None, "h.y": None}


def test_a_condition_may_only_name_earlier_knobs():
    with pytest.raises(ValueError, match=r"refers to 'later'.*known: a"):
        parse_knobs({"a": {"choice": [1]}, "g": {"when": "later > 0", "x": 1}, "later": 1})

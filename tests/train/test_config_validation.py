"""TrainConfig.validate and train_proxy refuse every nonsense value up front, naming it: ints
that are not ints, non-finite numbers, values out of range, configs and tasks of the wrong kind."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hybridlab
from hybridlab.config import SettingError
from hybridlab.tasks import make_task
from hybridlab.train import SettingTypeError, TrainConfig, train_proxy
from hybridlab.train.config import MAX_SEED, MAX_SEEDS

SPEC = hybridlab.parse("attn(heads=2), mlp", d_model=16)


def _task():
    settings = {"vocab_size": 80, "num_kv_pairs": 4, "num_train_examples": 64}
    return make_task("mqar", {**settings, "num_eval_examples": 16})


def _small(**overrides):
    settings = {"steps": 2, "batch_size": 4, "eval_every": None, "device": "cpu"}
    return {**settings, "num_threads": 1, **overrides}


# The sweep of issue 14 and its neighbours: (settings, error type, the setting it must name).
BAD_SETTINGS = [
    pytest.param({"seed": -1}, SettingError, "train.seed", id="seed-negative"),
    pytest.param({"seed": 1.5}, SettingTypeError, "train.seed", id="seed-float"),
    pytest.param({"seed": 2**70}, SettingError, "train.seed", id="seed-2**70"),
    pytest.param({"seed": MAX_SEED + 1}, SettingError, "train.seed", id="seed-2**32"),
    pytest.param({"steps": 2.5}, SettingTypeError, "train.steps", id="steps-2.5"),
    pytest.param({"steps": True}, SettingTypeError, "train.steps", id="steps-true"),
    pytest.param({"steps": "3"}, SettingTypeError, "train.steps", id="steps-str"),
    pytest.param({"batch_size": 2.5}, SettingTypeError, "train.batch_size", id="batch-2.5"),
    pytest.param({"batch_size": "8"}, SettingTypeError, "train.batch_size", id="batch-str"),
    pytest.param({"lr": "1e-3"}, SettingTypeError, "train.lr", id="lr-str"),
    pytest.param({"lr": math.nan}, SettingError, "train.lr", id="lr-nan"),
    pytest.param({"eps": -1}, SettingError, "train.eps", id="eps-negative"),
    pytest.param({"eps": 0.0}, SettingError, "train.eps", id="eps-0"),
    pytest.param({"eval_every": 1.5}, SettingTypeError, "train.eval_every", id="eval-every-1.5"),
    pytest.param({"eval_every": 0}, SettingError, "train.eval_every", id="eval-every-0"),
    pytest.param(
        {"weight_decay": math.nan}, SettingError, "train.weight_decay", id="weight-decay-nan"
    ),
    pytest.param({"grad_clip": math.inf}, SettingError, "train.grad_clip", id="grad-clip-inf"),
    pytest.param({"beta2": math.nan}, SettingError, "train.beta2", id="beta2-nan"),
    pytest.param(
        {"max_wall_time_s": math.inf}, SettingError, "train.max_wall_time_s", id="wall-time-inf"
    ),
    pytest.param({"lr_race": "1e-3"}, SettingTypeError, "train.lr_race", id="lr-race-str"),
    pytest.param({"lr_race": [1e-3, math.nan]}, SettingError, "train.lr_race", id="lr-race-nan"),
    pytest.param(
        {"lr_race": [1e-3, 2e-3], "steps": 1}, SettingError, "train.lr_race", id="race-in-1-step"
    ),
    pytest.param({"device": "tpu"}, SettingError, "train.device", id="device-tpu"),
    pytest.param({"precision": 16}, SettingTypeError, "train.precision", id="precision-int"),
    pytest.param({"num_threads": 1.0}, SettingTypeError, "train.num_threads", id="threads-float"),
]


@pytest.mark.parametrize(("settings", "error", "name"), BAD_SETTINGS)
def test_validate_names_the_bad_setting(settings, error, name):
    with pytest.raises(error, match=rf"^{name}\b") as caught:
        TrainConfig(**settings).validate()
    assert caught.value.key == name


@pytest.mark.parametrize(("settings", "error", "name"), BAD_SETTINGS)
def test_train_proxy_refuses_it_before_training(settings, error, name):
    with pytest.raises(error, match=rf"^{name}\b"):
        train_proxy(SPEC, _task(), TrainConfig(**_small(**settings)))


def test_a_wrong_type_is_both_a_type_error_and_a_setting_error():
    """Python callers expect a TypeError; the study loader and the CLI catch ValueErrors."""
    with pytest.raises(SettingTypeError) as caught:
        TrainConfig(steps=2.5).validate()
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


def test_valid_edges_pass():
    TrainConfig(seed=0).validate()
    TrainConfig(seed=MAX_SEED, lr=1, eps=1e-30, eval_every=None, grad_clip=None).validate()
    TrainConfig(device="cpu", precision="bf16", lr_race=(1e-3, 2e-3), steps=2).validate()


def test_a_mapping_is_read_as_a_train_section():
    result = train_proxy(SPEC, _task(), _small(steps=2))
    assert result.ok and result.steps_done == 2
    # Text is no number, in a mapping as in a study file (`steps: "2"`, `1_0`, `0x10`).
    with pytest.raises(ValueError, match=r"train\.steps: takes a whole number"):
        train_proxy(SPEC, _task(), _small(steps="2"))


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        pytest.param({"stepz": 2}, ValueError, "unknown setting train.stepz", id="dict-typo"),
        pytest.param({"steps": 2.5}, ValueError, "train.steps", id="dict-2.5"),
        pytest.param([("steps", 2)], TypeError, "train_config must be a TrainConfig", id="list"),
        pytest.param("steps=2", TypeError, "train_config must be a TrainConfig", id="str"),
    ],
)
def test_a_config_that_is_no_train_config(config, error, message):
    with pytest.raises(error, match=message):
        train_proxy(SPEC, _task(), config)


@pytest.mark.parametrize(
    ("task", "error", "message"),
    [
        pytest.param(None, TypeError, r"task must be a Task .*got None", id="none"),
        pytest.param(42, TypeError, r"task must be a Task .*got 42 \(int\)", id="int"),
        pytest.param({"vocab_size": 8}, TypeError, r"task must be a Task .*\(dict\)", id="dict"),
        pytest.param("nosuchtask", ValueError, r"unknown task 'nosuchtask'", id="unknown-name"),
    ],
)
def test_a_task_that_is_no_task(task, error, message):
    with pytest.raises(error, match=message):
        train_proxy(SPEC, task, TrainConfig(**_small()))


def test_a_report_that_is_not_callable():
    with pytest.raises(TypeError, match="report must be None or a callable"):
        train_proxy(SPEC, _task(), TrainConfig(**_small()), report="print")


# Property tests: every field, by its annotation, refuses values of the wrong kind.

HINTS = typing.get_type_hints(TrainConfig)
FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


def _base(name: str) -> type:
    kind = HINTS[name]
    if typing.get_origin(kind) is list:
        return list
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind


def _optional(name: str) -> bool:
    return type(None) in typing.get_args(HINTS[name])


NOT_A_NUMBER = st.one_of(
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.just(object()),
    st.just(1 + 2j),
)


def _wrong_type(name: str) -> st.SearchStrategy:
    """Values of the wrong kind for field `name`: a TypeError whatever their value."""
    base = _base(name)
    wrong = NOT_A_NUMBER
    if base is int:
        wrong = st.one_of(wrong, st.floats(allow_nan=True, allow_infinity=True))
    elif base is list:
        wrong = st.one_of(st.booleans(), st.text(max_size=5), st.integers(), st.floats())
    elif base is bool:  # true or false only: 1, "yes" and None are no answer
        wrong = st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.just([True]))
    elif base is not float:  # an Enum: only strings (or the Enum) will do
        wrong = st.one_of(
            st.booleans(), st.integers(), st.floats(), st.lists(st.text(), max_size=2)
        )
    if not _optional(name):
        wrong = st.one_of(wrong, st.none())
    return wrong


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(FIELDS))
def test_any_field_of_the_wrong_type_is_a_type_error_naming_it(data, name):
    value = data.draw(_wrong_type(name), label=name)
    with pytest.raises(TypeError, match=rf"^train\.{name}\b"):
        TrainConfig(**{name: value}).validate()


NUMBER_FIELDS = [name for name in FIELDS if _base(name) is float]


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NUMBER_FIELDS), value=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_any_number_that_is_not_finite_is_refused(name, value):
    with pytest.raises(ValueError, match=rf"^train\.{name} must be a finite number"):
        TrainConfig(**{name: value}).validate()


# Values of the right type but out of range, per field.
OUT_OF_RANGE = {
    "steps": st.integers(max_value=0),
    "batch_size": st.integers(max_value=0),
    "eval_batch_size": st.integers(max_value=0),
    "log_every": st.integers(max_value=0),
    "eval_every": st.integers(max_value=0),
    "eval_at": st.lists(
        st.one_of(st.integers(max_value=0), st.integers(min_value=1001)), min_size=1, max_size=3
    ),
    "max_eval_examples": st.integers(max_value=0),
    "num_threads": st.integers(max_value=0),
    "seed": st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_SEED + 1)),
    "seeds": st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_SEEDS + 1)),
    "seeds_statistic": st.text(max_size=6).filter(lambda s: s not in ("mean", "best")),
    "lr": st.floats(max_value=0),
    "lr_race": st.lists(st.floats(max_value=0), min_size=1, max_size=3),
    "lr_race_fraction": st.one_of(st.floats(max_value=0), st.floats(min_value=1, exclude_min=True)),
    "lr_race_judge": st.text(max_size=6).filter(lambda s: s not in ("train_loss", "validation")),
    "weight_decay": st.floats(max_value=0, exclude_max=True),
    "eps": st.floats(max_value=0),
    "beta1": st.one_of(st.floats(max_value=0, exclude_max=True), st.floats(min_value=1)),
    "beta2": st.one_of(st.floats(max_value=0, exclude_max=True), st.floats(min_value=1)),
    "warmup_fraction": st.one_of(st.floats(max_value=0, exclude_max=True), st.floats(min_value=1)),
    "min_lr_ratio": st.one_of(
        st.floats(max_value=0, exclude_max=True), st.floats(min_value=1, exclude_min=True)
    ),
    "grad_clip": st.floats(max_value=0),
    "target_accuracy": st.one_of(st.floats(max_value=0), st.floats(min_value=1, exclude_min=True)),
    "max_wall_time_s": st.floats(max_value=0),
    "device": st.text(max_size=6).filter(lambda s: s not in ("auto", "cpu", "cuda")),
    "precision": st.text(max_size=6).filter(lambda s: s not in ("auto", "fp32", "bf16")),
}


def test_every_field_has_an_out_of_range_strategy():
    # A bool has no value out of range, only values of the wrong type (above).
    assert sorted(OUT_OF_RANGE) == sorted(name for name in FIELDS if _base(name) is not bool)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(OUT_OF_RANGE)))
def test_any_value_out_of_range_is_a_value_error_naming_it(data, name):
    value = data.draw(OUT_OF_RANGE[name], label=name)
    with pytest.raises(ValueError, match=rf"^train\.{name}\b") as caught:
        TrainConfig(**{name: value}).validate()
    assert caught.value.key == f"train.{name}"

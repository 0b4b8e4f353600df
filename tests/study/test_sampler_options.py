"""A sampler's options are checked when the study is loaded, by building the sampler as a run
will: an option a file cannot give, a value of the wrong type or one Optuna refuses is a
`SettingError` naming `sampler.options`, never a traceback after the study folder exists."""

from __future__ import annotations

import inspect

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from study_helpers import KIND_SPACE

from hybridlab.config import SettingError, parse_yaml
from hybridlab.space import load_space
from hybridlab.study.samplers import _CLASS, SamplerConfig, make_sampler

SPACE = load_space(parse_yaml(KIND_SPACE, where="space.yaml", what="space"))
NAMES = ("tpe", "nsga2", "random", "grid")  # gp needs scipy, an optional dependency
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(-2, 10, allow_nan=False),
    st.text("ab", max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
)


@st.composite
def options(draw: st.DrawFn) -> tuple[str, dict]:
    name = draw(st.sampled_from(NAMES))
    accepted = inspect.signature(getattr(optuna.samplers, _CLASS[name])).parameters
    keys = [k for k in accepted if k not in ("seed", "search_space")]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=3)) if keys else []
    return name, {key: draw(VALUES) for key in chosen}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(options())
def test_options_are_a_sampler_or_a_setting_error(case):
    name, given_options = case
    config = SamplerConfig(name=name, options=given_options)
    try:
        config.validate(SPACE)
    except SettingError as err:
        assert err.key.startswith("sampler.options"), err
        return
    study = optuna.create_study(sampler=make_sampler(config, SPACE), directions=["maximize"])
    trial = study.ask()
    SPACE.propose(trial, vocab_size=32)
    study.tell(trial, 0.5)  # a sampler that was built also takes a result


@pytest.mark.parametrize(
    ("name", "given_options", "key", "message"),
    [
        pytest.param(
            "nsga2",
            {"mutation_prob": 5.0},
            "sampler.options",
            "NSGAIISampler refuses these options: `mutation_prob` must be None or a float",
            id="nsga2-mutation-prob-5",
        ),
        pytest.param(
            "nsga2",
            {"population_size": 1},
            "sampler.options",
            "`population_size` must be greater than or equal to 2",
            id="nsga2-population-1",
        ),
        pytest.param(
            "tpe",
            {"constraints_func": 5},
            "sampler.options.constraints_func",
            "takes a Python object (Callable[[FrozenTrial], Sequence[float]] | None), which a "
            "study file cannot give",
            id="tpe-constraints-func",
        ),
        pytest.param(
            "tpe",
            {"n_startup_trials": -3},
            "sampler.options.n_startup_trials",
            "TPESampler's n_startup_trials takes a count >= 0, got -3",
            id="tpe-startup-negative",
        ),
        pytest.param(
            "tpe",
            {"n_startup_trials": 1.5},
            "sampler.options.n_startup_trials",
            "takes a count >= 0, got 1.5",
            id="tpe-startup-fraction",
        ),
    ],
)
def test_the_sweeps_sampler_options(name, given_options, key, message):
    with pytest.raises(SettingError) as caught:
        SamplerConfig(name=name, options=given_options).validate(SPACE)
    assert caught.value.key == key and message in str(caught.value)


def test_a_null_python_object_option_is_its_default():
    SamplerConfig(name="tpe", options={"constraints_func": None}).validate(SPACE)

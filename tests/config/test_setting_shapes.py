"""A setting of the wrong shape (one value for a list, a list for a number, anything but a
mapping for a section) is a `SettingError` that names the setting, whatever the value."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridlab.config import SettingError, merge_dataclass
from hybridlab.execution import ExecutorConfig
from hybridlab.study.samplers import SamplerConfig
from hybridlab.tracking import TrackingConfig
from hybridlab.train import TrainConfig

SECTIONS = {
    "train": TrainConfig,
    "sampler": SamplerConfig,
    "executor": ExecutorConfig,
    "tracking": TrackingConfig,
}
SCALARS = st.one_of(
    st.integers(-5, 5), st.floats(-10, 10), st.booleans(), st.text("abc", min_size=1, max_size=4)
)
LISTS = st.lists(SCALARS, max_size=3)
MAPPINGS = st.dictionaries(st.text("xyz", min_size=1, max_size=3), SCALARS, max_size=2)


def shape(kind: Any) -> str:
    """ "list", "mapping" or "scalar": what a field of type `kind` holds."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    base = args[0] if typing.get_origin(kind) in (typing.Union, type(int | None)) else kind
    origin = typing.get_origin(base) or base
    if origin in (list, tuple):
        return "list"
    if origin is dict:
        return "mapping"
    return "scalar"


@st.composite
def wrong_shapes(draw: st.DrawFn) -> tuple[str, str, Any]:
    section = draw(st.sampled_from(sorted(SECTIONS)))
    hints = typing.get_type_hints(SECTIONS[section])
    name = draw(st.sampled_from([f.name for f in dataclasses.fields(SECTIONS[section])]))
    wrong = {"list": [SCALARS, MAPPINGS], "mapping": [SCALARS, LISTS], "scalar": [LISTS, MAPPINGS]}
    value = draw(st.one_of(*wrong[shape(hints[name])]))
    return section, name, value


@given(wrong_shapes())
def test_a_value_of_the_wrong_shape_names_its_setting(case):
    section, name, value = case
    with pytest.raises(SettingError) as caught:
        merge_dataclass(SECTIONS[section], {name: value}, section)
    assert caught.value.key == f"{section}.{name}"
    assert str(caught.value).startswith(f"{section}.{name}: takes ")


@pytest.mark.parametrize(
    ("section", "settings", "message"),
    [
        pytest.param(
            "train", ["lr_race=1e-3"], "train.lr_race: takes a list, e.g. [0.001]", id="lr-race"
        ),
        pytest.param("train", {"steps": [1, 2]}, "train.steps: takes one value", id="steps-list"),
        pytest.param(
            "sampler",
            {"options": [1]},
            "sampler.options: takes a mapping of name: value",
            id="sampler-options-list",
        ),
        pytest.param("train", 5, "train: a section of settings is a mapping", id="section-int"),
        pytest.param(
            "train", [1, 2], "train: a section of settings is a mapping", id="section-list"
        ),
    ],
)
def test_the_sweeps_wrong_shapes(section, settings, message):
    with pytest.raises(SettingError) as caught:
        merge_dataclass(SECTIONS[section], settings, section)
    assert str(caught.value).startswith(message)


def test_a_list_setting_takes_a_list():
    assert merge_dataclass(TrainConfig, ["lr_race=[1e-3, 3e-3]"], "train").lr_race == [1e-3, 3e-3]

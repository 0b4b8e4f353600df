"""The one `key=value` grammar (`hybridlab.config.overrides`): what a value means is what it
says, whatever text it is given, and nothing YAML would read as more than data gets through."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridlab.config import StudyConfigError
from hybridlab.config.overrides import parse_override, parse_value


@given(st.text(max_size=40))
def test_any_text_is_a_value_or_a_value_error(text):
    try:
        parse_value(text)
    except ValueError as err:
        assert str(err)


@given(st.integers())
def test_decimal_integers_are_ints(number):
    assert parse_value(str(number)) == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_decimal_floats_are_floats(number):
    text = repr(number)
    value = parse_value(text)
    assert isinstance(value, int | float) and math.isclose(value, number, rel_tol=0, abs_tol=0)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0x10", id="hex"),
        pytest.param("1_0", id="underscores"),
        pytest.param("0o7", id="octal"),
        pytest.param("0b11", id="binary"),
        pytest.param("1:30", id="sexagesimal"),
        pytest.param("*.py", id="glob"),
        pytest.param("yes", id="yaml-1.1-bool"),
        pytest.param("６４", id="unicode-digits"),
    ],
)
def test_yaml_1_1_numbers_and_words_stay_text(text):
    assert parse_value(text) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("!!python/object/apply:os.system ['true']", "a tag", id="python-tag"),
        pytest.param("!!int 5", "a tag", id="int-tag"),
        pytest.param("&anchor 5", "an anchor", id="anchor"),
        pytest.param("|", "a block", id="block"),
        pytest.param("[1e-3,", "not closed with ']'", id="unclosed-list"),
        pytest.param("{a: 1", "not closed with '}'", id="unclosed-map"),
        pytest.param("'text", "quote", id="unclosed-quote"),
        pytest.param("[1] 2", "after the value", id="trailing"),
    ],
)
def test_what_yaml_reads_as_more_than_data_is_refused(text, message):
    with pytest.raises(ValueError) as caught:
        parse_value(text)
    assert message in str(caught.value)


def test_an_error_names_the_override_as_given():
    with pytest.raises(StudyConfigError) as caught:
        parse_override("train.lr_race=[1e-3,")
    assert str(caught.value).startswith("override 'train.lr_race=[1e-3,': a list in")

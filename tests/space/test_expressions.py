"""Constraint and condition expressions: a whitelist of syntax, never `eval`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridlab.space.expressions import Expression, Inactive

ENV = {"attn.heads": 4, "attn.kv_heads": 2, "params": 1_500_000, "ssm": "ssd", "off": None}

GOOD = [
    pytest.param("attn.kv_heads <= attn.heads", True, id="dotted-compare"),
    pytest.param("params <= 2e6", True, id="float-literal"),
    pytest.param("1 < attn.kv_heads < attn.heads", True, id="chained"),
    pytest.param("ssm == 'ssd' and not params > 2e6", True, id="bool-ops"),
    pytest.param("ssm in ('ssd', 'scan')", True, id="in-tuple"),
    pytest.param("attn.heads % attn.kv_heads == 0 and 2 ** 3 == 8", True, id="arithmetic"),
    pytest.param("-params < 0 or params // 2 == 0", True, id="unary"),
    pytest.param("ssm != 'scan' and attn.heads / 2 >= 2.5", False, id="false"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_allowed_expressions_evaluate(text, expected):
    assert Expression.parse(text).evaluate(ENV) is expected


BAD = [
    pytest.param(
        "__import__('os').system('true')", "only cost functions may be called", id="import-call"
    ),
    pytest.param("params.__class__", None, id="dunder-attribute"),
    pytest.param("[x for x in (1, 2)]", "ListComp is not allowed", id="comprehension"),
    pytest.param("lambda: 1", "Lambda is not allowed", id="lambda"),
    pytest.param("params[0]", "Subscript is not allowed", id="subscript"),
    pytest.param("f'{params}'", "JoinedStr is not allowed", id="f-string"),
    pytest.param("params <=", "cannot parse", id="syntax"),
    pytest.param("", "non-empty", id="empty"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_disallowed_syntax_is_rejected_when_parsed(text, message):
    if message is None:
        # Attribute access parses as a dotted name; it can only ever look up a knob of that name.
        with pytest.raises(ValueError, match=r"unknown name 'params\.__class__'"):
            Expression.parse(text).evaluate(ENV)
        return
    with pytest.raises(ValueError, match=message):
        Expression.parse(text)


def test_names_are_whole_dotted_paths():
    assert Expression.parse("attn.kv_heads <= attn.heads").names == {"attn.kv_heads", "attn.heads"}


def test_an_inactive_knob_raises_inactive_and_unknown_names_are_errors():
    with pytest.raises(Inactive):
        Expression.parse("off > 1").evaluate(ENV)
    with pytest.raises(ValueError, match="unknown name 'nope'"):
        Expression.parse("nope > 1").evaluate(ENV)


def test_cost_functions_are_called_bare_or_with_arguments():
    env = {"state_bytes": lambda context=64, dtype="fp32": context * (2 if dtype == "bf16" else 4)}
    assert Expression.parse("state_bytes == 256").evaluate(env)
    assert Expression.parse("state_bytes(context=8, dtype='bf16') == 16").evaluate(env)


# Issue 25, item 8: work bounded by cause. Any arithmetic over numbers and strings, however
# nested, is evaluated fast (hypothesis' deadline) to a condition or refused.
OPERANDS = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(-1e12, 1e12, allow_nan=False).map(repr),
    st.sampled_from(["'x'", "params", "ssm", "(1, 2)", "256", "10**256"]),
)
OPERATORS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**"])


def arithmetic(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(children, OPERATORS, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})")


@settings(max_examples=300, deadline=500)
@given(st.recursive(OPERANDS, arithmetic, max_leaves=8), st.sampled_from(["> 0", "== 'x'"]))
def test_any_arithmetic_is_a_condition_or_refused_quickly(expression, comparison):
    try:
        value = Expression.parse(f"{expression} {comparison}").holds(ENV)
    except ValueError:
        return
    assert isinstance(value, bool)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "((((10**256)**256)**256)**256) > 0", "beyond a float's range", id="nested-powers"
        ),
        pytest.param("2 ** 10000000 > 1", "beyond a float's range", id="huge-exponent"),
        pytest.param("'x' * 10**8 == 'x'", "arithmetic takes numbers", id="string-repetition"),
        pytest.param("'%999999999d' % 1 == ''", "arithmetic takes numbers", id="string-format"),
        pytest.param("(1,) * 10**9 == ()", "arithmetic takes numbers", id="tuple-repetition"),
        pytest.param("10**308 * 10 > 0", "not a finite real number", id="past-a-float"),
        pytest.param("(-8) ** 0.5 > 0", "not a finite real number", id="complex"),
    ],
)
def test_unbounded_work_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        Expression.parse(text).holds(ENV)


# Issue 25, item 5: a constraint or a `when` is a condition: true or false.
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("'yes'", id="string"),
        pytest.param("1", id="number"),
        pytest.param("params + 1", id="arithmetic"),
        pytest.param("state_bytes(context=8)", id="cost-call"),
        pytest.param("params > 0 and 'yes'", id="and-operand"),
        pytest.param("not 1", id="not-operand"),
    ],
)
def test_what_can_be_no_condition_is_refused_when_parsed(text):
    with pytest.raises(ValueError, match="is no condition"):
        Expression.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("params", id="cost"),
        pytest.param("ssm", id="string-knob"),
        pytest.param("params > 0 and params", id="and-operand"),
        pytest.param("not attn.heads", id="not-operand"),
    ],
)
def test_a_name_that_holds_no_condition_is_refused_when_evaluated(text):
    with pytest.raises(ValueError, match="not true or false"):
        Expression.parse(text).holds(ENV)


def test_a_boolean_knob_is_a_condition():
    assert Expression.parse("mlp or params > 2e6").holds({**ENV, "mlp": True})

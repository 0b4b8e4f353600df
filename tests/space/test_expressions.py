"""Constraint and condition expressions: a whitelist of syntax, never `eval`."""

from __future__ import annotations

import pytest

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


def test_huge_exponents_are_refused():
    with pytest.raises(ValueError, match="exponent"):
        Expression.parse("2 ** 10000000 > 1").evaluate({})

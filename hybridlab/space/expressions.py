"""Safe expressions for constraints and `when` conditions, parsed with `ast`, never `eval`ed.

Grammar: Python expression syntax restricted to numbers, strings, booleans, null/None, names
(dotted names such as `attn.kv_heads` refer to nested knobs), comparisons (chained too, `in`,
`not in`), `and`/`or`/`not`, arithmetic (`+ - * / // % **`, unary minus), tuples and lists of
literals, and calls of the functions the caller provides (the analytic costs:
`state_bytes(context=8192, dtype="bf16")`). Anything else (attribute access on values,
subscripts, lambdas, comprehensions, f-strings) is rejected when the expression is parsed.

A name whose value is None (a knob that is inactive in this sample) makes the evaluation raise
`Inactive`: a constraint on an inactive knob holds vacuously, a condition on one is false.

Example:
    >>> expr = Expression.parse("attn.kv_heads <= attn.heads and params <= 2e6")
    >>> sorted(expr.names)
    ['attn.heads', 'attn.kv_heads', 'params']
    >>> expr.evaluate({"attn.heads": 4, "attn.kv_heads": 2, "params": 1_000_000})
    True
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
_ALLOWED = (
    ast.Expression,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.BinOp,
    ast.Name,
    ast.Attribute,
    ast.Constant,
    ast.Load,
    ast.Tuple,
    ast.List,
    ast.Call,
    ast.keyword,
    *_COMPARE,
    *_BINARY,
    *_UNARY,
)
# Every number along the way stays within a float's range: `((10**256)**256)**256` is refused
# before it is computed (Python's ints would grow without bound, and the driver with them).
_MAX_MAGNITUDE = 1e308
_MAX_DIGITS = 308
# Constructs whose value is a condition (true or false) whatever they hold.
_CONDITIONS = (ast.Compare, ast.BoolOp)


class Inactive(Exception):
    """The expression refers to a knob that is not active (its value is None)."""


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression.

    Attributes:
        text: the source text.
        names: every (dotted) name it reads, called functions included.
    """

    text: str
    tree: ast.Expression
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Expression:
        """Parse `text`; raise ValueError naming the first construct that is not allowed."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"an expression must be a non-empty string, got {text!r}")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as err:
            raise ValueError(f"cannot parse {text!r}: {err.msg}") from None
        names: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED):
                raise ValueError(
                    f"{type(node).__name__} is not allowed in {text!r}; use comparisons, "
                    f"and/or/not, arithmetic, numbers, strings and knob names"
                )
            if isinstance(node, ast.Attribute):
                names.add(_dotted(node, text))
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name):
                    raise ValueError(f"only cost functions may be called in {text!r}")
            elif isinstance(node, ast.Constant) and not isinstance(
                node.value, int | float | str | bool | type(None)
            ):
                raise ValueError(f"constant {node.value!r} is not allowed in {text!r}")
        # The root of a dotted name (`attn` in `attn.heads`) was collected too; keep whole paths.
        whole = {n for n in names if not any(o != n and o.startswith(n + ".") for o in names)}
        _check_condition(tree.body, text.strip())
        return cls(text=text.strip(), tree=tree, names=frozenset(whole))

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The value of the expression with names looked up in `env` (dotted keys).

        Arithmetic takes numbers (no string or tuple repetition, concatenation or formatting)
        and every number along the way stays within a float's range, so no expression can
        make the evaluation run long or take much memory; `and`, `or` and `not` take true or
        false.

        Raises:
            Inactive: a name's value is None.
            ValueError: an unknown name, a type error, a number out of range, with the
                expression in the message.
        """
        try:
            return _eval(self.tree.body, env, self.text)
        except (TypeError, ZeroDivisionError, OverflowError) as err:
            raise ValueError(f"cannot evaluate {self.text!r}: {err}") from None

    def holds(self, env: Mapping[str, Any]) -> bool:
        """Whether the condition holds (`evaluate`, whose value must be true or false).

        Raises:
            Inactive, ValueError: as `evaluate`; ValueError too for a value that is no condition
                (`params` is a number: a constraint compares it, `params <= 2e6`).
        """
        return _condition(self.evaluate(env), self.text, self.text)


def _dotted(node: ast.AST, text: str) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value, text)}.{node.attr}"
    raise ValueError(f"attribute access is only allowed on knob names in {text!r}")


def _lookup(name: str, env: Mapping[str, Any], text: str, call: bool = False) -> Any:
    if name not in env:
        raise ValueError(f"unknown name {name!r} in {text!r}; known: {', '.join(sorted(env))}")
    value = env[name]
    if value is None:
        raise Inactive(name)
    if callable(value) and not call:
        return value()
    return value


def _eval(node: ast.AST, env: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        return _lookup(_dotted(node, text), env, text)
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_eval(item, env, text) for item in node.elts)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env, text)
        if isinstance(node.op, ast.Not):
            return not _condition(operand, ast.unparse(node.operand), text)
        return _UNARY[type(node.op)](_number(operand, ast.unparse(node.operand), text))
    if isinstance(node, ast.BinOp):
        left = _number(_eval(node.left, env, text), ast.unparse(node.left), text)
        right = _number(_eval(node.right, env, text), ast.unparse(node.right), text)
        if isinstance(node.op, ast.Pow) and _pow_digits(left, right) > _MAX_DIGITS:
            raise ValueError(f"{ast.unparse(node)} is beyond a float's range (1e308) in {text!r}")
        value = _BINARY[type(node.op)](left, right)
        if isinstance(value, complex) or not abs(value) <= _MAX_MAGNITUDE:
            raise ValueError(f"{ast.unparse(node)} is not a finite real number in {text!r}")
        return value
    if isinstance(node, ast.BoolOp):
        values = (_condition(_eval(v, env, text), ast.unparse(v), text) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, text)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, env, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        func = _lookup(node.func.id, env, text, call=True)
        if not callable(func):
            raise ValueError(f"{node.func.id!r} is not a function in {text!r}")
        args = [_eval(a, env, text) for a in node.args]
        kwargs = {k.arg: _eval(k.value, env, text) for k in node.keywords if k.arg}
        return func(*args, **kwargs)
    raise ValueError(f"{type(node).__name__} is not allowed in {text!r}")


def _number(value: Any, what: str, text: str) -> int | float:
    """`value`, an operand of arithmetic: an int or a float (a bool or a string is refused:
    `'x' * 10**8` would build a string of 100 MB)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"arithmetic takes numbers; {what} is {value!r} in {text!r}")
    return value


def _condition(value: Any, what: str, text: str) -> bool:
    """`value`, a condition: true or false (not a number or a string that Python would call
    truthy: a constraint `params` or `'yes'` is no condition)."""
    if not isinstance(value, bool):
        raise ValueError(
            f"{what} is {value!r}, not true or false, in {text!r}; a condition compares, "
            f"e.g. params <= 2e6"
        )
    return value


def _pow_digits(base: int | float, exponent: int | float) -> float:
    """About how many decimal digits `base ** exponent` has (0 when it is at most 1)."""
    if base == 0 or exponent <= 0 or abs(base) <= 1:
        return 0.0
    return float(exponent) * math.log10(abs(base))


def _check_condition(node: ast.AST, text: str) -> None:
    """Raise ValueError when `node` can be no condition whatever the knobs hold: a number, a
    string, a tuple, arithmetic or a cost function's value (names are checked when they are
    evaluated: a knob may hold true or false)."""
    if isinstance(node, (*_CONDITIONS, ast.Name, ast.Attribute)):
        for child in node.values if isinstance(node, ast.BoolOp) else ():
            _check_condition(child, text)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_condition(node.operand, text)
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return
    raise ValueError(
        f"{ast.unparse(node)} is no condition (true or false) in {text!r}; compare it, e.g. "
        f"params <= 2e6"
    )

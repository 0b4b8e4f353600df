"""The knobs of a search space: sampling leaves, constants and conditional groups.

In a space file's `knobs:` mapping every entry is one of

    d_model: {choice: [32, 64]}                 # categorical (numbers, strings, booleans, null)
    depth: {int: [2, 6], step: 2}               # integers low..high inclusive; `step`, `log`
    lr: {float: [1e-4, 1e-2], log: true}        # floats; `log` or `step`
    expand: 2                                   # a constant (never sampled)
    attn:                                       # a group of knobs, sampled only `when` it holds
      when: "attn_ratio > 0"
      heads: {choice: [2, 4]}

Sampling is define-by-run: `sample_knobs(knobs, suggester)` walks the tree in file order and
calls `suggester.suggest_*` (an `optuna.Trial`, or `RandomSuggester`) only for active leaves, so
Optuna sees conditional parameters. A group's `when` is an `Expression` over earlier knobs
(dotted names); inactive knobs get the value None.

Example:
    >>> knobs = parse_knobs({"ssm": {"choice": ["ssd"]}, "ssd": {"when": "ssm == 'ssd'",
    ...     "d_state": {"int": [16, 16]}}})
    >>> sample_knobs(knobs, RandomSuggester(0))
    {'ssm': 'ssd', 'ssd.d_state': 16}
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hybridlab.space.costs import CONSTRAINT_NAMES
from hybridlab.space.expressions import Expression, Inactive

LEAF_KEYS = ("choice", "int", "float")
_OPTIONS = {"choice": (), "int": ("step", "log"), "float": ("step", "log")}
_SCALARS = (int, float, str, bool, type(None))
# Names constraints use for the spec's costs and facts, and a group's `when`: no knob takes one.
RESERVED = (*CONSTRAINT_NAMES, "when")


class ConditionError(ValueError):
    """A group's `when` that cannot be evaluated on a sample (no condition, a type error), with
    the dotted `key` of the `when` (`knobs.attn.when`)."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class Suggester(Protocol):
    """What sampling needs; `optuna.Trial` has exactly these methods."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...
    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...


@dataclass(frozen=True)
class Choice:
    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class IntRange:
    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    name: str
    low: float
    high: float
    step: float | None = None
    log: bool = False


@dataclass(frozen=True)
class Const:
    name: str
    value: Any


@dataclass(frozen=True)
class Group:
    name: str
    when: Expression | None
    children: tuple[Node, ...]


Node = Choice | IntRange | FloatRange | Const | Group
# An error factory: (message, dotted key) -> exception (it knows the file and the lines).
ErrorAt = Callable[[str, str], Exception]


def parse_knobs(
    tree: Mapping[str, Any], error: ErrorAt | None = None, prefix: str = ""
) -> tuple[Node, ...]:
    """Parse a `knobs:` mapping (plain containers) into nodes; `error` builds located errors."""
    error = error or (lambda message, key: ValueError(f"{key}: {message}"))
    seen: list[str] = []
    return _parse_group(tree, prefix, error, seen)


def _parse_group(
    tree: Mapping[str, Any], prefix: str, error: ErrorAt, seen: list[str]
) -> tuple[Node, ...]:
    nodes: list[Node] = []
    for raw_key, value in tree.items():
        key = str(raw_key)
        path = f"{prefix}{key}"
        if not key.isidentifier():
            raise error(f"knob names must be identifiers, got {key!r}", path)
        if not prefix and key in RESERVED:
            raise error(f"{key!r} is reserved for costs in constraints; rename the knob", path)
        if isinstance(value, Mapping) and any(k in value for k in LEAF_KEYS):
            nodes.append(_parse_leaf(path, value, error))
            seen.append(path)
        elif isinstance(value, Mapping):
            nodes.append(_parse_conditional(path, value, error, seen))
        elif isinstance(value, list | tuple):
            raise error(f"a list is not a knob; write {{choice: {list(value)}}}", path)
        elif isinstance(value, _SCALARS):
            nodes.append(Const(path, value))
            seen.append(path)
        else:
            raise error(f"unsupported value {value!r}", path)
    return tuple(nodes)


def _parse_conditional(
    path: str, value: Mapping[str, Any], error: ErrorAt, seen: list[str]
) -> Group:
    when = None
    if "when" in value:
        try:
            when = Expression.parse(value["when"])
        except ValueError as err:
            raise error(str(err), f"{path}.when") from None
        unknown = sorted(n for n in when.names if n not in seen)
        if unknown:
            raise error(
                f"`when` refers to {', '.join(map(repr, unknown))}, which is not a knob defined "
                f"before it; known: {', '.join(seen) or 'none'}",
                f"{path}.when",
            )
    children = {k: v for k, v in value.items() if k != "when"}
    if not children:
        raise error("an empty group; give it knobs, or a leaf such as {choice: [...]}", path)
    return Group(path, when, _parse_group(children, path + ".", error, seen))


def _parse_leaf(path: str, spec: Mapping[str, Any], error: ErrorAt) -> Node:
    kinds = [k for k in LEAF_KEYS if k in spec]
    if len(kinds) > 1:
        raise error(f"a leaf has one of {', '.join(LEAF_KEYS)}, got {', '.join(kinds)}", path)
    kind = kinds[0]
    extra = sorted(set(spec) - {kind, *_OPTIONS[kind]})
    if extra:
        valid = ", ".join(_OPTIONS[kind]) or "none"
        raise error(f"unknown option {extra[0]!r} of a {kind} leaf; valid options: {valid}", path)
    arg = spec[kind]
    if kind == "choice":
        if not isinstance(arg, list | tuple) or not arg:
            raise error(f"choice takes a non-empty list, got {arg!r}", f"{path}.choice")
        for item in arg:
            if not isinstance(item, _SCALARS):
                raise error(
                    f"choices must be numbers, strings, booleans or null, got {item!r}",
                    f"{path}.choice",
                )
        if len({(type(v), v) for v in arg}) != len(arg):
            raise error(f"choice lists a value twice: {list(arg)}", f"{path}.choice")
        return Choice(path, tuple(arg))
    key = f"{path}.{kind}"
    if not isinstance(arg, list | tuple) or len(arg) != 2:
        raise error(f"{kind} takes [low, high], got {arg!r}", key)
    low, high = arg
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise error(f"log must be true or false, got {log!r}", f"{path}.log")
    if kind == "int":
        step = spec.get("step", 1)
        if not all(_is_int(v) for v in (low, high, step)):
            raise error(
                f"int takes integer bounds and step, got [{low!r}, {high!r}] step {step!r}", key
            )
        if low > high:
            raise error(f"empty range [{low}, {high}]: low must be <= high", key)
        if step < 1 or (high - low) % step:
            raise error(f"step {step} must be >= 1 and divide high - low = {high - low}", key)
        if log and (low < 1 or step != 1):
            raise error("a log int range needs low >= 1 and step 1", key)
        return IntRange(path, low, high, step, log)
    step = spec.get("step")
    if not all(_is_number(v) for v in (low, high)) or (step is not None and not _is_number(step)):
        raise error(f"float takes numeric bounds, got [{low!r}, {high!r}]", key)
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise error(f"empty or infinite range [{low}, {high}]: low must be <= high", key)
    if log and step is not None:
        raise error("a float leaf takes log or step, not both", key)
    if log and low <= 0:
        raise error(f"a log float range needs low > 0, got {low}", key)
    if step is not None and not step > 0:
        raise error(f"step must be > 0, got {step}", key)
    return FloatRange(path, low, high, None if step is None else float(step), log)


def sample_knobs(nodes: tuple[Node, ...], suggester: Suggester) -> dict[str, Any]:
    """Sample every active leaf (file order); inactive leaves map to None. Keys are dotted."""
    values: dict[str, Any] = {}
    _sample(nodes, suggester, values, active=True)
    return values


def _sample(nodes: tuple[Node, ...], s: Suggester, values: dict[str, Any], active: bool) -> None:
    for node in nodes:
        if isinstance(node, Group):
            on = active
            if on and node.when is not None:
                try:
                    on = node.when.holds(values)
                except Inactive:
                    on = False
                except ValueError as err:
                    raise ConditionError(str(err), key=f"knobs.{node.name}.when") from None
            _sample(node.children, s, values, on)
        elif not active:
            values[node.name] = None
        elif isinstance(node, Const):
            values[node.name] = node.value
        elif isinstance(node, Choice):
            values[node.name] = s.suggest_categorical(node.name, list(node.values))
        elif isinstance(node, IntRange):
            values[node.name] = s.suggest_int(
                node.name, node.low, node.high, step=node.step, log=node.log
            )
        else:
            values[node.name] = s.suggest_float(
                node.name, node.low, node.high, step=node.step, log=node.log
            )


def leaves(nodes: tuple[Node, ...]) -> list[Node]:
    """Every sampled leaf (constants excluded), depth first."""
    out: list[Node] = []
    for node in nodes:
        if isinstance(node, Group):
            out += leaves(node.children)
        elif not isinstance(node, Const):
            out.append(node)
    return out


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys → nested dicts: {"attn.heads": 4} → {"attn": {"heads": 4}}."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


class RandomSuggester:
    """Uniform (log-uniform where asked) draws from a seeded `random.Random`; for checks."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.rng.choice(list(choices))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        if log:
            return min(
                high, max(low, round(math.exp(self.rng.uniform(math.log(low), math.log(high)))))
            )
        return low + step * self.rng.randint(0, (high - low) // step)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        if log:
            return math.exp(self.rng.uniform(math.log(low), math.log(high)))
        if step is not None:
            return low + step * self.rng.randint(0, int((high - low) // step))
        return self.rng.uniform(low, high)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

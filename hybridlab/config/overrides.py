"""The one grammar of `key=value` overrides: the CLI, study files' overrides and fidelities.

    override := KEY "=" value
    KEY      := NAME ("." NAME)*                 # NAME: letters, digits, "_" and "-"
    value    := multiplier | scalar | list | map # a multiplier only where one is allowed
    multiplier := NUMBER ("x" | "X" | "×")       # "4x", "1.5x": a multiple of the current value
    list     := "[" [value ("," value)*] "]"
    map      := "{" [NAME ":" value ("," NAME ":" value)*] "}"
    scalar   := "null" | "true" | "false" | INT | FLOAT | QUOTED | PLAIN

INT is decimal digits with an optional sign (no `0x10`, `0o7`, `1_000`: YAML 1.1 reads those as
numbers a reader would not expect); FLOAT is a decimal with a point or an exponent (`1e-3`,
`.5`); QUOTED is text in single or double quotes, taken as written; PLAIN is any other text, up
to a `,`, `]` or `}` inside a list or map, taken as a string. A value that starts with a YAML
indicator that means more than text (`!` a tag, `&` an anchor, `|` or `>` a block, `%`, `@`,
a backtick) is refused: quote it to mean the text. Digits are ASCII digits only.

Every error is a `StudyConfigError` whose `where` names the override as given.

Example:
    >>> parse_override("train.lr_race=[1e-3, 3e-3]").value
    [0.001, 0.003]
    >>> parse_override("train.steps=4x", multipliers=True).factor
    4.0
    >>> parse_override("task.pattern=*.py").value
    '*.py'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from hybridlab.config.errors import StudyConfigError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?")
_MULTIPLIER = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*[xX×]")
# What was meant as a multiplier and is not one: "-2x", "1e3x", "2.5.1x".
_NEAR_MULTIPLIER = re.compile(r"[-+0-9.eE]+\s*[xX×]")
_REFUSED_STARTS = "!&|>%@`"
_WORDS = {"null": None, "~": None, "true": True, "false": False}


@dataclass(frozen=True)
class Override:
    """One `key=value` as given.

    Attributes:
        key: the dotted setting.
        raw: the value's text as given.
        value: the parsed value (None for a multiplier).
        factor: a multiplier's factor (`2x` → 2.0), else None.
        where: what an error about it names (e.g. "override 'train.steps=0'").
    """

    key: str
    raw: str
    value: Any
    factor: float | None
    where: str

    @property
    def section(self) -> str:
        return self.key.partition(".")[0]

    @property
    def text(self) -> str:
        return f"{self.key}={self.raw}"


def parse_override(item: str, *, multipliers: bool = False, where: str | None = None) -> Override:
    """Parse one `key=value` (see the module docstring); raise `StudyConfigError`."""
    where = where or f"override {item!r}"
    key, sep, raw = item.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise _error("expected key=value, e.g. train.steps=50", where, key)
    if not _KEY.fullmatch(key):
        raise _error(
            f"{key!r} is not a setting name (dotted words: letters, digits, _)", where, key
        )
    match = _MULTIPLIER.fullmatch(raw)
    if match:
        factor = float(match.group(1))
        if not multipliers:
            raise _error(f"a multiplier ({raw}) is taken only by --fidelity", where, key)
        if not factor > 0 or not math.isfinite(factor):
            raise _error(f"a multiplier must be > 0, got {raw!r}", where, key)
        return Override(key, raw, None, factor, where)
    if multipliers and _NEAR_MULTIPLIER.fullmatch(raw):
        raise _error(
            f"not a multiplier: {raw!r}; write a positive number and x, e.g. 4x or 1.5x",
            where,
            key,
        )
    try:
        value = parse_value(raw)
    except ValueError as err:
        raise _error(str(err), where, key) from None
    return Override(key, raw, value, None, where)


def parse_value(text: str) -> Any:
    """A value of the grammar (no multiplier); raise `ValueError` saying what is wrong."""
    parser = _Parser(text)
    value = parser.value(top=True)
    parser.skip_space()
    if parser.pos != len(text):
        raise ValueError(f"unexpected {text[parser.pos :]!r} after the value in {text!r}")
    return value


def nest(overrides: list[Override]) -> dict[str, Any]:
    """Dotted overrides as a nested mapping: `a.b=1, a.c=2` → `{"a": {"b": 1, "c": 2}}`."""
    out: dict[str, Any] = {}
    for override in overrides:
        *parents, last = override.key.split(".")
        node = out
        for name in parents:
            child = node.get(name)
            if not isinstance(child, dict):
                child = node[name] = {}
            node = child
        node[last] = override.value
    return out


def _error(message: str, where: str, key: str) -> StudyConfigError:
    del key  # the override as given (`where`) names it already
    return StudyConfigError(message, where=where)


class _Parser:
    """Recursive descent over one value's text."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self, *, top: bool = False) -> Any:
        self.skip_space()
        char = self.peek()
        if char == "[":
            return self.sequence()
        if char == "{":
            return self.mapping()
        if char in ("'", '"'):
            return self.quoted(char)
        return self.plain(top=top)

    def sequence(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        self.skip_space()
        if self.peek() == "]":
            self.pos += 1
            return items
        while True:
            items.append(self.value())
            self.skip_space()
            char = self.peek()
            self.pos += 1
            if char == "]":
                return items
            if char != ",":
                raise ValueError(f"a list in {self.text!r} is not closed with ']'")

    def mapping(self) -> dict[str, Any]:
        self.pos += 1
        items: dict[str, Any] = {}
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return items
        while True:
            self.skip_space()
            start = self.pos
            while self.peek() not in ("", ":", ",", "}"):
                self.pos += 1
            name = self.text[start : self.pos].strip()
            if self.peek() != ":" or not name:
                raise ValueError(f"a mapping in {self.text!r} needs name: value items")
            self.pos += 1
            items[name] = self.value()
            self.skip_space()
            char = self.peek()
            self.pos += 1
            if char == "}":
                return items
            if char != ",":
                raise ValueError(f"a mapping in {self.text!r} is not closed with '}}'")

    def quoted(self, quote: str) -> str:
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise ValueError(f"a quote in {self.text!r} is not closed")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def plain(self, *, top: bool) -> Any:
        start = self.pos
        stops = "" if top else ",]}"
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            self.pos += 1
        word = self.text[start : self.pos].strip()
        if word and word[0] in _REFUSED_STARTS:
            raise ValueError(
                f"{word!r} starts with {word[0]!r}, which YAML reads as more than text "
                f"(a tag, an anchor, a block); quote it to mean the text"
            )
        if word in _WORDS:
            return _WORDS[word]
        if _INT.fullmatch(word):
            return int(word)
        if _FLOAT.fullmatch(word):
            return float(word)
        return word

"""The layer-spec grammar: text -> a flat list of positioned layer nodes.

    stack  := item ("," item)* [","]
    item   := unit ("*" INT)?
    unit   := layer | "[" stack "]"
    layer  := KIND ("(" [arg ("," arg)* [","]] ")")?
    arg    := NAME "=" (INT | FLOAT | BOOL | NAME)

Whitespace and newlines separate tokens anywhere; `#` starts a comment to the end of the line; a
stack, a group and an argument list may end with one comma (a stack written one layer a line
keeps a comma on every line). An INT is digits only: `1e2` and `2.0` are FLOATs, which no int
knob takes. Repetition is expanded here, so `[ssd, mlp]*3` yields six nodes, and the stack is
checked against `MAX_LAYERS` before each expansion; kinds and arguments are resolved against the
registry later (`hybridlab.spec.build`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from hybridlab.spec.errors import SpecError
from hybridlab.spec.kinds.base import Value
from hybridlab.spec.model_spec import MAX_LAYERS

# Groups nest at most this deep (the parser recurses once per level; Python allows ~1000).
MAX_DEPTH = 64

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+|\#[^\n]*)
  | (?P<number>[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[\[\]\(\),*=])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    type: str  # "number" | "name" | "punct" | "end"
    text: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class ArgNode:
    name: str
    value: Value
    token: Token  # the argument's name, where errors about it point


@dataclass(frozen=True, slots=True)
class LayerNode:
    kind: str
    token: Token
    args: tuple[ArgNode, ...] = field(default=())


def tokenize(text: str) -> list[Token]:
    tokens = []
    pos, line, line_start = 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SpecError(
                f"unexpected character {text[pos]!r}",
                text=text,
                line=line,
                column=pos - line_start + 1,
            )
        kind = m.lastgroup
        assert kind is not None  # every alternative of _TOKEN is a named group
        if kind != "ws":
            tokens.append(Token(kind, m.group(), line, pos - line_start + 1))
        newlines = m.group().count("\n")
        if newlines:
            line += newlines
            line_start = m.start() + m.group().rindex("\n") + 1
        pos = m.end()
    tokens.append(Token("end", "", line, pos - line_start + 1))
    return tokens


def _number(text: str) -> int | float:
    """The value of a number token; ValueError past Python's 4300-digit int conversion limit."""
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    return float(text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.num_layers = 0
        self.depth = 0  # groups open around the current token

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(
        self,
        message: str,
        token: Token | None = None,
        valid: Sequence[str] | None = None,
        layer: int | None = None,
    ) -> SpecError:
        token = token or self.tok
        return SpecError(
            message,
            text=self.text,
            line=token.line,
            column=token.column,
            layer=self.num_layers if layer is None else layer,
            valid=valid,
        )

    def describe(self, token: Token) -> str:
        return "the end of the spec" if token.type == "end" else repr(token.text)

    def expect(self, punct: str) -> Token:
        if self.tok.text != punct or self.tok.type != "punct":
            raise self.error(f"expected {punct!r} but found {self.describe(self.tok)}")
        tok = self.tok
        self.i += 1
        return tok

    def parse(self) -> list[LayerNode]:
        if self.tok.type == "end":
            raise self.error("the spec is empty: give at least one layer, e.g. 'ssd, mlp'")
        nodes = self.stack()
        if self.tok.type != "end":
            raise self.error(
                f"expected ',' or the end of the spec, found {self.describe(self.tok)}"
            )
        return nodes

    def stack(self) -> list[LayerNode]:
        nodes = self.item()
        while self.tok.text == "," and self.tok.type == "punct":
            self.i += 1
            if self.tok.type == "end" or self.tok.text == "]":
                break  # trailing comma
            nodes += self.item()
        return nodes

    def item(self) -> list[LayerNode]:
        start = self.num_layers
        nodes = self.unit()
        if self.tok.text == "*" and self.tok.type == "punct":
            self.i += 1
            tok = self.tok
            if tok.type != "number" or not re.fullmatch(r"[0-9]+", tok.text):
                raise self.error(
                    f"expected a repeat count (a positive integer) after '*', "
                    f"found {self.describe(tok)}"
                )
            try:
                count = int(tok.text)
            except ValueError:
                raise self.error("repeat count is too long", tok, layer=start) from None
            if count < 1:
                raise self.error(f"repeat count must be >= 1, got {count}", tok, layer=start)
            if len(nodes) * count + start > MAX_LAYERS:
                raise self.error(
                    f"the stack would have more than {MAX_LAYERS} layers", tok, layer=start
                )
            self.i += 1
            nodes = nodes * count
            self.num_layers = start + len(nodes)
        return nodes

    def unit(self) -> list[LayerNode]:
        tok = self.tok
        if tok.type == "punct" and tok.text == "[":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"groups nest more than {MAX_DEPTH} deep", tok)
            self.i += 1
            if self.tok.text == "]":
                raise self.error("empty group '[]': a group needs at least one layer")
            nodes = self.stack()
            if self.tok.text != "]":
                raise self.error(
                    f"expected ',' or ']' to close the group opened at column {tok.column}, "
                    f"found {self.describe(self.tok)}"
                )
            self.i += 1
            self.depth -= 1
            return nodes
        if tok.type != "name":
            raise self.error(f"expected a layer kind or '[', found {self.describe(tok)}")
        self.i += 1
        args = self.args() if self.tok.text == "(" and self.tok.type == "punct" else ()
        self.num_layers += 1
        if self.num_layers > MAX_LAYERS:
            raise self.error(
                f"the stack has more than {MAX_LAYERS} layers", tok, layer=self.num_layers - 1
            )
        return [LayerNode(tok.text, tok, args)]

    def args(self) -> tuple[ArgNode, ...]:
        self.expect("(")
        args: list[ArgNode] = []
        while not (self.tok.type == "punct" and self.tok.text == ")"):
            name = self.tok
            if name.type != "name":
                raise self.error(f"expected an argument name, found {self.describe(name)}")
            self.i += 1
            if self.tok.text != "=":
                raise self.error(
                    f"expected '=' after argument {name.text!r}, found {self.describe(self.tok)}"
                )
            self.i += 1
            value_tok = self.tok
            if value_tok.type == "number":
                try:
                    value: Value = _number(value_tok.text)
                except ValueError:
                    raise self.error(f"the value of {name.text!r} is too long", name) from None
            elif value_tok.type == "name":
                lowered = value_tok.text.lower()
                value = {"true": True, "false": False}.get(lowered, value_tok.text)
            else:
                raise self.error(
                    f"expected a value for {name.text!r}, found {self.describe(value_tok)}"
                )
            self.i += 1
            if any(a.name == name.text for a in args):
                raise self.error(f"argument {name.text!r} is given twice", name)
            args.append(ArgNode(name.text, value, name))
            if self.tok.text == ",":
                self.i += 1
            elif self.tok.text != ")":
                raise self.error(f"expected ',' or ')', found {self.describe(self.tok)}")
        self.i += 1
        return tuple(args)


def parse_nodes(text: str) -> list[LayerNode]:
    """Parse stack text into expanded layer nodes; raises `SpecError` with the position."""
    return _Parser(text).parse()

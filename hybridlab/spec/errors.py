"""`SpecError`: a user error in a layer spec, with where it happened and what would be valid."""

from __future__ import annotations

from collections.abc import Sequence


class SpecError(ValueError):
    """A malformed or invalid layer spec.

    Attributes:
        message: what is wrong, in one sentence.
        text: the spec text the error points into (a stack string, a pattern or a YAML file).
        line, column: 1-based position of the offending token in `text` (None when unknown).
        layer: 0-based index of the offending layer in the expanded stack (None when not a layer).
        valid: the names that would have been accepted here (kinds, arguments, keys), if any.
        where: a short context prefix such as "studies/x.yaml: stack" (None when not needed).

    `str(error)` renders the message, the position, the offending line with a caret under the
    column, and the valid names, so a CLI can print it as is.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str | None = None,
        line: int | None = None,
        column: int | None = None,
        layer: int | None = None,
        valid: Sequence[str] | None = None,
        where: str | None = None,
    ) -> None:
        self.message = message
        self.text = text
        self.line = line
        self.column = column
        self.layer = layer
        self.valid = tuple(valid) if valid else ()
        self.where = where
        super().__init__(self._render())

    def with_context(
        self, *, where: str | None = None, layer: int | None = None, text: str | None = None
    ) -> SpecError:
        """A copy with an outer context filled in (used when the stack sits inside a YAML file)."""
        return SpecError(
            self.message,
            text=self.text if self.text is not None else text,
            line=self.line,
            column=self.column,
            layer=self.layer if self.layer is not None else layer,
            valid=self.valid,
            where=where or self.where,
        )

    def _render(self) -> str:
        head = f"{self.where}: {self.message}" if self.where else self.message
        parts = [head]
        loc = []
        if self.line is not None:
            loc.append(f"line {self.line}")
        if self.column is not None:
            loc.append(f"column {self.column}")
        if self.layer is not None:
            loc.append(f"layer {self.layer}")
        if loc:
            parts.append("  at " + ", ".join(loc))
        if self.text is not None and self.line is not None:
            lines = self.text.splitlines() or [""]
            if 1 <= self.line <= len(lines):
                src, caret = _clip(lines[self.line - 1], self.column)
                parts.append("    " + src)
                if caret is not None:
                    parts.append("    " + " " * (caret - 1) + "^")
        if self.valid:
            parts.append("  valid: " + ", ".join(self.valid))
        return "\n".join(parts)


# The most characters of the offending line an error shows (a pattern of 10⁵ letters is one line).
MAX_SHOWN = 120


def _clip(line: str, column: int | None) -> tuple[str, int | None]:
    """`line`, or its `MAX_SHOWN` characters around `column` marked `...` where cut, with the
    caret's column in what is shown."""
    if len(line) <= MAX_SHOWN:
        return line, column
    center = MAX_SHOWN // 2 if column is None else column
    start = max(0, min(center - MAX_SHOWN // 2, len(line) - MAX_SHOWN))
    shown = line[start : start + MAX_SHOWN]
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + MAX_SHOWN < len(line) else ""
    caret = None if column is None else column - start + len(prefix)
    return prefix + shown + suffix, caret

"""Errors in settings: where they are (`StudyConfigError`), which key (`SettingError`).

A setting that cannot work is a user error with a message a person can act on:
`SettingError` is raised by a config's own `validate` and names the dotted key it blames, and
the study loader turns it into a `StudyConfigError` that adds the file and the line.
"""

from __future__ import annotations


class StudyConfigError(ValueError):
    """A malformed study or space file, or a bad override.

    Attributes:
        message: what is wrong and what would be valid.
        where: the file (or "override") the error is in; None when not from a file.
        key: the dotted key path, e.g. "knobs.depth"; None when the whole file is at fault.
        line: 1-based line of `key` in `where`, when known.

    `str(error)` reads "FILE:LINE: KEY: MESSAGE", omitting the parts that are unknown.

    Example:
        >>> str(StudyConfigError("unknown key", where="s.yaml", key="train.stepz", line=7))
        's.yaml:7: train.stepz: unknown key'
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.where = where
        self.key = key
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        head = ""
        if self.where:
            head = self.where + (f":{self.line}" if self.line else "") + ": "
        if self.key:
            head += f"{self.key}: "
        return head + self.message


class SettingError(ValueError):
    """A setting that cannot work, with the dotted key it blames (`train.steps`).

    Raised by `merge_dataclass` and by a config's own `validate`; the study loader reads `key`
    to point at the line of that setting (or at the override that set it).

    Example:
        >>> err = SettingError("budget.trials: must be >= 1, got 0", key="budget.trials")
        >>> str(err), err.key
        ('budget.trials: must be >= 1, got 0', 'budget.trials')
    """

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(message)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__

"""`StudyConfigError`: a user error in a study or search-space file, with where it happened."""

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


class InfeasibleSample(ValueError):
    """A sampled architecture that cannot or must not be trained (a constraint, a shape rule)."""


class ExecutorFailed(RuntimeError):
    """The executor itself stopped working (e.g. Ray Tune's loop died): the study cannot go on;
    finished trials are kept and running ones resume on the next run."""

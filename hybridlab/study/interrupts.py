"""Interrupts that wait for a storage write to end.

A study's journal is written under Optuna's file lock (lock, append, unlock). Ctrl-C, SIGTERM
or SIGHUP arriving in the middle used to raise there and leave the lock half released (the
driver then died with a FileNotFoundError from Optuna instead of stopping cleanly, exit 1
instead of 143). The CLI's handler calls `raise_or_defer`: outside a write it raises at once,
inside one (`whole_write`) the interrupt is raised when the write ends.

Example:
    >>> try:
    ...     with whole_write():
    ...         raise_or_defer(KeyboardInterrupt("SIGTERM"))  # as the CLI's handler does
    ...         print("the write ends")
    ... except KeyboardInterrupt:
    ...     print("then the interrupt is raised")
    the write ends
    then the interrupt is raised
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_depth = 0
_pending: BaseException | None = None


@contextlib.contextmanager
def whole_write() -> Iterator[None]:
    """Within the block, `raise_or_defer` keeps the interrupt for the block's end."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            interrupt, _pending = _pending, None
            raise interrupt


def raise_or_defer(interrupt: BaseException) -> None:
    """Raise `interrupt` now, or at the end of the write under way (the first one wins)."""
    global _pending
    if _depth == 0:
        raise interrupt
    if _pending is None:
        _pending = interrupt

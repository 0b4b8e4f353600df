"""What the command line settles before and around every command.

- **The working directory exists** (`require_working_directory`), checked before any command
  module imports torch: in a deleted working directory loading torch's oneMKL aborts the
  process with "Intel oneMKL FATAL ERROR" and no word of the cause.
- **Output that cannot be written** (`run`): stdout on a full disk or `/dev/full` ends the
  command with one line on stderr and exit 1, as coreutils do, instead of a traceback; a reader
  that closed the pipe early (`| head`) ends it quietly, also with exit 1.
- **Warnings read as one line**, `warning: ...` on stderr, like the errors (`error: ...`).

Only the standard library is imported here: it runs before everything else.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TextIO


def require_working_directory() -> None:
    """Exit 2 with a message when the working directory no longer exists (or cannot be read)."""
    try:
        os.getcwd()
    except OSError as err:
        print(
            f"error: the working directory cannot be found ({err.strerror}): it was deleted or "
            f"moved; cd into an existing folder and run the command again",
            file=sys.stderr,
        )
        sys.exit(2)


class OutputError(Exception):
    """stdout could not be written: `error` is the OSError. Not an OSError itself, so that no
    handler for files (or click's own for a closed pipe) takes it for one."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _GuardedStdout:
    """sys.stdout with its write failures raised as `OutputError`, every other attribute the
    stream's own (rich and click read `isatty`, `fileno`, `encoding`)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as err:
            raise OutputError(err) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as err:
            raise OutputError(err) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def run(app: Callable[[], Any]) -> None:
    """Run the command line `app` with stdout guarded and warnings on one line; stdout that
    cannot be written exits 1 (see the module docstring)."""
    warnings.showwarning = _show_warning
    stream = sys.stdout
    sys.stdout = _GuardedStdout(stream)
    try:
        try:
            app()
        finally:
            # Whatever is still buffered is written here, where a failure is caught below.
            sys.stdout.flush()
    except OutputError as err:
        sys.stdout = stream
        # The interpreter flushes stdout once more at exit: let that go nowhere.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
        if err.error.errno != errno.EPIPE:
            print(f"error: cannot write to stdout ({err.error.strerror})", file=sys.stderr)
        sys.exit(1)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"warning: {message}", file=file or sys.stderr)

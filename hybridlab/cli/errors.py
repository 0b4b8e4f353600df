"""How every command reports a user error: the message on stderr, exit code 2."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

USAGE_ERROR = 2


def fail(message: str) -> NoReturn:
    """Print `message` on stderr (as is: spec errors carry their own caret lines) and exit 2."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(USAGE_ERROR)

"""Reading a settings file (a study, a space, a spec) as text, or saying why it cannot be read;
and whether a folder a command will write can be written, asked before anything is written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of `path`; a `ValueError` naming the problem otherwise (the message leaves
    the path out: callers put it in front).

    Args:
        path: the file.
        what: what the file should be, for the message ("study file", "spec file").

    Example:
        >>> read_text(Path("/"), "study file")
        Traceback (most recent call last):
        ...
        ValueError: a folder, not a study file
    """
    if path.is_dir():
        raise ValueError(f"a folder, not a {what}")
    if not path.exists():
        raise ValueError(f"{what} does not exist")
    if not path.is_file():
        raise ValueError(f"not a regular file (a device or a pipe?), not a {what}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"not a text file (byte {err.start} is not UTF-8); a {what} is YAML text"
        ) from None
    except OSError as err:
        raise ValueError(f"cannot be read: {err.strerror or err}") from None


def unwritable_folder(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (created with its parents if missing), or None.

    The nearest existing folder on the way is tried by creating and removing an empty folder
    in it: permissions, read-only and immutable folders, read-only file systems and `/proc`
    each refuse that in their own way, and root passes permission checks that `os.access`
    reports, so trying is the one answer that holds. Nothing is left behind.

    Example:
        >>> unwritable_folder(Path("/proc/runs"))
        "cannot write in '/proc': No such file or directory"
    """
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    shown = os.path.abspath(existing)
    if not existing.is_dir():
        what = "a file" if existing.is_file() else "not a folder"
        return f"{shown!r} is {what}, so no folder can be made under it"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".hybridlab-write-check-", dir=existing))
    except OSError as err:
        return f"cannot write in {shown!r}: {err.strerror or err}"
    return None

"""Reading a settings file (a study, a space, a spec) as text, or saying why it cannot be read."""

from __future__ import annotations

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

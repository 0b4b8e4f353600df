"""What a spec string is: a file path, YAML text, a pattern or stack text (`classify`).

The rule (also in `hybridlab.parse`'s docstring), applied in this order:

1. **A file path** if it is one line, ends with `.yaml` or `.yml` (any case, surrounding spaces
   ignored) and either names an existing file or has no `#` in it. Stack text cannot end in
   `.yaml` outside a comment (`.` is no token of the grammar), so without a `#` the text can only
   mean a file, and a missing one is reported as such; with a `#` it is a comment
   (`"ssd, mlp  # see spec.yaml"`) unless a file of that exact name exists.
2. **YAML** if its first significant line starts like a YAML mapping: `key:` followed by a space
   or the end of the line (the key a name or quoted), or `{`. Blank lines, `#` comment lines,
   `%` directives and `---` document markers before it are skipped. Stack text and patterns
   never contain `:` outside a comment, so `"ssd, mlp  # note: small"` stays stack text, and a
   stray colon in stack text (`"ssd(d_state: 4)"`) is reported at its position by the grammar.
3. **A pattern** if, without its `#` comments, it is only pattern letters (`M`, `S`, `*`, `-`),
   upper-case letters, spaces, `|` and newlines, and not blank.
4. **Stack text** otherwise (the grammar reports anything malformed with its position).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from hybridlab.spec.kinds import LETTERS


class SourceKind(StrEnum):
    FILE = "file"
    YAML = "yaml"
    PATTERN = "pattern"
    STACK = "stack"


# Stack text's comments: `#` to the end of the line (the grammar's rule, hybridlab.spec.parser).
_COMMENT = re.compile(r"#[^\n]*")
# A pattern is upper-case letters and symbols only; stack text always has a lower-case kind name.
_PATTERN_CHARS = re.compile("[A-Z" + re.escape("".join(LETTERS)) + r"| \t\r\n]+")
# YAML's block mapping entry (`key: value`, `"key": value`) or a flow mapping (`{...}`).
_MAPPING_START = re.compile(
    r"""[ \t]*(?:
        (?:[A-Za-z_][A-Za-z0-9_.-]*|"[^"\n]*"|'[^'\n]*')[ \t]*:(?:[ \t]|$)
      | \{
    )""",
    re.VERBOSE,
)
# Lines YAML allows before the first entry: blank, a comment, a directive, a document marker.
_YAML_PREAMBLE = re.compile(r"[ \t]*(?:#.*)?|%.*|---[ \t]*")


def classify(text: str) -> SourceKind:
    """Which form spec string `text` is written in (the rule is this module's docstring).

    Example:
        >>> classify("ssd, mlp  # note: small").value
        'stack'
        >>> classify("d_model: 64\\nstack: ssd").value
        'yaml'
    """
    if _is_file_path(text):
        return SourceKind.FILE
    if _starts_like_yaml_mapping(text):
        return SourceKind.YAML
    code = _COMMENT.sub("", text)
    if code.strip() and _PATTERN_CHARS.fullmatch(code):
        return SourceKind.PATTERN
    return SourceKind.STACK


def _is_file_path(text: str) -> bool:
    name = text.strip()
    if "\n" in name or not name.lower().endswith((".yaml", ".yml")):
        return False
    if "#" not in name:
        return True
    try:
        return Path(name).is_file()
    except (OSError, ValueError):  # a name too long for the file system, or a NUL byte
        return False


def _starts_like_yaml_mapping(text: str) -> bool:
    for line in text.splitlines():
        if _YAML_PREAMBLE.fullmatch(line):
            continue
        return _MAPPING_START.match(line) is not None
    return False


__all__ = ["SourceKind", "classify"]

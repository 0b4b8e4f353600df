"""Reading study and space YAML safely, remembering the line of every key.

OmegaConf parses the YAML (PyYAML's safe loader underneath: no Python objects are ever built);
`key_lines` composes the same text into PyYAML's node graph (no construction either) to map each
dotted key path to its 1-based line, so that errors found later, during validation, can still
point at the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridlab.config.errors import StudyConfigError
from hybridlab.config.files import read_text


@dataclass
class YamlSource:
    """A loaded YAML mapping with its origin.

    Attributes:
        conf: the OmegaConf DictConfig (interpolations unresolved).
        where: the file name used in messages ("<inline>" for text).
        lines: dotted key path → 1-based line ("objectives.1.name" for list items).
        path: the file, when read from one (relative paths in it resolve against its folder).
        overrides: dotted key → "override 'key=value'", for keys set on the command line.
    """

    conf: Any
    where: str
    lines: dict[str, int] = field(default_factory=dict)
    path: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)

    def error(self, message: str, key: str | None = None) -> StudyConfigError:
        """A `StudyConfigError` at `key`, with the line of the key (or of its nearest parent).

        A key set (or reached) by a command-line override is placed at the override instead
        (the override that set the key or a parent of it, else one that set a key below it);
        the error keeps naming `key`, the setting it is about.
        """
        probe = key
        while probe:
            if probe in self.overrides:
                return StudyConfigError(message, where=self.overrides[probe], key=key)
            probe = probe.rpartition(".")[0]
        for set_key, where in self.overrides.items():
            if key and set_key.startswith(key + "."):
                return StudyConfigError(message, where=where, key=key)
        return StudyConfigError(message, where=self.where, key=key, line=self.line(key))

    def line(self, key: str | None) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None


def load_yaml(path: Path | str, *, what: str) -> YamlSource:
    """Read the YAML mapping in `path`; `what` ("study", "space") names the file in messages.

    Raises:
        StudyConfigError: a missing file, malformed YAML (with its line) or a non-mapping.
    """
    path = Path(path)
    try:
        text = read_text(path, f"{what} file")
    except ValueError as err:
        raise StudyConfigError(str(err), where=str(path)) from None
    return parse_yaml(text, where=str(path), what=what, path=path)


def parse_yaml(text: str, *, where: str, what: str, path: Path | None = None) -> YamlSource:
    """Like `load_yaml`, for text already read."""
    import yaml
    from omegaconf import OmegaConf

    try:
        conf = OmegaConf.create(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or str(err)
        context = err.context_mark
        if err.context and context is not None and context.line + 1 != line:
            problem += f" ({err.context} started at line {context.line + 1})"
        raise StudyConfigError(f"malformed YAML: {problem}", where=where, line=line) from None
    except Exception as err:  # OmegaConf rejects some valid YAML (e.g. non-string keys)
        message = " ".join(str(err).split())
        if not message:  # OmegaConf refuses a scalar document without a word
            raise StudyConfigError(f"a {what} file must be a YAML mapping", where=where) from None
        raise StudyConfigError(f"cannot read the YAML: {message}", where=where) from None
    if not OmegaConf.is_dict(conf):
        raise StudyConfigError(f"a {what} file must be a YAML mapping", where=where)
    return YamlSource(conf=conf, where=where, lines=key_lines(text), path=path)


def key_lines(text: str) -> dict[str, int]:
    """Map every dotted key path of a YAML mapping to the 1-based line where it is written."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{prefix}{key_node.value}"
                out[key] = key_node.start_mark.line + 1
                walk(value_node, key + ".")
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                key = f"{prefix}{index}"
                out[key] = item.start_mark.line + 1
                walk(item, key + ".")

    walk(root, "")
    return out

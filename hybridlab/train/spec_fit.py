"""Fit a model spec to a task: the task's vocabulary wins.

A spec written without a vocab_size takes the task's. A spec that names one explicitly (a YAML
`vocab_size:` key, or the `vocab_size` argument) must cover the task's ids: a smaller one is an
error, a larger one is reduced to the task's with a warning. A `ModelSpec` object cannot say
whether its vocab_size was chosen or defaulted, so it simply takes the task's.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridlab.spec import ModelSpec, parse
from hybridlab.tasks import Task


def fit_spec(
    source: ModelSpec | str | Path | Mapping[str, Any],
    task: Task,
    *,
    d_model: int | None = None,
    vocab_size: int | None = None,
) -> ModelSpec:
    """Parse `source` (anything `hybridlab.parse` takes) and set its vocab_size to the task's.

    Args:
        source: a `ModelSpec`, stack text, a pattern, YAML text, a YAML file path or a mapping.
            A `ModelSpec`'s vocab_size is replaced by the task's.
        task: the task the model will train on.
        d_model: overrides the spec's width when given.
        vocab_size: an explicit vocab_size (as `model.vocab_size=...` on the command line).

    Raises:
        ValueError (`SpecError` for a malformed spec): when an explicit vocab_size is smaller
        than the task's.

    Example:
        >>> from hybridlab.tasks import make_task
        >>> fit_spec("attn, mlp", make_task("in-context-recall")).vocab_size
        16
    """
    explicit = vocab_size
    if explicit is None:
        explicit = _declared_vocab_size(source)
    spec = parse(source, d_model=d_model, vocab_size=vocab_size)
    if explicit is None or explicit == task.vocab_size:
        return dataclasses.replace(spec, vocab_size=task.vocab_size)
    if explicit < task.vocab_size:
        raise ValueError(
            f"the spec's vocab_size={explicit} is smaller than task {task.name!r}'s "
            f"vocab_size={task.vocab_size}; drop vocab_size from the spec (the task's is used) "
            f"or raise it"
        )
    warnings.warn(
        f"vocab_size {explicit} of the spec reduced to task {task.name!r}'s {task.vocab_size}",
        stacklevel=2,
    )
    return dataclasses.replace(spec, vocab_size=task.vocab_size)


def _declared_vocab_size(source: Any) -> int | None:
    """The vocab_size a source names itself, or None when it leaves it to the default."""
    if isinstance(source, Mapping):
        return source.get("vocab_size")
    text: str | None = None
    if isinstance(source, Path) or (
        isinstance(source, str)
        and source.strip().endswith((".yaml", ".yml"))
        and "\n" not in source
    ):
        # A file that is missing or cannot be read as text is reported by `parse`, naming it.
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
    elif isinstance(source, str) and ":" in source:
        text = source
    if text is None:
        return None
    from omegaconf import OmegaConf

    try:
        conf = OmegaConf.create(text)
    except Exception:  # malformed YAML: `parse` reports it properly
        return None
    value = conf.get("vocab_size") if OmegaConf.is_dict(conf) else None
    return value if isinstance(value, int) else None

"""The task registry: one plain dict from name to task class, and the lookups around it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from hybridlab.tasks.base import Task, TaskConfig
from hybridlab.tasks.mad_other import CompressionTask, MemorizationTask, SelectiveCopyingTask
from hybridlab.tasks.mad_recall import (
    FuzzyInContextRecallTask,
    InContextRecallTask,
    NoisyInContextRecallTask,
)
from hybridlab.tasks.mqar import MQARTask
from hybridlab.tasks.text import BytesTask

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        MQARTask,
        InContextRecallTask,
        FuzzyInContextRecallTask,
        NoisyInContextRecallTask,
        SelectiveCopyingTask,
        CompressionTask,
        MemorizationTask,
        BytesTask,
    )
}

# The six tasks of MAD's suite, in the paper's order.
MAD_TASKS = (
    "in-context-recall",
    "fuzzy-in-context-recall",
    "noisy-in-context-recall",
    "selective-copying",
    "compression",
    "memorization",
)


def get_task_class(name: str) -> type[Task]:
    """The task class registered as `name` (underscores may stand for hyphens).

    Raises ValueError listing the valid names.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[key]


def task_config(name: str, overrides: Mapping[str, Any] | None = None) -> TaskConfig:
    """The default config of task `name`, with `overrides` applied by field name.

    Raises ValueError for an unknown task or an unknown field (listing the valid fields).
    """
    cls = get_task_class(name)
    config = cls.config_class()
    if overrides:
        valid = {f.name for f in fields(config)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(
                f"task {cls.name!r} has no setting {', '.join(map(repr, unknown))}; "
                f"valid settings: {', '.join(sorted(valid))}"
            )
        config = replace(config, **overrides)
    return config


def make_task(name: str, config: TaskConfig | Mapping[str, Any] | None = None) -> Task:
    """Build task `name` from a config object, a mapping of overrides, or its defaults.

    Example:
        >>> make_task("mqar", {"vocab_size": 128, "num_kv_pairs": 4}).seq_len
        64
    """
    cls = get_task_class(name)
    if config is None or isinstance(config, Mapping):
        config = task_config(name, config)
    return cls(config)

"""Proxy tasks: deterministic generators of (input ids, targets) batches.

`TASKS` maps each name to its class; `make_task(name, overrides)` builds one. See `base.Task`
for the contract every task keeps.
"""

from hybridlab.tasks.base import (
    IGNORE_INDEX,
    Batch,
    Readout,
    SyntheticConfig,
    SyntheticTask,
    Task,
    TaskConfig,
)
from hybridlab.tasks.mad_other import (
    CompressionConfig,
    CompressionTask,
    MemorizationConfig,
    MemorizationTask,
    SelectiveCopyingConfig,
    SelectiveCopyingTask,
)
from hybridlab.tasks.mad_recall import (
    FuzzyInContextRecallConfig,
    FuzzyInContextRecallTask,
    InContextRecallConfig,
    InContextRecallTask,
    NoisyInContextRecallConfig,
    NoisyInContextRecallTask,
)
from hybridlab.tasks.mqar import MQARConfig, MQARTask
from hybridlab.tasks.registry import MAD_TASKS, TASKS, get_task_class, make_task, task_config
from hybridlab.tasks.text import BytesConfig, BytesTask

__all__ = [
    "IGNORE_INDEX",
    "MAD_TASKS",
    "TASKS",
    "Batch",
    "BytesConfig",
    "BytesTask",
    "CompressionConfig",
    "CompressionTask",
    "FuzzyInContextRecallConfig",
    "FuzzyInContextRecallTask",
    "InContextRecallConfig",
    "InContextRecallTask",
    "MQARConfig",
    "MQARTask",
    "MemorizationConfig",
    "MemorizationTask",
    "NoisyInContextRecallConfig",
    "NoisyInContextRecallTask",
    "Readout",
    "SelectiveCopyingConfig",
    "SelectiveCopyingTask",
    "SyntheticConfig",
    "SyntheticTask",
    "Task",
    "TaskConfig",
    "get_task_class",
    "make_task",
    "task_config",
]

"""A study's `executor:` section and the executor backends by name.

A backend is registered as "module:Class" and imported when first used (Ray's takes seconds),
so choosing and checking an executor imports neither Ray nor the backend's module until then.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridlab.config import SettingError
from hybridlab.execution.base import Executor, OnMetrics


@dataclass(kw_only=True)
class ExecutorConfig:
    """A study's `executor:` section: where trials run.

    backend: "ray" (the default: local Ray, or a cluster at `address`) or "inline" (in the
        driver's process, one at a time).
    max_concurrent: trials in flight; null: as many as the Ray cluster's resources fit.
    retries: how many times a trial that failed from a fault (its worker or node lost, an
        exception, out of memory) is run again; a non-finite loss is a result, not a fault.
    address: ray only: null starts local Ray; "auto" or host:port joins a cluster.
    resources: ray only: per trial, {cpu: 1, gpu: 0}; gpu may be a fraction (0.25).
    options: backend extras; ray: num_cpus (of a local Ray), triton_cache_dir.
    """

    backend: str = "ray"
    max_concurrent: int | None = None
    retries: int = 1
    address: str | None = None
    resources: dict[str, float] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise `SettingError` naming the first setting that cannot work; starts nothing."""
        if self.backend not in EXECUTORS:
            raise SettingError(
                f"unknown executor backend {self.backend!r}; available: {', '.join(EXECUTORS)}",
                key="executor.backend",
            )
        if not isinstance(self.retries, int) or self.retries < 0:
            raise SettingError(
                f"must be a whole number >= 0, got {self.retries!r}", key="executor.retries"
            )
        executor_class(self.backend).check_config(self)


# Backends by name, as "module:Class", imported when first used (Ray's takes seconds).
EXECUTORS: dict[str, str] = {
    "inline": "hybridlab.execution.inline:InlineExecutor",
    "ray": "hybridlab.execution.ray_executor:RayExecutor",
}


def executor_class(backend: str) -> type[Executor]:
    if backend not in EXECUTORS:
        raise ValueError(f"unknown executor {backend!r}; available: {', '.join(EXECUTORS)}")
    module, _, name = EXECUTORS[backend].partition(":")
    cls: type[Executor] = getattr(importlib.import_module(module), name)
    return cls


def make_executor(
    config: ExecutorConfig, on_metrics: OnMetrics | None, folder: Path | str
) -> Executor:
    """The executor of a validated `ExecutorConfig`, for the study in `folder`."""
    return executor_class(config.backend)(  # type: ignore[call-arg]
        on_metrics,
        folder=folder,
        max_concurrent=config.max_concurrent,
        address=config.address,
        resources=config.resources,
        **config.options,
    )

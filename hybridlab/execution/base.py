"""Executors: where trials run. The driver (the study runner) asks Optuna, submits, waits, tells.

The contract, so that a Ray executor slots in beside the inline one:

- `submit(request: TrialRequest) -> int`: start (or queue) a trial; returns its number.
- `wait(timeout=None) -> list[TrialOutcome]`: block until at least one submitted trial has
  finished (or `timeout` seconds passed: then possibly none) and return the finished ones.
  While waiting, the executor calls `on_metrics(number, step, metrics)` **in the driver's
  thread** for intermediate metrics (a Ray executor drains a queue here), so trackers and the
  progress view never run in workers.
- `num_running`: trials submitted and not yet returned by `wait`.
- `max_concurrent`: how many trials the driver keeps in flight.
- `check_config(config)` (a classmethod): raise ValueError naming the bad `executor.*` setting;
  called when the study file is validated, before anything starts.
- `shutdown()`: release workers; trials still running are abandoned (the runner marks them
  interrupted).

Everything that crosses the boundary is plain data: `TrialRequest.to_dict()` out, the result
dict of `hybridlab.search.worker.run_trial` back.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridlab.search.worker import TrialRequest, run_trial

OnMetrics = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrialOutcome:
    number: int
    result: dict[str, Any]


class Executor(ABC):
    """Runs trials; see the module docstring for the contract."""

    max_concurrent: int = 1

    def __init__(self, on_metrics: OnMetrics | None = None) -> None:
        self.on_metrics = on_metrics or (lambda number, step, metrics: None)

    @abstractmethod
    def submit(self, request: TrialRequest) -> int: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[TrialOutcome]: ...

    @property
    @abstractmethod
    def num_running(self) -> int: ...

    def shutdown(self) -> None:  # noqa: B027 (optional hook)
        """Release resources; the inline executor holds none."""

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Raise ValueError for `executor.*` settings this backend does not take (an
        `ExecutorConfig`; called before anything is created, so it must not start workers)."""
        if config.options:
            raise ValueError(
                f"executor.options: the inline executor takes none, got {sorted(config.options)}"
            )
        for key in ("address", "resources"):
            if getattr(config, key) is not None:
                raise ValueError(
                    f"executor.{key}: only the ray backend takes it (executor.backend=ray)"
                )
        if config.max_concurrent not in (None, 1):
            raise ValueError(
                f"executor.max_concurrent: the inline executor runs 1 trial at a time, got "
                f"{config.max_concurrent}"
            )


class InlineExecutor(Executor):
    """Runs each trial in the driver's process, one at a time, when `wait` is called."""

    max_concurrent = 1

    def __init__(self, on_metrics: OnMetrics | None = None, **settings: Any) -> None:
        super().__init__(on_metrics)
        self._queue: list[TrialRequest] = []

    def submit(self, request: TrialRequest) -> int:
        self._queue.append(request)
        return request.number

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        if not self._queue:
            return []
        request = self._queue.pop(0)

        def report(step: int, metrics: dict[str, float]) -> None:
            self.on_metrics(request.number, step, metrics)

        return [TrialOutcome(request.number, run_trial(request.to_dict(), report))]

    @property
    def num_running(self) -> int:
        return len(self._queue)


# Backends by name; a class given as "module:Class" is imported when first used (Ray's is).
EXECUTORS: dict[str, str] = {
    "inline": "hybridlab.search.executor:InlineExecutor",
    "ray": "hybridlab.search.ray_executor:RayExecutor",
}


def executor_class(backend: str) -> type[Executor]:
    if backend not in EXECUTORS:
        raise ValueError(f"unknown executor {backend!r}; available: {', '.join(EXECUTORS)}")
    module, _, name = EXECUTORS[backend].partition(":")
    return getattr(importlib.import_module(module), name)


def make_executor(config: Any, on_metrics: OnMetrics, folder: Path | str) -> Executor:
    """The executor of an `ExecutorConfig` (backend, max_concurrent, address, resources,
    options) for the study in `folder`."""
    return executor_class(config.backend)(
        on_metrics,
        folder=folder,
        max_concurrent=config.max_concurrent,
        address=config.address,
        resources=config.resources,
        **config.options,
    )

"""Executors: where trials run. The study driver asks Optuna, submits, waits, tells.

The contract, so that backends slot in beside each other (inline, Ray):

- `submit(request: TrialRequest) -> int`: start (or queue) a trial; returns its number.
- `wait(timeout=None) -> list[TrialOutcome]`: block until at least one submitted trial has
  finished (or `timeout` seconds passed: then possibly none) and return the finished ones.
  While waiting, the executor calls `on_metrics(number, step, metrics)` **in the driver's
  thread** for intermediate metrics (the Ray executor drains a queue here), so trackers and the
  progress view never run in workers. When it returns True the trial is to stop early (the
  study's pruner): the executor ends it at its next report (or at once) and returns it as an
  outcome like any other (inline: the training result, cut short; Ray: `{"status":
  Status.STOPPED, "steps_done": <its last reported step>}`), and its slot is free for the next
  trial.
- `max_concurrent`: how many trials the driver keeps in flight.
- `check_config(config)` (a classmethod): raise `SettingError` naming the bad `executor.*`
  setting; called when the study file is validated, before anything starts.
- `shutdown()`: release workers; trials still running are abandoned (the driver marks them
  interrupted).

Everything that crosses the boundary is plain data: `TrialRequest.to_dict()` out
(`hybridlab.execution.requests`), the result dict of `hybridlab.execution.worker.run_trial` back
(its `"status"` a `hybridlab.results.Status`, its `"fault"` a `hybridlab.results.Fault`).

The contract, the `executor:` section that picks and configures a backend (`ExecutorConfig`)
and the backends by name share this module: each names the other (a backend checks the section,
the section asks its backend to check it). A backend is registered as "module:Class" and
imported when first used (Ray's takes seconds; the inline one imports torch), so choosing and
checking an executor imports neither Ray, torch nor the backend's module until then.
"""

from __future__ import annotations

import contextlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridlab.config import SettingError
from hybridlab.execution.requests import TrialRequest

# Returns True to stop the trial early (None or False: go on).
OnMetrics = Callable[[int, int, dict[str, float]], bool | None]


class ExecutorFailed(RuntimeError):
    """The executor itself stopped working (e.g. Ray Tune's loop died): the study cannot go on;
    finished trials are kept and running ones resume on the next run."""


@dataclass
class TrialOutcome:
    """A finished trial: its number and its result dict."""

    number: int
    result: dict[str, Any]


class Executor(ABC):
    """Runs trials; see the module docstring for the contract."""

    max_concurrent: int = 1

    def __init__(self, on_metrics: OnMetrics | None = None) -> None:
        self._listeners: list[OnMetrics] = [] if on_metrics is None else [on_metrics]

    def on_metrics(self, number: int, step: int, metrics: dict[str, float]) -> bool:
        """Pass a trial's intermediate metrics to every listener, in the order they were given
        (the callback given at construction first); True when one of them says stop."""
        stop = False
        for listener in list(self._listeners):
            stop = bool(listener(number, step, metrics)) or stop
        return stop

    @contextlib.contextmanager
    def listening(self, callback: OnMetrics) -> Iterator[None]:
        """Within the block, `callback` also hears every trial's metrics (after the listeners
        given before it). Callbacks are added and removed this way, never replaced."""
        self._listeners.append(callback)
        try:
            yield
        finally:
            self._listeners.remove(callback)

    @abstractmethod
    def submit(self, request: TrialRequest) -> int: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[TrialOutcome]: ...

    def shutdown(self) -> None:  # noqa: B027 (optional hook)
        """Release resources; the inline executor holds none."""

    @classmethod
    @abstractmethod
    def check_config(cls, config: ExecutorConfig) -> None:
        """Raise `SettingError` for `executor.*` settings this backend does not take (called
        before anything is created, so it must not start workers)."""


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


# Backends by name, as "module:Class", imported when first used.
EXECUTORS: dict[str, str] = {
    "inline": "hybridlab.execution.inline:InlineExecutor",
    "ray": "hybridlab.execution.ray_executor:RayExecutor",
}


def executor_class(backend: str) -> type[Executor]:
    """The backend registered as `backend`, imported now."""
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

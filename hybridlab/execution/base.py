"""Executors: where trials run. The study driver asks Optuna, submits, waits, tells.

The contract, so that backends slot in beside each other (inline, Ray):

- `submit(request: TrialRequest) -> int`: start (or queue) a trial; returns its number.
- `wait(timeout=None) -> list[TrialOutcome]`: block until at least one submitted trial has
  finished (or `timeout` seconds passed: then possibly none) and return the finished ones.
  While waiting, the executor calls `on_metrics(number, step, metrics)` **in the driver's
  thread** for intermediate metrics (the Ray executor drains a queue here), so trackers and the
  progress view never run in workers. When it returns True the trial is to stop early (the
  study's pruner): the executor ends it at its next report (or at once) and returns it as an
  outcome like any other (inline: the training result, cut short; Ray: `{"status": "stopped",
  "steps_done": <its last reported step>}`), and its slot is free for the next trial.
- `max_concurrent`: how many trials the driver keeps in flight.
- `check_config(config)` (a classmethod): raise `SettingError` naming the bad `executor.*`
  setting; called when the study file is validated, before anything starts.
- `shutdown()`: release workers; trials still running are abandoned (the driver marks them
  interrupted).

Everything that crosses the boundary is plain data: `TrialRequest.to_dict()` out, the result
dict of `hybridlab.execution.worker.run_trial` back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hybridlab.execution.worker import TrialRequest

if TYPE_CHECKING:
    from hybridlab.execution.config import ExecutorConfig

# The result status of a trial an executor ended early at the driver's request.
STOPPED = "stopped"
# Returns True to stop the trial early (None or False: go on).
OnMetrics = Callable[[int, int, dict[str, float]], bool | None]


class ExecutorFailed(RuntimeError):
    """The executor itself stopped working (e.g. Ray Tune's loop died): the study cannot go on;
    finished trials are kept and running ones resume on the next run."""


@dataclass
class TrialOutcome:
    number: int
    result: dict[str, Any]


class Executor(ABC):
    """Runs trials; see the module docstring for the contract."""

    max_concurrent: int = 1

    def __init__(self, on_metrics: OnMetrics | None = None) -> None:
        self.on_metrics: OnMetrics = on_metrics or (lambda number, step, metrics: False)

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

"""`executor: {backend: inline}`: trials run in the driver's process, one at a time."""

from __future__ import annotations

from typing import Any

from hybridlab.config import SettingError
from hybridlab.execution.base import Executor, ExecutorConfig, OnMetrics, TrialOutcome
from hybridlab.execution.requests import TrialRequest


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
        # Imported with the first trial: the training code brings torch.
        from hybridlab.execution.worker import run_trial
        from hybridlab.train import StopTraining

        request = self._queue.pop(0)

        def report(step: int, metrics: dict[str, float]) -> None:
            if self.on_metrics(request.number, step, metrics):
                raise StopTraining(f"stopped by the study at step {step}")

        return [TrialOutcome(request.number, run_trial(request.to_dict(), report))]

    @classmethod
    def check_config(cls, config: ExecutorConfig) -> None:
        if config.options:
            raise SettingError(
                f"executor.options: the inline executor takes none, got {sorted(config.options)}",
                key="executor.options",
            )
        for key in ("address", "resources"):
            if getattr(config, key) is not None:
                raise SettingError(
                    f"executor.{key}: only the ray backend takes it (executor.backend=ray)",
                    key=f"executor.{key}",
                )
        if config.max_concurrent not in (None, 1):
            raise SettingError(
                f"executor.max_concurrent: the inline executor runs 1 trial at a time, got "
                f"{config.max_concurrent}",
                key="executor.max_concurrent",
            )

"""Who hears of a validation: the tracker interface, the fan-out, the backends by name.

The validation calls, in its own process and thread only:

    start(info)                         once per invocation (info: study name and folder, the
                                        fingerprint and the fidelity as given and resolved,
                                        the measured objectives' labels)
    run_started(run)                    a re-training was submitted (`Retraining`)
    log_metrics(key, step, metrics)     its intermediate training metrics
    run_finished(run)                   it ended (values, or the failure reason)
    recover_run(run)                    on every start, for each run the study has recorded:
                                        record it if this tracker missed it
    end(summary, interrupted=...)       once, also after an error or Ctrl-C

A re-training is not a trial: it never enters the study's Pareto front, its tags, or its view.
`tracking: mlflow` logs to `hybridlab.validation.mlflow_log`, `none` to nothing
(`hybridlab.validation.backends`).
"""

from __future__ import annotations

from collections.abc import Sequence

from hybridlab.validation.records import Retraining, ValidationStart, ValidationSummary


class ValidationTracker:
    """The interface, and the no-op tracker (`tracking: none`)."""

    def start(self, info: ValidationStart) -> None:
        pass

    def run_started(self, run: Retraining) -> None:
        pass

    def log_metrics(self, key: str, step: int, metrics: dict[str, float]) -> None:
        pass

    def run_finished(self, run: Retraining) -> None:
        pass

    def recover_run(self, run: Retraining) -> None:
        """A run the study has recorded, sent for each on every start: record it if missed."""

    def end(self, summary: ValidationSummary | None, *, interrupted: bool = False) -> None:
        pass


class ValidationTrackers(ValidationTracker):
    """Fans every call out to several validation trackers, in order."""

    def __init__(self, trackers: Sequence[ValidationTracker]) -> None:
        self.trackers = list(trackers)

    def start(self, info: ValidationStart) -> None:
        for t in self.trackers:
            t.start(info)

    def run_started(self, run: Retraining) -> None:
        for t in self.trackers:
            t.run_started(run)

    def log_metrics(self, key: str, step: int, metrics: dict[str, float]) -> None:
        for t in self.trackers:
            t.log_metrics(key, step, metrics)

    def run_finished(self, run: Retraining) -> None:
        for t in self.trackers:
            t.run_finished(run)

    def recover_run(self, run: Retraining) -> None:
        for t in self.trackers:
            t.recover_run(run)

    def end(self, summary: ValidationSummary | None, *, interrupted: bool = False) -> None:
        for t in self.trackers:
            t.end(summary, interrupted=interrupted)

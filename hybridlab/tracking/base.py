"""The tracker interface the study runner reports to, and its no-op implementation.

The runner calls, in the driver process only:

    start_study(info)                      once per invocation (info: name, folder, objectives,
                                           directions, storage, the resolved settings)
    log_trial_started(trial)               a trial was submitted (number, params, stack, pattern)
    log_metrics(number, step, metrics)     intermediate training metrics of a running trial
    log_trial_finished(record)             complete, failed, infeasible or interrupted
    recover_trial(record)                  on every start, for each finished trial of the study:
                                           record it if this tracker missed it
    update_front(front, hypervolume)       after every completed trial: the whole front
                                           (`FrontPoint`s), so Pareto tags can be kept true
    end_study(summary)                     once, also after an error or Ctrl-C

`TrialRecord` and `FrontPoint` are plain data. The MLflow tracker
(`hybridlab.tracking.mlflow_tracker`, `tracking: mlflow`) implements the same methods and is
registered in `TRACKERS`, imported only when used; the live progress view of `hybridlab study run`
is a tracker too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybridlab.search.pareto import FrontPoint

COMPLETE, FAILED, INFEASIBLE, INTERRUPTED = "complete", "failed", "infeasible", "interrupted"


@dataclass
class TrialRecord:
    """What became of one trial.

    Attributes:
        number: Optuna's trial number.
        outcome: complete, failed (training failed or raised), infeasible (never trained) or
            interrupted (the driver died or was stopped while it ran; it is re-enqueued).
        values: objective label → value (complete trials only).
        params: the sampled knobs (Optuna's params).
        stack, pattern: the canonical spec ("" when the sample could not be built).
        reason: why it failed or was infeasible.
        result: the training result dict (`TrainResult.to_dict()` without history), if trained;
            on Ray it has `worker` (node id and ip, hostname, pid).
        hypervolume: the study's hypervolume after this trial.
        fault: why a failed trial failed when that was a fault, not a result (an exception, out
            of memory, its worker or node lost).
        retried: the trial failed from a fault and runs again as a new trial.
    """

    number: int
    outcome: str
    values: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    stack: str = ""
    pattern: str = ""
    reason: str | None = None
    result: dict[str, Any] | None = None
    hypervolume: float | None = None
    fault: str | None = None
    retried: bool = False


class Tracker:
    """The interface, and the no-op tracker (`tracking.backend: none`)."""

    def start_study(self, info: dict[str, Any]) -> None:
        pass

    def log_trial_started(self, trial: TrialRecord) -> None:
        pass

    def log_metrics(self, number: int, step: int, metrics: dict[str, float]) -> None:
        pass

    def log_trial_finished(self, record: TrialRecord) -> None:
        pass

    def recover_trial(self, record: TrialRecord) -> None:
        """A finished trial as the study has it, sent for every finished trial when a study
        (re)starts: a tracker records the ones it missed (the driver died between Optuna's tell
        and the tracker's log, or the tracker was switched on later) and ignores the rest."""

    def update_front(self, front: Sequence[FrontPoint], hypervolume: float | None) -> None:
        pass

    def end_study(self, summary: dict[str, Any]) -> None:
        pass


NullTracker = Tracker


class Trackers(Tracker):
    """Fans every call out to several trackers, in order."""

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.trackers = list(trackers)

    def start_study(self, info):
        for t in self.trackers:
            t.start_study(info)

    def log_trial_started(self, trial):
        for t in self.trackers:
            t.log_trial_started(trial)

    def log_metrics(self, number, step, metrics):
        for t in self.trackers:
            t.log_metrics(number, step, metrics)

    def log_trial_finished(self, record):
        for t in self.trackers:
            t.log_trial_finished(record)

    def recover_trial(self, record):
        for t in self.trackers:
            t.recover_trial(record)

    def update_front(self, front, hypervolume):
        for t in self.trackers:
            t.update_front(front, hypervolume)

    def end_study(self, summary):
        for t in self.trackers:
            t.end_study(summary)


def _mlflow_tracker(uri: str | None, options: dict[str, Any]) -> Tracker:
    # Imported here: `import hybridlab.search` must not import MLflow (STYLE.md 9).
    from hybridlab.tracking.mlflow_tracker import MLflowTracker

    return MLflowTracker(uri=uri, **options)


def _null_tracker(uri: str | None, options: dict[str, Any]) -> Tracker:
    if options:
        raise ValueError(f"tracking backend 'none' takes no options, got {sorted(options)}")
    return NullTracker()


# backend name → factory(uri, options); a factory imports its backend's library when called.
TRACKERS: dict[str, Callable[[str | None, dict[str, Any]], Tracker]] = {
    "none": _null_tracker,
    "mlflow": _mlflow_tracker,
}


def make_tracker(backend: str, options: dict[str, Any], uri: str | None = None) -> Tracker:
    if backend not in TRACKERS:
        raise ValueError(f"unknown tracking backend {backend!r}; available: {', '.join(TRACKERS)}")
    return TRACKERS[backend](uri, options)

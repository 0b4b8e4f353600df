"""The tracker interface the study driver reports to, its no-op implementation and the registry.

The driver calls, in its own process and thread only:

    start_study(start)                     once per invocation (`StudyStart`: name, folder,
                                           storage, objectives and directions, the resolved
                                           settings, trials held before)
    log_trial_started(trial)               a trial was submitted (number, params, stack, pattern)
    log_metrics(number, step, metrics)     intermediate training metrics of a running trial
    log_trial_finished(record)             complete, failed, infeasible or interrupted
    recover_trial(record)                  on every start, for each finished trial of the study:
                                           record it if this tracker missed it
    update_front(update)                   after every completed trial: the whole front and every
                                           complete trial's rank (`FrontUpdate`), so Pareto tags
                                           can be kept true
    end_study(end)                         once, also after an error or Ctrl-C (`StudyEnd`:
                                           counts, front size, hypervolume, what stopped it)

Everything passed is plain data (`hybridlab.tracking.records`). Backends are registered in
`hybridlab.tracking.config.TRACKERS` by name and import their library only when built: MLflow's
(`hybridlab.tracking.mlflow_tracker`, `tracking: mlflow`); the live progress view of
`hybridlab study run` is a tracker too.
"""

from __future__ import annotations

from collections.abc import Sequence

from hybridlab.tracking.records import FrontUpdate, StudyEnd, StudyStart, TrialRecord


class Tracker:
    """The interface, and the no-op tracker (`tracking.backend: none`)."""

    def start_study(self, start: StudyStart) -> None:
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

    def update_front(self, update: FrontUpdate) -> None:
        pass

    def end_study(self, end: StudyEnd) -> None:
        pass


class Trackers(Tracker):
    """Fans every call out to several trackers, in order."""

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.trackers = list(trackers)

    def start_study(self, start: StudyStart) -> None:
        for t in self.trackers:
            t.start_study(start)

    def log_trial_started(self, trial: TrialRecord) -> None:
        for t in self.trackers:
            t.log_trial_started(trial)

    def log_metrics(self, number: int, step: int, metrics: dict[str, float]) -> None:
        for t in self.trackers:
            t.log_metrics(number, step, metrics)

    def log_trial_finished(self, record: TrialRecord) -> None:
        for t in self.trackers:
            t.log_trial_finished(record)

    def recover_trial(self, record: TrialRecord) -> None:
        for t in self.trackers:
            t.recover_trial(record)

    def update_front(self, update: FrontUpdate) -> None:
        for t in self.trackers:
            t.update_front(update)

    def end_study(self, end: StudyEnd) -> None:
        for t in self.trackers:
            t.end_study(end)

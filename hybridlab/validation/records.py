"""What a validation at a higher fidelity (`hybridlab study validate`) reports, and to whom.

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
`tracking: mlflow` logs to `hybridlab.tracking.mlflow_validation`, `none` to nothing
(`hybridlab.tracking.validation_backends`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PROXY, SCALED = "proxy", "scaled"


@dataclass
class Retraining:
    """One trial trained again at one fidelity under one seed.

    Attributes:
        key: "<trial number>/<fidelity>/<seed>", unique in a validation.
        number: the trial's number.
        fidelity: `PROXY` (the study's settings, another seed) or `SCALED`.
        seed: the training seed.
        stack: the canonical stack; d_model: its width at this fidelity.
        values: measured objective label → value once it ended well; None before or on failure.
        reason: why it failed.
    """

    key: str
    number: int
    fidelity: str
    seed: int
    stack: str
    d_model: int
    values: dict[str, float] | None = None
    reason: str | None = None


@dataclass
class ProxyScaled:
    """One trial's measured objectives at both fidelities: label → (mean, std, runs)."""

    number: int
    on_front: bool
    proxy: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)
    scaled: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)


@dataclass
class ValidationSummary:
    """What a validation ends with.

    Attributes:
        labels: the measured objectives compared.
        metrics: `kendall_tau/<label>`, `spearman/<label>`, `front_retention`, ... (finite only).
        points: every selected trial at both fidelities, for the proxy-against-scaled figure.
        report: the whole report as plain JSON data (`hybridlab study validate --json`).
    """

    labels: list[str]
    metrics: dict[str, float]
    points: list[ProxyScaled]
    report: dict[str, Any]


class ValidationTracker:
    """The interface, and the no-op tracker (`tracking: none`)."""

    def start(self, info: dict[str, Any]) -> None:
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

    def start(self, info: dict[str, Any]) -> None:
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

"""What trackers receive: the study's start and end, trial records, outcomes, the front. Plain
data, no library types.

`Outcome` names what became of a trial everywhere (Optuna's user attrs, MLflow's `outcome` tag,
the live view); it is a `StrEnum`, so it is stored and compared as its string.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridlab.results import Fault


@dataclass(frozen=True, kw_only=True)
class StudyStart:
    """A study starting (or resuming) in this invocation: `Tracker.start_study`'s argument.

    Attributes:
        name: the study's name (MLflow's experiment and parent run are named after it).
        folder: the study folder (the default MLflow store and artifacts live in it).
        storage: where Optuna keeps the study, as shown to the user (no password).
        labels: the objectives' labels, in order; `directions`: "minimize" or "maximize" each.
        settings: the resolved study file, as nested plain data (`StudyPlan.summary()`).
        resumed_trials: trials the study held before this invocation (0 for a new study).
        trained_before: of those, the ones trained (complete, failed or pruned, retries not
            counted).
    """

    name: str
    folder: Path
    storage: str
    labels: list[str]
    directions: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    resumed_trials: int = 0
    trained_before: int = 0


@dataclass(frozen=True, kw_only=True)
class StudyEnd:
    """How this invocation of a study ended: `Tracker.end_study`'s argument, sent also after an
    error or an interrupt.

    Attributes:
        trained: trials trained in the whole study (complete, failed or pruned; a retried
            failure counts once, as its retry).
        complete, failed, infeasible, pruned, retried: this invocation's trials by what became
            of them (`retried`: failures from a fault, run again).
        front_size: complete trials on the front; `hypervolume`: the study's, None before a
            trial completed.
        wall_time_s: this invocation's wall time.
        stopped_by: what ended it ("trials", "wall_time", "grid"); "" when it was interrupted
            or failed.
    """

    trained: int
    complete: int
    failed: int
    infeasible: int
    pruned: int
    retried: int
    front_size: int
    hypervolume: float | None
    wall_time_s: float
    stopped_by: str


class Outcome(enum.StrEnum):
    """What became of a trial."""

    # Submitted and not finished (the live view and MLflow's open run; never stored).
    RUNNING = "running"
    COMPLETE = "complete"
    # Training failed (non-finite loss, out of memory) or raised; faults are retried.
    FAILED = "failed"
    # The sampled architecture broke a constraint or a shape rule: never trained.
    INFEASIBLE = "infeasible"
    # The driver died or was stopped while it ran: re-enqueued on the next run.
    INTERRUPTED = "interrupted"
    # Stopped early by the study's pruner at a rung (`hybridlab.study.pruning`): never on the
    # front; `pruned_at_step` says where.
    PRUNED = "pruned"


@dataclass
class TrialRecord:
    """What became of one trial.

    Attributes:
        number: Optuna's trial number.
        outcome: see `Outcome`.
        values: objective label → value (complete trials only).
        params: the sampled knobs (Optuna's params).
        stack, pattern: the canonical spec ("" when the sample could not be built).
        reason: why it failed or was infeasible.
        result: the training result dict (`TrainResult.to_dict()` without history), if trained;
            on Ray it has `worker` (node id and ip, hostname, pid).
        hypervolume: the study's hypervolume after this trial.
        fault: why a failed trial failed when that was a fault, not a result (an exception, out
            of memory, its worker or node lost); a string given is read into a `Fault`.
        retried: the trial failed from a fault and runs again as a new trial.
        pruned_at_step: the rung at which the pruner stopped it (pruned trials only).
    """

    number: int
    outcome: Outcome
    values: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    stack: str = ""
    pattern: str = ""
    reason: str | None = None
    result: dict[str, Any] | None = None
    hypervolume: float | None = None
    fault: Fault | None = None
    retried: bool = False
    pruned_at_step: int | None = None

    def __post_init__(self) -> None:
        if self.fault is not None:
            self.fault = Fault(self.fault)


@dataclass
class FrontPoint:
    """One trial of the front, as the CLI and trackers show it."""

    number: int
    values: dict[str, float]
    params: dict[str, Any]
    stack: str
    pattern: str
    spec: dict[str, Any] = field(default_factory=dict)
    # The trial whose result this one reused (the same architecture and settings), if any.
    duplicate_of: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "values": self.values,
            "params": self.params,
            "stack": self.stack,
            "pattern": self.pattern,
        }


@dataclass
class FrontUpdate:
    """The study's front after a trial completed (or when a study resumes).

    Attributes:
        front: the non-dominated complete trials, by trial number.
        ranks: every complete trial's non-dominated sorting rank (1 = on the front).
        hypervolume: the study's hypervolume, None before a trial completed.
    """

    front: list[FrontPoint]
    ranks: Mapping[int, int]
    hypervolume: float | None
    # Seed noise of front trials trained again under more seeds (`budget.front_seeds`):
    # number → objective label → (mean, standard deviation, runs); and number → the front
    # trial it is within noise of (as good in every exact cost, within noise in the rest).
    spread: Mapping[int, Mapping[str, tuple[float, float, int]]] = field(default_factory=dict)
    within_noise_of: Mapping[int, int] = field(default_factory=dict)

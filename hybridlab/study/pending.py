"""A trial the driver has asked and not yet told: what the loop and its helpers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridlab.spec import ModelSpec
from hybridlab.tracking import TrialRecord


@dataclass
class Pending:
    """A trial submitted and not yet told.

    Attributes:
        trial: the Optuna trial.
        record: what the trackers hear of it.
        spec: its architecture.
        pruned_at: the rung at which the pruner stopped it (None: not stopped).
        tokens_per_s: the last training throughput it reported (a rung's speed objective).
    """

    trial: Any
    record: TrialRecord
    spec: ModelSpec
    pruned_at: int | None = None
    tokens_per_s: float | None = None

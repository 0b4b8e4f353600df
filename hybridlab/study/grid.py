"""`sampler: grid` for the study driver (imported when a grid study starts: it needs Optuna).

Optuna's `GridSampler` records the grid point it gave a trial in the trial's system attribute
`grid_id` (0 .. number of points − 1). That is the one undocumented Optuna behaviour hybridlab
relies on; it is read here only, and `optuna<6` in pyproject.toml bounds it (tested by
tests/study/test_driver.py's grid study).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

GRID_ID = "grid_id"


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler for an ask/tell driver with trials in flight.

    Optuna's calls `study.stop()` once the grid is done, which raises outside `study.optimize`,
    and counts a point as visited only once its trial finished, so a driver asking while trials
    run would get running points again. Here the driver stops asking when `is_exhausted`: every
    point has a trial started (running or finished) and no re-enqueued trial is waiting.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        super().__init__(search_space, seed=seed)
        self.num_points = math.prod(len(values) for values in search_space.values())

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        pass

    def is_exhausted(self, study: Any) -> bool:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return False
        started = {t.system_attrs.get(GRID_ID) for t in trials}
        return started >= set(range(self.num_points))

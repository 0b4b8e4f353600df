"""`sampler: grid` for the study driver (imported when a grid study starts: it needs Optuna).

Optuna's `GridSampler` records the grid point it gave a trial in the trial's system attribute
`grid_id` (0 .. number of points − 1), and reads it back in `sample_independent`. hybridlab
chooses that point itself (`before_trial`) and relies on Optuna reading it: the one undocumented
Optuna behaviour it relies on, used here only and bounded by `optuna<6` in pyproject.toml
(tested by tests/study/test_driver.py's grid studies and tests/study/test_grid_crash.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from hybridlab.study.attrs import TrialAttr

GRID_ID = "grid_id"
RETRY_OF = TrialAttr.RETRY_OF


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler for an ask/tell driver with trials in flight, and crashes.

    Optuna's calls `study.stop()` once the grid is done, which raises outside `study.optimize`,
    and counts a point as visited only once its trial finished, so a driver asking while trials
    run would get running points again. Here the driver stops asking when `is_exhausted`: every
    point has a trial started (running or finished) and no re-enqueued trial is waiting.

    Which point a trial gets is decided here, so that every point is trained once whatever
    happened before: Optuna gives trial n the point n among the first trials, whether or not an
    earlier trial (a retry, an interrupted run) took it, and gives a re-enqueued trial none at
    all. A retry (`retry_of`: of a trial interrupted by a crash, or failed from a fault) takes the
    point of the trial it repeats; any other trial the lowest point no trial has taken yet.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        super().__init__(search_space, seed=seed)
        self.num_points = math.prod(len(values) for values in search_space.values())

    def before_trial(self, study: Any, trial: Any) -> None:
        if GRID_ID in trial.system_attrs:
            return
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        repeated = trial.user_attrs.get(RETRY_OF)
        if repeated is not None:
            original = next((t for t in trials if t.number == repeated), None)
            grid_id = None if original is None else original.system_attrs.get(GRID_ID)
        else:
            taken = {t.system_attrs.get(GRID_ID) for t in trials}
            free = [i for i in range(self.num_points) if i not in taken]
            grid_id = free[0] if free else None
        if grid_id is None:
            # A trial enqueued by hand (its params fixed), or a grid every point of which has a
            # trial: Optuna's own choice.
            super().before_trial(study, trial)
            return
        study._storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
        study._storage.set_trial_system_attr(trial._trial_id, GRID_ID, grid_id)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        pass

    def is_exhausted(self, study: Any) -> bool:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return False
        started = {t.system_attrs.get(GRID_ID) for t in trials}
        return started >= set(range(self.num_points))

"""`sampler: grid` for the study driver (imported when a grid study starts: it needs Optuna)."""

from __future__ import annotations

from typing import Any

import optuna


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler for an ask/tell driver with trials in flight.

    Optuna's calls `study.stop()` once the grid is done, which raises outside `study.optimize`,
    and counts a point as visited only once its trial finished, so a driver asking while trials
    run would get running points again. Here the driver stops asking when `is_exhausted`: every
    point has a trial started (running or finished) and no re-enqueued trial is waiting.
    """

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        pass

    def is_exhausted(self, study: Any) -> bool:
        from optuna.trial import TrialState

        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return False
        started = {t.system_attrs.get("grid_id") for t in trials}
        return started >= set(range(self._n_min_trials))

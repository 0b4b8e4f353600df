"""Retries: a trial that failed from a fault runs again as a new trial.

A fault (the result's `fault`: an exception, out of memory, a worker or node lost) says nothing
about the architecture, so its params are enqueued again, asked next, up to `executor.retries`
times. The failed attempt keeps its reason and gets user attr `retried=True` (it no longer
counts against the budget); the new one has `retry_of` and `attempt`.
"""

from __future__ import annotations

from typing import Any

from hybridlab.study.attrs import TrialAttr


def retry(study: Any, trial: Any, retries: int) -> bool:
    """Enqueue a faulted trial's params as a new trial while attempts remain; whether it was."""
    attempt = int(trial.user_attrs.get(TrialAttr.ATTEMPT, 1))
    if attempt > retries:
        return False
    trial.set_user_attr(TrialAttr.RETRIED, True)
    study.enqueue_trial(
        dict(trial.params),
        user_attrs={TrialAttr.RETRY_OF: trial.number, TrialAttr.ATTEMPT: attempt + 1},
    )
    return True

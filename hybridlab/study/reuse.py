"""Reuse of repeated trials: the same architecture, task and training settings train once.

Training is deterministic, so a trial whose request equals one that completed before takes that
result (user attr `duplicate_of`), and one whose request is training now waits for it without
holding an executor slot. Requests are compared by `request_key`, a digest of what determines a
result (spec, task and training settings), stored on each trial as `request_key`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hybridlab.execution import TrialRequest
from hybridlab.study.attrs import KEPT_RESULT, TrialAttr


def request_key(request: TrialRequest) -> str:
    """A digest of what determines a trial's result: spec, task and training settings."""
    payload = {"spec": request.spec, "task": request.task, "train": request.train}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def kept_result(trial: Any) -> dict[str, Any]:
    """The result a finished trial keeps in its user attrs (what a repeat of it reuses)."""
    return {k: trial.user_attrs[k] for k in KEPT_RESULT if k in trial.user_attrs}


def trained_before(study: Any, key: str) -> Any:
    """The complete trial whose request had `key`, or None."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get(TrialAttr.REQUEST_KEY) == key:
            return t
    return None


class Twins:
    """Requests training now (key → the trial training it), and the trials waiting for each
    one's result (its followers)."""

    def __init__(self) -> None:
        self.training: dict[str, int] = {}
        self.followers: dict[int, list[int]] = {}

    def leader(self, key: str) -> int | None:
        """The trial training `key` now, if one is."""
        return self.training.get(key)

    def lead(self, key: str, number: int) -> None:
        """Trial `number` trains `key`."""
        self.training[key] = number

    def follow(self, leader: int, number: int) -> None:
        """Trial `number` waits for `leader`'s result."""
        self.followers.setdefault(leader, []).append(number)

    def finish(self, key: str, number: int) -> list[int]:
        """Trial `number` (training `key`, or a follower) ended: its followers, to be told."""
        if self.training.get(key) == number:
            del self.training[key]
        return self.followers.pop(number, [])

    @property
    def waiting(self) -> int:
        """Trials waiting for a twin (they hold no executor slot)."""
        return sum(len(numbers) for numbers in self.followers.values())

    def clear(self) -> None:
        self.training.clear()
        self.followers.clear()

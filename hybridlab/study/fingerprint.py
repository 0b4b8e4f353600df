"""What a trial measures depends on: the study's measuring settings, fixed when it is created.

A study's trials are comparable only if they were measured alike: on the same task, with the
same training settings, by the same objectives. Those settings (`measuring_settings`) are
stored with the study when it is created (the user attribute of `StudyAttr.SETTINGS`, with its
digest `StudyAttr.FINGERPRINT`); a run, a resume or a validation with other ones is refused,
naming each setting that differs, rather than adding trials measured another way to the same
front. The budget, the sampler, the executor, the pruner, the output and the tracker change how
a study runs, not what a trial measures; so do `NOT_MEASURING` training settings.

Example:
    >>> differences({"train": {"steps": 4}}, {"train": {"steps": 12}})
    ['train.steps is 4 in the study, 12 here']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hybridlab.config import StudyConfigError
from hybridlab.study.attrs import StudyAttr
from hybridlab.train import TrainConfig

if TYPE_CHECKING:
    from hybridlab.study.config import StudyPlan

# Training settings that change how fast a run goes or what it keeps, not what it measures.
NOT_MEASURING = ("num_threads", "keep_weights")
# Objective fields that do not change a value (the reference only scales the hypervolume, and
# is fixed when the study is created).
_OBJECTIVE_IGNORED = ("ref",)


def measuring_settings(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a `StudyPlan.summary()` that determines what a trial measures, as JSON data."""
    data = json.loads(json.dumps(summary, default=str))
    train = {k: v for k, v in data.get("train", {}).items() if k not in NOT_MEASURING}
    objectives = [
        {k: v for k, v in o.items() if k not in _OBJECTIVE_IGNORED}
        for o in data.get("objectives", [])
    ]
    return {"task": data.get("task", {}), "train": train, "objectives": objectives}


def fingerprint(settings: Mapping[str, Any]) -> str:
    """12 hex digits of `measuring_settings(...)`."""
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def differences(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """Each setting of `after` that differs from `before`, as "key is X in the study, Y here".

    A key `before` lacks is a setting added to hybridlab after the study was created: it
    differs only when `after` gives it a value other than its default (`defaults[section]`;
    a section without defaults: never), since a new setting's default keeps the old behaviour.
    """
    out = []
    defaults = defaults or {}
    for section in sorted(set(before) | set(after)):
        old, new = before.get(section), after.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            known = defaults.get(section)
            for key in sorted(set(old) | set(new)):
                if key not in old:
                    if known is None or key not in known or new.get(key) == known[key]:
                        continue
                    out.append(f"{section}.{key} is not set in the study, {new.get(key)!r} here")
                    continue
                if old.get(key) != new.get(key):
                    out.append(
                        f"{section}.{key} is {old.get(key)!r} in the study, {new.get(key)!r} here"
                    )
        elif old != new:
            out.append(f"{section} is {old!r} in the study, {new!r} here")
    return out


def _train_defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = json.loads(
        json.dumps(dataclasses.asdict(TrainConfig()), default=str)
    )
    return defaults


def record_settings(study: Any, plan: StudyPlan) -> None:
    """Store the plan's settings and the fingerprint of its measuring ones (at creation)."""
    study.set_user_attr(StudyAttr.SETTINGS, plan.summary())
    study.set_user_attr(StudyAttr.FINGERPRINT, fingerprint(measuring_settings(plan.summary())))


def check_same_settings(study: Any, plan: StudyPlan) -> None:
    """Raise `StudyConfigError` when the study was created with other measuring settings than
    `plan`'s, naming each and how to start a separate study instead."""
    stored = study.user_attrs.get(StudyAttr.SETTINGS)
    if not stored:
        return
    now = measuring_settings(plan.summary())
    if study.user_attrs.get(StudyAttr.FINGERPRINT) == fingerprint(now):
        return
    found = differences(measuring_settings(stored), now, {"train": _train_defaults()})
    if not found:
        return
    shown = "; ".join(found[:4]) + (f"; and {len(found) - 4} more" if len(found) > 4 else "")
    raise StudyConfigError(
        f"study {plan.name!r} was created with other settings that change what a trial "
        f"measures ({shown}): its trials would not compare with new ones. Run it with the "
        f"settings it was created with, or start a separate study under another `name` or "
        f"`output` (e.g. output=runs/{plan.name}-2)",
        where=plan.source,
    )

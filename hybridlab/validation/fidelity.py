"""The higher fidelity of a validation (`hybridlab study validate`): overrides of the study's
training, task and model width, checked before anything runs.

    train.steps=4x        four times the study's value (any number: 1.5x, 0.5x)
    task.seq_len=2x       the task's sequences twice as long
    task.num_kv_pairs=2x  twice the key-value pairs (MQAR)
    model.d_model=2x      each trial's d_model doubled; its stack's arguments are kept, so what
                          derives from d_model (SSD heads, attention head size, MLP width
                          `auto`) follows it
    train.lr=1e-3         a plain value, as in a study override

A multiplier scales the study's value (with the study's own overrides applied); an integer
setting must come out whole. `train.*` and `task.*` overrides are applied to the study file as
overrides and the whole study is validated again (`load_plan`), so a task that cannot work at the
new size (MQAR needs 4·num_kv_pairs ≤ seq_len) is refused before anything runs, with the override
named. `model.d_model` is applied per trial (`Fidelity.scale_spec`): an architecture that cannot
be built at the new width is reported for that trial, not as an error of the whole validation.

The fingerprint of a fidelity digests what determines a scaled run (task, training settings
except `num_threads`, the d_model rule), so validations at different fidelities are kept apart
and the same fidelity written another way (`train.steps=4x` or `train.steps=3200`) is the same.

Example:
    >>> plan = load_plan("studies/quickstart.yaml")
    >>> fidelity = resolve_fidelity("studies/quickstart.yaml", [], ["train.steps=2x"], plan)
    >>> fidelity.plan.train.steps, fidelity.resolved
    (1600, {'train.steps': 1600})
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridlab.config import StudyConfigError
from hybridlab.spec import ModelSpec, SpecError, parse
from hybridlab.study.config import StudyPlan, load_plan

# The sections a fidelity override may name.
SECTIONS = ("train", "task", "model")
# Model-wide settings a fidelity may change (per trial).
MODEL_KEYS = ("d_model",)
_MULTIPLIER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*[xX×]")
# What was meant as one and is not: "-2x", "1e3x", "2.5.1x".
_NEAR_MULTIPLIER = re.compile(r"[-+\d.eE]+\s*[xX×]")
# Training settings that change how fast a run goes, not what it measures.
NOT_DETERMINING = ("num_threads",)


@dataclass(frozen=True)
class FidelityOverride:
    """One `key=value` as given; `factor` for a multiplier (`2x` → 2.0), else None."""

    key: str
    raw: str
    factor: float | None

    @property
    def text(self) -> str:
        return f"{self.key}={self.raw}"


@dataclass
class Fidelity:
    """A validated fidelity.

    Attributes:
        overrides: as given, in order.
        plan: the study at this fidelity (task, training settings, objectives: an analytic
            objective whose `context` follows the task's sequence length follows it here too).
        d_model: the d_model rule, or None to keep each trial's.
        resolved: every `train.*`/`task.*` override as the value it set (JSON data).
    """

    overrides: list[FidelityOverride]
    plan: StudyPlan
    d_model: FidelityOverride | None
    resolved: dict[str, Any]

    def as_given(self) -> dict[str, str]:
        """`{key: value as written}`, e.g. `{"train.steps": "4x"}`."""
        return {o.key: o.raw for o in self.overrides}

    def settings(self) -> dict[str, Any]:
        """What determines a scaled run, as plain data (task, train, the d_model rule)."""
        summary = json.loads(json.dumps(self.plan.summary(), default=str))
        train = {k: v for k, v in summary["train"].items() if k not in NOT_DETERMINING}
        model = {"d_model": self.d_model.raw} if self.d_model is not None else {}
        return {"task": summary["task"], "train": train, "model": model}

    @property
    def fingerprint(self) -> str:
        """12 hex digits of `settings()`."""
        text = json.dumps(self.settings(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def scale_spec(self, spec: dict[str, Any]) -> ModelSpec:
        """A trial's spec (`ModelSpec.to_dict()`) at this fidelity: its d_model by the rule,
        its vocabulary the task's at this fidelity.

        Raises:
            ValueError: with the reason it cannot be built (e.g. a head size that no longer
                divides), to be reported for this trial.
        """
        rule = self.d_model
        d_model = int(spec["d_model"])
        if rule is not None:
            width = d_model * rule.factor if rule.factor is not None else float(rule.raw)
            if not float(width).is_integer() or width < 1:
                raise ValueError(f"d_model {d_model} × {rule.raw} = {width:g} is no whole width")
            d_model = int(width)
        try:
            return parse(spec, d_model=d_model, vocab_size=self.plan.task.vocab_size)
        except SpecError as err:
            raise ValueError(f"cannot be built at d_model={d_model}: {err}") from None


def is_multiplier(value: str) -> bool:
    """Whether `value` is written as a multiplier (`4x`, `1.5x`)."""
    return _MULTIPLIER.fullmatch(value.strip()) is not None


def parse_override(item: str) -> FidelityOverride:
    """`key=value` → a `FidelityOverride`; raise `StudyConfigError` for a malformed one."""
    key, sep, raw = item.partition("=")
    key, raw = key.strip(), raw.strip()
    where = f"--fidelity {item!r}"
    if not sep or not key or not raw:
        raise StudyConfigError(
            "expected key=value, e.g. train.steps=4x or model.d_model=2x", where=where
        )
    section, _, name = key.partition(".")
    if section not in SECTIONS or not name:
        raise StudyConfigError(
            f"a fidelity sets train.<setting>, task.<setting> or model.d_model, got {key!r}",
            where=where,
        )
    if section == "model" and name not in MODEL_KEYS:
        raise StudyConfigError(
            f"of the model only {', '.join(MODEL_KEYS)} can change (the stack is the trial's)",
            where=where,
        )
    if section == "task" and name == "name":
        raise StudyConfigError(
            "a validation keeps the study's task; scale its settings", where=where
        )
    factor = None
    match = _MULTIPLIER.fullmatch(raw)
    if match:
        factor = float(match.group(1))
        if not factor > 0 or not math.isfinite(factor):
            raise StudyConfigError(f"a multiplier must be > 0, got {raw!r}", where=where)
    elif _NEAR_MULTIPLIER.fullmatch(raw):
        raise StudyConfigError(
            f"not a multiplier: {raw!r}; write a positive number and x, e.g. 4x or 1.5x",
            where=where,
        )
    return FidelityOverride(key, raw, factor)


def resolve_fidelity(
    path: Path | str, study_overrides: list[str], items: list[str], plan: StudyPlan
) -> Fidelity:
    """The fidelity of `items` over the study at `path` (with `study_overrides`, which gave
    `plan`); raise `StudyConfigError` naming the override that cannot work. Creates nothing."""
    if not items:
        raise StudyConfigError(
            "give the higher fidelity, e.g. --fidelity train.steps=4x --fidelity model.d_model=2x",
            where="--fidelity",
        )
    overrides = [parse_override(item) for item in items]
    seen: set[str] = set()
    for override in overrides:
        if override.key in seen:
            raise StudyConfigError(
                f"{override.key} is given twice", where=f"--fidelity {override.text!r}"
            )
        seen.add(override.key)
    d_model: FidelityOverride | None = None
    resolved: dict[str, Any] = {}
    given: dict[str, str] = {}
    for override in overrides:
        if override.key.startswith("model."):
            d_model = override
            if override.factor is None:
                _plain_width(override)
            continue
        value = _resolve(override, plan)
        given[f"{override.key}={_dotlist(value)}"] = override.text
    try:
        scaled = load_plan(path, [*study_overrides, *given])
    except StudyConfigError as err:
        for text, original in given.items():
            if err.where == f"override {text!r}":
                resolved_text = "" if text == original else f" (= {text.partition('=')[2]})"
                where = f"--fidelity {original!r}{resolved_text}"
                raise StudyConfigError(err.message, where=where, key=err.key) from None
        raise StudyConfigError(f"at this fidelity: {err}", where="--fidelity") from None
    for override in overrides:
        section, _, name = override.key.partition(".")
        if section != "model":
            config = scaled.train if section == "train" else scaled.task.config
            value = getattr(config, name.partition(".")[0])
            resolved[override.key] = json.loads(json.dumps(value, default=str))
    return Fidelity(overrides=overrides, plan=scaled, d_model=d_model, resolved=resolved)


def _resolve(override: FidelityOverride, plan: StudyPlan) -> Any:
    """The value a `train.*`/`task.*` override sets: its multiple of the study's, or as given."""
    section, _, name = override.key.partition(".")
    if override.factor is None:
        return override.raw
    config: Any = plan.train if section == "train" else plan.task.config
    where = f"--fidelity {override.text!r}"
    fields = [f.name for f in dataclasses.fields(config)]
    if name not in fields:
        raise StudyConfigError(
            f"unknown setting {override.key}; valid {section} settings: {', '.join(fields)}",
            where=where,
        )
    base = getattr(config, name)
    if isinstance(base, bool) or not isinstance(base, int | float):
        raise StudyConfigError(
            f"a multiplier scales a number; {override.key} is {base!r} here: give a value",
            where=where,
        )
    value = base * override.factor
    if isinstance(base, int):
        if not float(value).is_integer():
            raise StudyConfigError(
                f"{override.key} is {base} here and × {override.factor:g} = {value:g} is not a "
                f"whole number; give a value",
                where=where,
            )
        return int(value)
    return float(value)


def _plain_width(override: FidelityOverride) -> None:
    try:
        width = int(override.raw)
    except ValueError:
        width = 0
    if width < 1:
        raise StudyConfigError(
            f"model.d_model is a whole width (e.g. 128) or a multiplier (e.g. 2x), got "
            f"{override.raw!r}",
            where=f"--fidelity {override.text!r}",
        )


def _dotlist(value: Any) -> str:
    """A resolved value as override text (`load_plan` parses it back)."""
    return repr(value) if isinstance(value, float) else str(value)

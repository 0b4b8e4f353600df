"""The higher fidelity of a validation (`hybridlab study validate`): overrides of the study's
training, task and model width, checked before anything runs.

    train.steps=4x        four times the study's value (any number >= 1: 1.5x)
    task.seq_len=2x       the task's sequences twice as long
    task.num_kv_pairs=2x  twice the key-value pairs (MQAR)
    model.d_model=2x      each trial's d_model doubled; its stack's arguments are kept, so what
                          derives from d_model (SSD heads, attention head size, MLP width
                          `auto`) follows it
    train.lr=1e-3         a plain value, as in a study override

A multiplier scales the study's value (with the study's own overrides applied); an integer
setting must come out whole. Multipliers are for the settings whose larger value is a bigger
run (`SCALABLE`: train.steps, train.batch_size, task.seq_len, task.vocab_size (a larger
embedding, more keys to tell apart), task.num_kv_pairs, task.num_train_examples,
task.num_eval_examples, model.d_model), and none of these may be
lowered (0.5x, or a plain value below the study's): a validation asks whether the proxy's
ranking holds at a higher fidelity. Other settings take plain values (`train.lr=1e-3`).
`train.*` and `task.*` overrides are applied to the study file as overrides and the whole study
is validated again (`load_plan`), so a task that cannot work at the new size (MQAR needs
4·num_kv_pairs ≤ seq_len) is refused before anything runs, with the override named.
`model.d_model` is applied per trial (`Fidelity.scale_spec`): an architecture that cannot be
built at the new width is reported for that trial, not as an error of the whole validation.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridlab.config import StudyConfigError
from hybridlab.config.overrides import Override, parse_override
from hybridlab.spec import ModelSpec, SpecError, parse
from hybridlab.study import StudyPlan, load_plan
from hybridlab.study.fingerprint import NOT_MEASURING

# The sections a fidelity override may name.
SECTIONS = ("train", "task", "model")
# Model-wide settings a fidelity may change (per trial).
MODEL_KEYS = ("d_model",)
# The settings whose larger value is a bigger run or a harder task: the ones a multiplier
# scales, and that a fidelity may not lower (a validation asks whether the ranking holds at a
# higher fidelity).
SCALABLE = (
    "train.steps",
    "train.batch_size",
    "task.seq_len",
    "task.vocab_size",
    "task.num_kv_pairs",
    "task.num_train_examples",
    "task.num_eval_examples",
    "model.d_model",
)


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

    overrides: list[Override]
    plan: StudyPlan
    d_model: Override | None
    resolved: dict[str, Any]

    def as_given(self) -> dict[str, str]:
        """`{key: value as written}`, e.g. `{"train.steps": "4x"}`."""
        return {o.key: o.raw for o in self.overrides}

    def settings(self) -> dict[str, Any]:
        """What determines a scaled run, as plain data (task, train, the d_model rule)."""
        summary = json.loads(json.dumps(self.plan.summary(), default=str))
        train = {k: v for k, v in summary["train"].items() if k not in NOT_MEASURING}
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
    try:
        return parse_override(f"v={value}", multipliers=True).factor is not None
    except StudyConfigError:
        return False


def parse_fidelity(item: str) -> Override:
    """`key=value` (the override grammar, multipliers allowed) → an `Override` of a setting a
    fidelity may change; raise `StudyConfigError` for any other."""
    where = f"--fidelity {item!r}"
    override = parse_override(item, multipliers=True, where=where)
    key, raw = override.key, override.raw
    if not raw:
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
    if override.factor is not None and override.factor < 1:
        raise StudyConfigError(
            f"{raw} would lower the fidelity; a validation trains at a higher one (a "
            f"multiplier >= 1, e.g. 2x)",
            where=where,
        )
    return override


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
    overrides = [parse_fidelity(item) for item in items]
    seen: set[str] = set()
    for override in overrides:
        if override.key in seen:
            raise StudyConfigError(f"{override.key} is given twice", where=override.where)
        seen.add(override.key)
    d_model: Override | None = None
    resolved: dict[str, Any] = {}
    given: list[Override] = []
    for override in overrides:
        if override.key.startswith("model."):
            d_model = override
            if override.factor is None:
                _plain_width(override)
            continue
        # A multiplier sets the multiple of the study's value; errors name it as given.
        value = _resolve(override, plan)
        _check_not_lower(override, value, plan)
        where = override.where if override.factor is None else f"{override.where} (= {value!r})"
        given.append(dataclasses.replace(override, value=value, factor=None, where=where))
    try:
        scaled = load_plan(path, [*study_overrides, *given])
    except StudyConfigError as err:
        if err.where in {override.where for override in given}:
            raise
        raise StudyConfigError(f"at this fidelity: {err}", where="--fidelity") from None
    for override in overrides:
        section, _, name = override.key.partition(".")
        if section != "model":
            config = scaled.train if section == "train" else scaled.task.config
            value = getattr(config, name.partition(".")[0])
            resolved[override.key] = json.loads(json.dumps(value, default=str))
    return Fidelity(overrides=overrides, plan=scaled, d_model=d_model, resolved=resolved)


def _resolve(override: Override, plan: StudyPlan) -> Any:
    """The value a `train.*`/`task.*` override sets: its multiple of the study's, or as given."""
    section, _, name = override.key.partition(".")
    if override.factor is None:
        return override.value
    config: Any = plan.train if section == "train" else plan.task.config
    where = override.where
    fields = [f.name for f in dataclasses.fields(config)]
    if name not in fields:
        raise StudyConfigError(
            f"unknown setting {override.key}; valid {section} settings: {', '.join(fields)}",
            where=where,
        )
    if override.key not in SCALABLE:
        raise StudyConfigError(
            f"a multiplier scales a setting whose larger value is a bigger run "
            f"({', '.join(SCALABLE)}); give {override.key} a value instead of {override.raw}",
            where=where,
        )
    base = getattr(config, name)
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


def _check_not_lower(override: Override, value: Any, plan: StudyPlan) -> None:
    """Raise `StudyConfigError` when `value`, set by `override`, is below the study's value
    of a `SCALABLE` setting: a lower fidelity."""
    section, _, name = override.key.partition(".")
    if override.key not in SCALABLE or section == "model":
        return
    config: Any = plan.train if section == "train" else plan.task.config
    base = getattr(config, name, None)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and isinstance(base, int | float) and value < base:
        raise StudyConfigError(
            f"{override.key} is {base} in the study and {value} would lower the fidelity; a "
            f"validation trains at a higher one (e.g. {override.key}=2x)",
            where=override.where,
        )


def _plain_width(override: Override) -> None:
    try:
        width = int(override.raw)
    except ValueError:
        width = 0
    if width < 1:
        raise StudyConfigError(
            f"model.d_model is a whole width (e.g. 128) or a multiplier (e.g. 2x), got "
            f"{override.raw!r}",
            where=override.where,
        )

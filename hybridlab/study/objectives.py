"""Objectives of a study: measured quality and speed, analytic costs, with their directions.

| name                 | direction | from                                  | options         |
|----------------------|-----------|---------------------------------------|-----------------|
| accuracy             | maximize  | the trial's last evaluation           |                 |
| loss                 | minimize  | the trial's last evaluation (nats)    |                 |
| bits_per_byte        | minimize  | byte-level tasks only                 |                 |
| tokens_per_s         | maximize  | training throughput, measured         |                 |
| params               | minimize  | analytic (`hybridlab.space.costs`)    |                 |
| state_bytes          | minimize  | analytic                              | context, dtype  |
| flops_per_token      | minimize  | analytic                              | context         |
| decode_tokens_per_s  | maximize  | speed, measured after training        | context, batch, |
| prefill_tokens_per_s | maximize  | speed, measured after training        | dtype (each of  |
| train_tokens_per_s   | maximize  | speed, measured after training        | these four)     |
| peak_memory_bytes    | minimize  | speed, measured after training; `ref` |                 |

The speed objectives are measured on the worker once the trial has trained, with the protocol
of `hybridlab bench` (`hybridlab.bench`: warm-up, median of repeats, the trial's threads and
device; peak memory of inference, prefill and decode, as that module defines it), on a model of
the trial's spec at the objective's own `context` (default: the task's length), `batch`
(default 1) and `dtype` (fp32, bf16 or fp16); objectives at the same three share one
measurement. The noise between repeats, (max - min) / median, travels with the result
(`speed_spread`). Speed is a property of the architecture, not of its training, so no pruner
can judge it at a rung: a study with one takes `pruner: none`.

The analytic objectives are the costs of `hybridlab.space.costs.ANALYTIC_COSTS`, with the options
listed there. `context` defaults to the task's sequence length, `dtype` to fp32. They are
computed on the driver from the spec, so they are exact and identical across machines.

Each objective has a hypervolume reference value `ref` (see `hybridlab.study.front`):
given in the study file, or by default 0 for accuracy and tokens/s, ln(vocab) (a uniform
predictor) for loss, 8 for bits per byte, and for analytic costs 2 × the largest value over the
feasible random samples drawn when the study is validated (64 draws: the factor leaves room for
the architectures those draws missed). Optimised against its natural direction (accuracy
minimized, params maximized) the default is the bound on the worse side (1 for accuracy, 0 for
a cost), and one without such a bound (tokens/s minimized) needs a `ref`. A given `ref` must
leave room on the better side of the values the objective can take (accuracy in [0, 1], every
other objective >= 0): `{name: params, ref: -5}` would keep the hypervolume at 0 whatever the
study finds, and is refused; so is an analytic `ref` that every sampled architecture misses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hybridlab.bench import DTYPES, SPEED_NAMES
from hybridlab.config import first_line, merge_dataclass
from hybridlab.cost import itemsize
from hybridlab.results import Metric
from hybridlab.space import ANALYTIC_COSTS
from hybridlab.spec import ModelSpec
from hybridlab.tasks import Task

MINIMIZE, MAXIMIZE = "minimize", "maximize"
_LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")


@dataclass(frozen=True)
class ObjectiveKind:
    """Everything the study knows of one objective, in one row.

    Attributes:
        name: as written in a study file.
        direction: minimize or maximize.
        measured: learned or timed by training a proxy (False: an exact cost of the spec).
        options: the settings it takes (context, batch, dtype).
        speed: measured after training by `hybridlab.bench` (not by the trainer).
        reference: the hypervolume reference when none is given, from the task's vocabulary
            size (None: derived from samples of the space).
        rung_metric: the metric a pruner's rung reads it from (learned objectives only).
        bounds: the values it can take, (lowest, highest): a hypervolume reference must leave
            room on the better side (`check_ref`).
    """

    name: str
    direction: str
    measured: bool
    options: tuple[str, ...] = ()
    speed: bool = False
    reference: Callable[[int], float] | None = None
    rung_metric: Metric | None = None
    bounds: tuple[float, float] = (0.0, math.inf)

    def check_ref(self, ref: float, direction: str) -> str | None:
        """Why `ref` leaves no value better than itself in `direction` (the hypervolume would
        stay 0 whatever the study finds), or None."""
        low, high = self.bounds
        if direction == MINIMIZE and ref <= low:
            return (
                f"{ref:g} is on the wrong side: {self.name} is never below {low:g}, so no trial "
                f"is better than the reference when minimizing and the hypervolume stays 0; "
                f"give a ref above the values that should count"
            )
        if direction == MAXIMIZE and ref >= high:
            return (
                f"{ref:g} is on the wrong side: {self.name} is never above {high:g}, so no trial "
                f"is better than the reference when maximizing and the hypervolume stays 0; "
                f"give a ref below the values that should count"
            )
        return None

    def opposite_ref(self, direction: str) -> float | None:
        """The reference when the objective is optimised against its natural direction: the
        bound on the worse side (None where that bound is infinite: the study must give one)."""
        low, high = self.bounds
        bound = high if direction == MINIMIZE else low
        return bound if math.isfinite(bound) else None


def _zero(vocab_size: int) -> float:
    return 0.0


KINDS: dict[str, ObjectiveKind] = {
    k.name: k
    for k in (
        ObjectiveKind(
            "accuracy",
            MAXIMIZE,
            True,
            reference=_zero,
            rung_metric=Metric.EVAL_ACCURACY,
            bounds=(0.0, 1.0),
        ),
        ObjectiveKind("loss", MINIMIZE, True, reference=math.log, rung_metric=Metric.EVAL_LOSS),
        ObjectiveKind(
            "bits_per_byte",
            MINIMIZE,
            True,
            reference=lambda vocab_size: 8.0,
            rung_metric=Metric.EVAL_BITS_PER_BYTE,
        ),
        ObjectiveKind(
            "tokens_per_s", MAXIMIZE, True, reference=_zero, rung_metric=Metric.TRAIN_TOKENS_PER_S
        ),
        *(ObjectiveKind(c.name, MINIMIZE, False, c.options) for c in ANALYTIC_COSTS.values()),
        *(
            ObjectiveKind(
                name,
                MINIMIZE if name == "peak_memory_bytes" else MAXIMIZE,
                True,
                ("context", "batch", "dtype"),
                speed=True,
                reference=None if name == "peak_memory_bytes" else _zero,
            )
            for name in SPEED_NAMES
        ),
    )
}
OPTIONS = ("context", "batch", "dtype")


@dataclass(kw_only=True)
class ObjectiveConfig:
    """One objective as written in a study file (validated by the study loader).

    Attributes:
        name: one of `KINDS`.
        direction: minimize or maximize; None = the objective's natural direction.
        context: for state_bytes, flops_per_token and the speed objectives; None = the task's
            sequence length.
        batch: for the speed objectives; None = 1.
        dtype: for state_bytes and the speed objectives.
        label: the objective's name in tables, JSON and Optuna's metric names; None = `name`.
        ref: the hypervolume reference value; None = the default in the module docstring.
    """

    name: str
    direction: str | None = None
    context: int | None = None
    batch: int | None = None
    dtype: str = "fp32"
    label: str | None = None
    ref: float | None = None


@dataclass(frozen=True)
class Objective:
    """A validated objective: everything filled in."""

    name: str
    label: str
    direction: str
    context: int
    dtype: str
    ref: float | None
    batch: int = 1

    @property
    def measured(self) -> bool:
        return KINDS[self.name].measured

    @property
    def speed(self) -> bool:
        return KINDS[self.name].speed

    def speed_request(self) -> dict[str, Any]:
        """What a worker measures for this speed objective (`hybridlab.bench.measure_requests`)."""
        return {
            "label": self.label,
            "name": self.name,
            "context": self.context,
            "batch": self.batch,
            "dtype": self.dtype,
        }

    def value(self, result: Mapping[str, Any] | None, spec: ModelSpec) -> float | None:
        """The objective's value for a trial (None when a measured value is missing/not finite)."""
        cost = ANALYTIC_COSTS.get(self.name)
        if cost is not None:
            return float(cost.compute(spec, context=self.context, dtype=self.dtype))
        return self.measured_value(result)

    def measured_value(self, result: Mapping[str, Any] | None) -> float | None:
        """A measured objective's finite value in a trial's result (speed objectives under
        `result["speed"][label]`), else None."""
        if result is None:
            return None
        value = (result.get("speed") or {}).get(self.label) if self.speed else result.get(self.name)
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)

    def default_ref(self, vocab_size: int) -> float | None:
        """The reference value when none is given (None: derive it from samples). Optimised
        against its natural direction (accuracy minimized, params maximized), the bound on the
        worse side: the natural default would leave no value better than itself."""
        kind = KINDS[self.name]
        if self.direction != kind.direction:
            return kind.opposite_ref(self.direction)
        return None if kind.reference is None else kind.reference(vocab_size)


def parse_objectives(
    items: Any, task: Task, error: Callable[[str, str], Exception]
) -> list[Objective]:
    """Validate a study's `objectives:` list; `error(message, key)` builds located errors."""
    if not isinstance(items, list) or not items:
        raise error("objectives must be a non-empty list, e.g. [{name: accuracy}]", "objectives")
    out: list[Objective] = []
    for index, item in enumerate(items):
        key = f"objectives.{index}"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise error(f"an objective is a name or a mapping, got {item!r}", key)
        try:
            config = merge_dataclass(ObjectiveConfig, item, key)
        except ValueError as err:
            raise error(first_line(err), key) from None
        kind = KINDS.get(config.name)
        if kind is None:
            raise error(
                f"unknown objective {config.name!r}; valid: {', '.join(KINDS)}", f"{key}.name"
            )
        if config.direction not in (None, MINIMIZE, MAXIMIZE):
            raise error(
                f"direction must be minimize or maximize, got {config.direction!r}",
                f"{key}.direction",
            )
        for option in OPTIONS:
            if option not in kind.options and option in item:
                raise error(f"{config.name} takes no {option}", f"{key}.{option}")
        batch = config.batch if config.batch is not None else 1
        if batch < 1:
            raise error(f"batch must be >= 1, got {batch}", f"{key}.batch")
        if kind.speed and config.dtype.lower() not in DTYPES:
            raise error(
                f"{config.name} runs in fp32, bf16 or fp16, got {config.dtype!r}", f"{key}.dtype"
            )
        if config.name == "peak_memory_bytes" and config.ref is None:
            raise error(
                "peak_memory_bytes needs a ref (bytes, the hypervolume's reference point): "
                "measured memory has no default bound",
                f"{key}.ref",
            )
        if config.name == "bits_per_byte" and not task.reports_bits_per_byte:
            raise error(f"task {task.name!r} reports no bits per byte; use loss", f"{key}.name")
        context = config.context if config.context is not None else task.seq_len
        if context < 1:
            raise error(f"context must be >= 1, got {context}", f"{key}.context")
        try:
            itemsize(config.dtype)
        except ValueError as err:
            raise error(str(err), f"{key}.dtype") from None
        if config.ref is not None and not math.isfinite(config.ref):
            raise error("ref must be a finite number", f"{key}.ref")
        direction = config.direction or kind.direction
        if config.ref is not None:
            problem = kind.check_ref(config.ref, direction)
            if problem is not None:
                raise error(problem, f"{key}.ref")
        elif direction != kind.direction and kind.measured and kind.opposite_ref(direction) is None:
            raise error(
                f"{config.name} {direction}d has no default reference (it has no bound on that "
                f"side); give a ref",
                f"{key}.ref",
            )
        label = config.label if config.label is not None else config.name
        if not _LABEL.fullmatch(label):
            raise error(
                f"a label is ASCII letters, digits, '_', '.' and '-', at most 100 (it names the "
                f"objective's metric in Optuna and MLflow: obj/<label>); got {label!r}",
                f"{key}.label",
            )
        if label in [o.label for o in out]:
            raise error(f"two objectives are labelled {label!r}; give each a label", f"{key}.label")
        out.append(
            Objective(
                name=config.name,
                label=label,
                direction=direction,
                context=context,
                dtype=config.dtype,
                ref=config.ref,
                batch=batch,
            )
        )
    return out

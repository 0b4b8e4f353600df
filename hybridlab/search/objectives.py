"""Objectives of a study: measured quality and speed, analytic costs, with their directions.

| name            | default direction | from                                    | options        |
|-----------------|-------------------|-----------------------------------------|----------------|
| accuracy        | maximize          | the trial's last evaluation             |                |
| loss            | minimize          | the trial's last evaluation (nats)      |                |
| bits_per_byte   | minimize          | byte-level tasks only                   |                |
| tokens_per_s    | maximize          | training throughput, measured           |                |
| params          | minimize          | `hybridlab.count_params(spec)`          |                |
| state_bytes     | minimize          | `hybridlab.state_bytes(spec, ctx, dt)`  | context, dtype |
| flops_per_token | minimize          | `hybridlab.flops_per_token(spec, ctx)`  | context        |

`context` defaults to the task's sequence length, `dtype` to fp32. Analytic objectives are
computed on the driver from the spec, so they are exact and identical across machines.

Each objective has a hypervolume reference value `ref` (see `hybridlab.search.hypervolume`):
given in the study file, or by default 0 for accuracy and tokens/s, ln(vocab) (a uniform
predictor) for loss, 8 for bits per byte, and for analytic costs 2 × the largest value over the
feasible random samples drawn when the study is validated (64 draws: the factor leaves room for
the architectures those draws missed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import hybridlab
from hybridlab.spec import ModelSpec

MINIMIZE, MAXIMIZE = "minimize", "maximize"


@dataclass(frozen=True)
class ObjectiveKind:
    name: str
    direction: str
    measured: bool
    options: tuple[str, ...] = ()


KINDS: dict[str, ObjectiveKind] = {
    k.name: k
    for k in (
        ObjectiveKind("accuracy", MAXIMIZE, True),
        ObjectiveKind("loss", MINIMIZE, True),
        ObjectiveKind("bits_per_byte", MINIMIZE, True),
        ObjectiveKind("tokens_per_s", MAXIMIZE, True),
        ObjectiveKind("params", MINIMIZE, False),
        ObjectiveKind("state_bytes", MINIMIZE, False, ("context", "dtype")),
        ObjectiveKind("flops_per_token", MINIMIZE, False, ("context",)),
    )
}


@dataclass(kw_only=True)
class ObjectiveConfig:
    """One objective as written in a study file (validated by the study loader).

    Attributes:
        name: one of `KINDS`.
        direction: minimize or maximize; None = the objective's natural direction.
        context: for state_bytes and flops_per_token; None = the task's sequence length.
        dtype: for state_bytes.
        label: the objective's name in tables, JSON and Optuna's metric names; None = `name`.
        ref: the hypervolume reference value; None = the default in the module docstring.
    """

    name: str
    direction: str | None = None
    context: int | None = None
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

    @property
    def measured(self) -> bool:
        return KINDS[self.name].measured

    def value(self, result: Mapping[str, Any] | None, spec: ModelSpec) -> float | None:
        """The objective's value for a trial (None when a measured value is missing/not finite)."""
        if self.name == "params":
            return float(hybridlab.count_params(spec))
        if self.name == "state_bytes":
            return float(hybridlab.state_bytes(spec, self.context, self.dtype))
        if self.name == "flops_per_token":
            return float(hybridlab.flops_per_token(spec, self.context))
        value = None if result is None else result.get(self.name)
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)

    def default_ref(self, vocab_size: int) -> float | None:
        """The reference value when none is given (None: derive it from samples)."""
        return {
            "accuracy": 0.0,
            "tokens_per_s": 0.0,
            "loss": math.log(vocab_size),
            "bits_per_byte": 8.0,
        }.get(self.name)

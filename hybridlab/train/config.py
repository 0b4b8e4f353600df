"""`TrainConfig`: every setting of a proxy training run, as typed data.

OmegaConf structured configs load and override it (`OmegaConf.structured(TrainConfig)`), so
choices are str Enums, not Literals, and "off" is None rather than a magic number.
"""

from __future__ import annotations

import enum
import math
import numbers
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from hybridlab.config import SettingError

# numpy's limit for a seed (`np.random.seed`); torch's `manual_seed` takes up to 2**64 - 1.
MAX_SEED = 2**32 - 1
# Seeds a trial may train as members (each is a whole model in memory).
MAX_SEEDS = 64


class Device(enum.StrEnum):
    AUTO = "auto"  # CUDA when available, else CPU
    CPU = "cpu"
    CUDA = "cuda"


class RaceJudge(enum.StrEnum):
    """What decides `lr_race`: the rate whose run scores lowest on it."""

    TRAIN_LOSS = "train_loss"  # mean training loss over the last fifth of the race
    VALIDATION = "validation"  # loss on the task's validation split at the race's last step


class SeedStatistic(enum.StrEnum):
    """What a trial trained under several seeds (`seeds` > 1) reports."""

    MEAN = "mean"  # the mean over seeds at the rate whose seeds score best on validation
    BEST = "best"  # the one member (seed and rate) with the lowest validation loss: restarts


class Precision(enum.StrEnum):
    AUTO = "auto"  # bf16 autocast on CUDA, fp32 on CPU
    FP32 = "fp32"
    BF16 = "bf16"  # autocast to bfloat16 (weights and optimizer state stay fp32)


@dataclass(kw_only=True)
class TrainConfig:
    """Settings of `train_proxy`.

    `validate()` checks every field: int fields take an int (not a bool, a float such as 2.5 or
    a string), number fields an int or float that is finite (no nan or inf), `X | None` fields
    also None; the ranges are given below. A wrong type raises `SettingTypeError` (a TypeError
    and a ValueError), a value out of range `SettingError` (a ValueError), both naming the
    setting as `train.<field>`.

    Args:
        steps: optimizer steps, ≥ 1.
        batch_size: examples per step, ≥ 1.
        lr: peak learning rate of AdamW (unless `lr_race` names candidates), > 0.
        lr_race: candidate peak learning rates (a list of distinct positive numbers) raced at the
            start of the run: each trains the same initial model on the same batches for
            `lr_race_fraction · steps` steps, the one with the lowest mean training loss over
            the last fifth of those steps continues to `steps`, the others are dropped (their
            steps count in `TrainResult.race_steps`). Empty: train at `lr`; one rate: train at
            it; two or more need `steps` ≥ 2. Architectures differ in the rate that suits them
            (zoology and MAD sweep it per model); a race gives each its own at a fraction of a
            sweep's cost.
        lr_race_fraction: the share of `steps` each candidate trains in the race, in (0, 1];
            1 is a full sweep: every candidate trains every step and the best one is the run.
            Race steps are neither evaluated nor reported (`eval_every`, `eval_at` and a
            pruner's rungs act after the race), so a full sweep reports only its end.
        lr_race_judge: what picks the winner (`RaceJudge`): "train_loss", the mean training
            loss over the last fifth of the race, or "validation", the loss on the task's
            validation split (`task.num_valid_examples` ≥ 1) after the race's last step. The
            test split never chooses.
        weight_decay: AdamW decay on matrices, ≥ 0; norms, biases, other 1-D parameters and any
            parameter marked `_no_weight_decay = True` (mamba_ssm's convention) get none.
        beta1, beta2, eps: AdamW's; betas in [0, 1), eps > 0.
        warmup_fraction: the first `warmup_fraction · steps` steps raise the lr linearly from 0;
            then it follows a cosine down to `min_lr_ratio · lr` at the last step. In [0, 1);
            `min_lr_ratio` in [0, 1].
        grad_clip: clip the global gradient norm to this (> 0); None = no clipping.
        eval_every: evaluate every this many steps (≥ 1, and always at the end); None = only at
            the end.
        eval_at: also evaluate at these steps (each in [1, steps]); a study's pruner judges its
            trials there (`hybridlab.study.pruning`).
        eval_batch_size: examples per evaluation forward pass, ≥ 1.
        max_eval_examples: evaluate on the first this many held-out examples (≥ 1); None = all.
        log_every: report training loss every this many steps, ≥ 1.
        seed: fixes the model's initialisation and the order of training batches; an int in
            [0, 2**32 - 1] (`MAX_SEED`, numpy's limit).
        device, precision: see `Device` and `Precision`; the Enum or its string value.
        num_threads: torch CPU threads (process-wide, `torch.set_num_threads`), ≥ 1; None = leave.
        target_accuracy: stop once an evaluation reaches this accuracy, in (0, 1]; None = never.
        max_wall_time_s: stop once the run has taken this long (wall clock from the model's
            creation, evaluations included), then evaluate a last time; > 0, None = never.
        seeds: train under this many seeds (`seed` … `seed + seeds − 1`) at every rate of
            `lr_race` (or `lr`), all as members of one vectorised model, and report the mean
            over seeds at the rate best on the validation split (or the best member:
            `seeds_statistic`), with its spread
            (`hybridlab.train.members.seeded`); 1 to `MAX_SEEDS`. 1: one run (the race, if
            any, as before).
        seeds_statistic: what a trial of several seeds reports (`SeedStatistic`): "mean", the
            mean over its seeds at the rate best on the validation split; or "best", the test
            values of the one member (seed and rate) with the lowest validation loss, a
            restart protocol that needs `task.num_valid_examples` ≥ 1. Where an architecture
            learns in most seeds and stays on the plateau in some, the mean of k seeds narrows
            as 1/√k and the best misses only when all k miss (benchmarks/README.md: 16 seeds
            of the quickstart). Either way the result keeps the seeds' spread and every member.
        keep_weights: keep the trained model's weights in the result (`TrainResult.weights`:
            the `HybridLM`'s state_dict, on the CPU); a study writes them beside its trials, for
            `hybridlab study pareto --export DIR --to hf`. Changes nothing that is measured.

    Example:
        >>> TrainConfig(steps=200, lr=3e-3, target_accuracy=0.99).warmup_steps
        20
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    lr_race: list[float] = field(default_factory=list)
    lr_race_fraction: float = 0.2
    lr_race_judge: RaceJudge = RaceJudge.TRAIN_LOSS
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    warmup_fraction: float = 0.1
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int | None = 100
    eval_at: list[int] = field(default_factory=list)
    eval_batch_size: int = 256
    max_eval_examples: int | None = None
    log_every: int = 10
    seed: int = 0
    device: Device = Device.AUTO
    precision: Precision = Precision.AUTO
    num_threads: int | None = None
    target_accuracy: float | None = None
    max_wall_time_s: float | None = None
    seeds: int = 1
    seeds_statistic: SeedStatistic = SeedStatistic.MEAN
    keep_weights: bool = False

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_fraction * self.steps)

    @property
    def race_steps(self) -> int:
        """Steps each `lr_race` candidate trains before the winner is chosen (0: no race); below
        `steps` unless the race is a full sweep (`lr_race_fraction` 1)."""
        if len(self.lr_race) < 2:
            return 0
        if self.lr_race_fraction == 1:
            return self.steps
        return min(self.steps - 1, max(1, round(self.lr_race_fraction * self.steps)))

    def validate(self) -> None:
        """Raise a `SettingError` (a ValueError) naming the first setting that cannot work.

        Every int setting must be an int (a bool, 2.5 or "3" is not: `SettingTypeError`, also a
        TypeError), every number setting an int or float and finite; then the ranges of
        `Args` apply. Plain strings are accepted for `device` and `precision`.
        """
        self._check_types()
        if not 0 <= self.seed <= MAX_SEED:
            raise SettingError(
                f"train.seed must be a whole number >= 0 and <= {MAX_SEED} (2**32 - 1, numpy's "
                f"limit), got {self.seed}",
                key="train.seed",
            )
        for name in ("steps", "batch_size", "eval_batch_size", "log_every"):
            _require(self, name, getattr(self, name) >= 1, "≥ 1")
        _require(self, "seeds", 1 <= self.seeds <= MAX_SEEDS, f"in [1, {MAX_SEEDS}]")
        if self.seed + self.seeds - 1 > MAX_SEED:
            raise SettingError(
                f"train.seeds={self.seeds} from train.seed={self.seed} passes the largest seed "
                f"({MAX_SEED})",
                key="train.seeds",
            )
        for name in ("eval_every", "max_eval_examples", "num_threads"):
            value = getattr(self, name)
            _require(self, name, value is None or value >= 1, "≥ 1 or null")
        _require(self, "lr", self.lr > 0, "a positive number")
        for lr in self.lr_race:
            if not lr > 0:
                raise SettingError(
                    f"train.lr_race: every rate must be a positive number, got {lr}",
                    key="train.lr_race",
                )
        if len(set(self.lr_race)) != len(self.lr_race):
            raise SettingError(
                f"train.lr_race: a rate is listed twice in {self.lr_race}", key="train.lr_race"
            )
        if len(self.lr_race) >= 2 and self.steps < 2:
            raise SettingError(
                f"train.lr_race races {len(self.lr_race)} rates, which needs train.steps ≥ 2 "
                f"(a race step and a step after it), got {self.steps}",
                key="train.lr_race",
            )
        for step in self.eval_at:
            if not 1 <= step <= self.steps:
                raise SettingError(
                    f"train.eval_at: every step must be in [1, train.steps = {self.steps}], "
                    f"got {step}",
                    key="train.eval_at",
                )
        _require(self, "lr_race_fraction", 0 < self.lr_race_fraction <= 1, "in (0, 1]")
        _require(self, "weight_decay", self.weight_decay >= 0, "≥ 0")
        _require(self, "eps", self.eps > 0, "> 0")
        _require(self, "warmup_fraction", 0 <= self.warmup_fraction < 1, "in [0, 1)")
        _require(self, "min_lr_ratio", 0 <= self.min_lr_ratio <= 1, "in [0, 1]")
        _require(self, "beta1", 0 <= self.beta1 < 1, "in [0, 1)")
        _require(self, "beta2", 0 <= self.beta2 < 1, "in [0, 1)")
        _require(self, "grad_clip", self.grad_clip is None or self.grad_clip > 0, "> 0 or null")
        target = self.target_accuracy
        _require(self, "target_accuracy", target is None or 0 < target <= 1, "in (0, 1] or null")
        wall = self.max_wall_time_s
        _require(self, "max_wall_time_s", wall is None or wall > 0, "> 0 or null")

    def _check_types(self) -> None:
        """Ints are ints, numbers are finite ints or floats, choices are valid: by annotation,
        so that a new field is checked the moment it is declared."""
        hints = typing.get_type_hints(TrainConfig)
        for f in fields(self):
            kind, value = hints[f.name], getattr(self, f.name)
            if typing.get_origin(kind) is list:
                (item_kind,) = typing.get_args(kind)
                what = "whole numbers" if item_kind is int else "numbers"
                if not isinstance(value, list | tuple):
                    raise SettingTypeError(
                        f"train.{f.name} must be a list of {what}, got {_shown(value)}",
                        key=f"train.{f.name}",
                    )
                for item in value:
                    if item_kind is int:
                        _require_int(f.name, item)
                    else:
                        _require_number(f.name, item, what="every rate")
                continue
            # `X | None`: None is allowed, otherwise the value must be an X.
            args = typing.get_args(kind)
            if value is None and type(None) in args:
                continue
            base = next(a for a in args if a is not type(None)) if args else kind
            if base is bool:
                if not isinstance(value, bool):
                    raise SettingTypeError(
                        f"train.{f.name} must be true or false, got {_shown(value)}",
                        key=f"train.{f.name}",
                    )
            elif base is int:
                _require_int(f.name, value)
            elif base is float:
                _require_number(f.name, value)
            elif isinstance(base, type) and issubclass(base, enum.Enum):
                _require_choice(f.name, value, base)
            else:  # a field of a new kind needs its check written here
                raise AssertionError(f"TrainConfig.{f.name}: no type check for {kind}")


class SettingTypeError(SettingError, TypeError):
    """A setting of the wrong type (a string, a bool or 2.5 where an int belongs).

    Both a `TypeError`, as Python code expects, and a `SettingError`, so that the loaders
    that place settings errors at their line (study files, `hybridlab train`) catch it too.
    """


def _shown(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _require_int(name: str, value: Any) -> None:
    # bool is an int subclass, but `steps=True` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingTypeError(
            f"train.{name} must be a whole number (an int), got {_shown(value)}",
            key=f"train.{name}",
        )


def _require_number(name: str, value: Any, what: str = "") -> None:
    subject = f"train.{name}: {what}" if what else f"train.{name}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SettingTypeError(
            f"{subject} must be a number (an int or float), got {_shown(value)}",
            key=f"train.{name}",
        )
    if not math.isfinite(value):
        raise SettingError(f"{subject} must be a finite number, got {value}", key=f"train.{name}")


def _require_choice(name: str, value: Any, choices: type[enum.Enum]) -> None:
    valid = [member.value for member in choices]
    if not isinstance(value, str):
        raise SettingTypeError(
            f"train.{name} must be one of {', '.join(valid)} (a string), got {_shown(value)}",
            key=f"train.{name}",
        )
    if value not in valid:
        raise SettingError(
            f"train.{name} must be one of {', '.join(valid)}, got {value!r}", key=f"train.{name}"
        )


def _require(config: TrainConfig, name: str, ok: bool, rule: str) -> None:
    if not ok:
        raise SettingError(
            f"train.{name} must be {rule}, got {getattr(config, name)}", key=f"train.{name}"
        )

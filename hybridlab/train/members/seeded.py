"""A trial trained under several seeds: the outcome is the architecture's, not one seed's.

    result = train_seeded(spec, task, TrainConfig(seeds=2, lr_race=[3e-3, 1e-2]))
    result.accuracy, result.spread["accuracy"]      # the mean over seeds, and {mean, std, n}

With `train.seeds: k` every rate of `train.lr_race` (or `train.lr` alone) is trained under the
seeds `seed … seed + k − 1`, all of them as members of one vectorised model (`train_members`),
each for the whole budget: the rates are a full sweep, not a race. The rate whose seeds have the
lowest mean loss on the task's validation split is the architecture's rate (the test split never
chooses: a sweep of several rates needs `task.num_valid_examples`); the trial's result is the
mean over its seeds at that rate, with the spread (`spread`: mean, sample standard deviation and
count per measured value) and every member's outcome (`members`). A study tells Optuna the mean,
and compares trials within the noise the spread measures.

With `train.seeds_statistic: best` the trial reports instead the one member, of every seed and
rate, with the lowest validation loss (restarts, chosen on the validation split): its test
values and its rate are the result's, and `spread` still describes the seeds at that rate, with
the chosen value beside their mean as "best".

A seed whose run fails (a non-finite loss) is left out of the mean and counted in `members`;
the trial fails when every seed at the chosen rate failed. Progress is reported once per logged
step for the whole group: the mean training loss, and at an evaluation the best rate's mean
accuracy and loss so far, or with `best` the most accurate member's (what a study's live view and
pruner read).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Mapping
from typing import Any

from hybridlab.results import Metric
from hybridlab.spec import ModelSpec
from hybridlab.tasks import Task
from hybridlab.train.config import SeedStatistic, TrainConfig
from hybridlab.train.members.trainer import Member, member_grid, train_members
from hybridlab.train.result import TrainResult
from hybridlab.train.trainer import StopTraining, as_task, as_train_config

Report = Callable[[int, dict[str, float]], Any]
# The result values averaged over seeds, with their spread.
MEASURED = ("accuracy", "loss", "bits_per_byte", "valid_accuracy", "valid_loss")


def train_seeded(
    spec: ModelSpec | str,
    task: Task | str,
    train_config: TrainConfig | Mapping[str, Any] | None,
    report: Report | None = None,
) -> TrainResult:
    """Train `spec` on `task` under `train.seeds` seeds at every rate of the sweep; return the
    mean over seeds at the rate best on the validation split, or with `train.seeds_statistic:
    best` the member lowest on it (see the module docstring)."""
    config = as_train_config(train_config)
    config.validate()
    task = as_task(task)
    rates = list(config.lr_race) or [config.lr]
    best = SeedStatistic(config.seeds_statistic) is SeedStatistic.BEST
    if best and not task.has_validation:
        raise ValueError(
            f"train.seeds_statistic=best chooses a member on the validation split, and task "
            f"{task.name!r} has none: set task.num_valid_examples >= 1"
        )
    if len(rates) > 1 and not task.has_validation:
        raise ValueError(
            f"train.seeds={config.seeds} with {len(rates)} rates in train.lr_race chooses the "
            f"rate on the validation split, and task {task.name!r} has none: set "
            f"task.num_valid_examples >= 1 (or give one rate)"
        )
    seeds = [config.seed + i for i in range(config.seeds)]
    members = member_grid(seeds, rates)
    group = _GroupReport(report, members, rates, best=best)
    results = train_members(
        spec, task, dataclasses.replace(config, lr_race=[]), members, group.member_report
    )
    group.flush()
    return _combine(results, members, rates, seeds, best=best)


def _combine(
    results: list[TrainResult],
    members: list[Member],
    rates: list[float],
    seeds: list[int],
    *,
    best: bool = False,
) -> TrainResult:
    """The trial's result: the mean over seeds at the rate best on the validation split, or
    with `best` the member lowest on the validation split (see the module docstring)."""
    by_rate = {rate: [r for r, m in zip(results, members, strict=True) if m.lr == rate]
               for rate in rates}  # fmt: skip
    scores = {rate: _mean_valid_loss(runs) for rate, runs in by_rate.items()}
    chosen = min(rates, key=lambda rate: (scores[rate], rates.index(rate)))
    winner = _best_member(results) if best else None
    if winner is not None:
        chosen = members[winner].lr
    runs = by_rate[chosen]
    ok = [r for r in runs if r.ok]
    base = results[winner] if winner is not None else ok[0] if ok else runs[0]
    total_steps = sum(r.steps_done for r in results)
    combined = dataclasses.replace(
        base,
        lr=chosen,
        lr_race=[[rate, None if math.isinf(s) else s] for rate, s in scores.items()]
        if len(rates) > 1
        else [],
        race_steps=total_steps - base.steps_done,
        seeds=len(seeds),
        members=[_member_record(r, m) for r, m in zip(results, members, strict=True)],
        history=list(base.history),
    )
    if not ok:
        return combined
    spread = {}
    for name in MEASURED:
        values = [float(getattr(r, name)) for r in ok if getattr(r, name) is not None]
        if values:
            mean = statistics.fmean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            spread[name] = {"mean": mean, "std": std, "n": len(values)}
            if winner is None:
                setattr(combined, name, mean)
            elif getattr(combined, name) is not None:
                spread[name]["best"] = float(getattr(combined, name))
    combined.spread = spread
    return combined


def _best_member(results: list[TrainResult]) -> int | None:
    """The index of the ok member with the lowest validation loss (ties: the first); None when
    no member trained ok with a finite one."""
    scored = [
        (float(r.valid_loss), i)
        for i, r in enumerate(results)
        if r.ok and r.valid_loss is not None and math.isfinite(r.valid_loss)
    ]
    return min(scored)[1] if scored else None


def _mean_valid_loss(runs: list[TrainResult]) -> float:
    """A rate's score: the mean validation loss of its seeds (infinite when one failed or
    none was scored: a rate that diverges for a seed is not the architecture's rate)."""
    losses = [r.valid_loss for r in runs]
    if any(not r.ok for r in runs) or any(v is None for v in losses):
        return math.inf
    return statistics.fmean(float(v) for v in losses if v is not None)


def _member_record(result: TrainResult, member: Member) -> dict[str, Any]:
    return {
        "seed": member.seed,
        "lr": member.lr,
        "status": str(result.status),
        "accuracy": result.accuracy,
        "loss": result.loss,
        "valid_loss": result.valid_loss,
        "valid_accuracy": result.valid_accuracy,
        "failure_reason": result.failure_reason,
    }


class _GroupReport:
    """Members' reports folded into one per step for the trial: the mean training loss, and
    after an evaluation the best rate's mean accuracy and loss over its seeds (with `best`, the
    evaluation of the member most accurate so far: what the trial will report is one member)."""

    def __init__(
        self, report: Report | None, members: list[Member], rates: list[float], best: bool = False
    ) -> None:
        self.report, self.members, self.rates, self.best = report, members, rates, best
        self.step: int | None = None
        self.pending: dict[int, dict[str, float]] = {}
        self.stopped = False

    def member_report(self, member: int, step: int, metrics: dict[str, float]) -> None:
        if self.report is None:
            return
        if self.step is not None and step != self.step:
            self.flush()
        self.step = step
        self.pending.setdefault(member, {}).update(metrics)
        if self.stopped:
            raise StopTraining("stopped by the trial's report")

    def flush(self) -> None:
        """Report the step gathered so far (a stop it asks for ends the group's next step)."""
        if self.report is None or self.step is None or not self.pending:
            return
        step, pending = self.step, self.pending
        self.step, self.pending = None, {}
        out: dict[str, float] = {}
        losses = [m[Metric.TRAIN_LOSS] for m in pending.values() if Metric.TRAIN_LOSS in m]
        if losses:
            out[Metric.TRAIN_LOSS] = statistics.fmean(losses)
        for name in (Metric.TRAIN_LR, Metric.TRAIN_TOKENS_PER_S):
            values = [m[name] for m in pending.values() if name in m]
            if values:
                out[name] = statistics.fmean(values)
        best = self._best_rate(pending)
        if best is not None:
            out.update(best)
        try:
            self.report(step, out)
        except StopTraining:
            self.stopped = True

    def _best_rate(self, pending: dict[int, dict[str, float]]) -> dict[str, float] | None:
        """The evaluation metrics of the rate with the best mean accuracy over its seeds."""
        by_rate: dict[float, list[dict[str, float]]] = {}
        for member, metrics in pending.items():
            if Metric.EVAL_ACCURACY in metrics:
                by_rate.setdefault(self.members[member].lr, []).append(metrics)
        if not by_rate:
            return None
        if self.best:
            evaluated = [m for runs in by_rate.values() for m in runs]
            top = max(evaluated, key=lambda m: m[Metric.EVAL_ACCURACY])
            return {name: value for name, value in top.items() if name.startswith("eval/")}
        means = {
            rate: {
                name: statistics.fmean(m[name] for m in runs)
                for name in runs[0]
                if name.startswith("eval/") and all(name in m for m in runs)
            }
            for rate, runs in by_rate.items()
        }
        best = max(means, key=lambda rate: means[rate][Metric.EVAL_ACCURACY])
        return means[best]


__all__ = ["MEASURED", "train_seeded"]

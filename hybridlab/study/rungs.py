"""Judging trials at the pruner's rungs, for the driver (`hybridlab.study.pruning` has the rule).

At each rung a trial's objective vector is taken (learned objectives as evaluated there, analytic
ones exact from the spec), recorded in its user attr `rungs` ({step: values}) and judged: by the
ASHA rule (`Asha`, rebuilt from the stored records on a resume) or, for one objective, by
Optuna's pruner set on the study. A stopped trial gets `pruned_at` and is told PRUNED when its
run ends. A repeat of a trial the pruner stopped is judged on that trial's records without
training (its training would measure them again).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hybridlab.results import Metric
from hybridlab.study.attrs import TrialAttr
from hybridlab.study.objectives import KINDS
from hybridlab.study.pending import Pending
from hybridlab.study.pruning import Asha, optuna_pruner
from hybridlab.tracking import Outcome

if TYPE_CHECKING:
    from hybridlab.study.config import StudyPlan


class RungJudge:
    """The pruner of one driver invocation: records and decisions at the rungs.

    Args:
        plan: the study's plan (its rungs, pruner, objectives).
        study: the Optuna study (its stored rung records; Optuna's pruner is set on it).
        refs: the study's hypervolume reference values.
    """

    def __init__(self, plan: StudyPlan, study: Any, refs: list[float]) -> None:
        self.plan, self.study = plan, study
        self.asha = self._make_asha(refs)

    @property
    def enabled(self) -> bool:
        return bool(self.plan.rungs)

    def _make_asha(self, refs: list[float]) -> Asha | None:
        """The ASHA rule with the rung records of earlier runs, or Optuna's pruner set on the
        study (None then: Optuna keeps its records itself), or nothing."""
        from optuna.trial import TrialState

        plan = self.plan
        config, rungs = plan.pruner, plan.rungs
        if not rungs:
            return None
        if config.name != "asha":
            self.study.pruner = optuna_pruner(config, rungs, plan.train.steps)
            return None
        asha = Asha(
            rungs,
            plan.directions,
            refs,
            reduction_factor=config.reduction_factor,
            min_trials=config.min_trials or config.reduction_factor,
        )
        skip = (Outcome.INTERRUPTED, None)
        for t in self.study.get_trials(deepcopy=False):
            attrs = t.user_attrs
            # A run interrupted or retried after a fault records the same values again.
            if attrs.get(TrialAttr.OUTCOME) in skip or attrs.get(TrialAttr.RETRIED):
                continue
            if t.state != TrialState.RUNNING and TrialAttr.RUNGS in attrs:
                asha.load(t.number, attrs[TrialAttr.RUNGS])
        return asha

    def on_metrics(self, pending: Pending, step: int, metrics: dict[str, float]) -> bool:
        """A trial's report: at a rung, judge it. True: stop the trial."""
        if Metric.TRAIN_TOKENS_PER_S in metrics:
            pending.tokens_per_s = metrics[Metric.TRAIN_TOKENS_PER_S]
        if pending.pruned_at is not None:
            return True
        if step not in self.plan.rungs:
            return False
        values = self._rung_values(pending, metrics)
        if values is None:  # not the evaluation's report
            return False
        return not self.judge(pending, step, values)

    def judge(self, pending: Pending, step: int, values: list[float]) -> bool:
        """Record a trial's values at a rung and apply the rule; whether it trains on."""
        trial = pending.trial
        rungs = {**trial.user_attrs.get(TrialAttr.RUNGS, {}), str(step): values}
        trial.set_user_attr(TrialAttr.RUNGS, rungs)
        if self.asha is not None:
            keep = self.asha.decide(trial.number, step, values)
        else:  # one objective, Optuna's pruner
            trial.report(values[0], step)
            keep = not trial.should_prune()
        if not keep:
            pending.pruned_at = step
        return keep

    def stopped_before(self, pending: Pending, key: str) -> Any:
        """A repeat of a trial the pruner stopped: judge `pending` on that trial's rung records
        and return that trial if `pending` stops at one of them (it need not train); else
        None (it trains)."""
        from optuna.trial import TrialState

        if not self.enabled:
            return None
        earlier = next(
            (
                t
                for t in self.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
                if t.user_attrs.get(TrialAttr.REQUEST_KEY) == key
                and TrialAttr.RUNGS in t.user_attrs
            ),
            None,
        )
        if earlier is None:
            return None
        for step in sorted(int(s) for s in earlier.user_attrs[TrialAttr.RUNGS]):
            values = earlier.user_attrs[TrialAttr.RUNGS][str(step)]
            if not self.judge(pending, step, values):
                return earlier
        return None

    def _rung_values(self, pending: Pending, metrics: dict[str, float]) -> list[float] | None:
        """The objective vector of a trial at a rung: learned objectives as evaluated there,
        analytic ones exact (None when `metrics` is not the evaluation)."""
        values = []
        for objective in self.plan.objectives:
            if not objective.measured:
                value = objective.value(None, pending.spec)
            elif objective.name == "tokens_per_s":
                value = pending.tokens_per_s
            else:
                metric = KINDS[objective.name].rung_metric
                value = None if metric is None else metrics.get(metric)
            if value is None or not math.isfinite(float(value)):
                return None
            values.append(float(value))
        return values

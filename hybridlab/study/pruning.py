"""Early stopping of trials: cost-aware multi-objective asynchronous successive halving.

    pruner: {name: asha, min_steps: 90, reduction_factor: 3, min_trials: 3}

**Rungs.** A trial is evaluated at the rungs `min_steps · η^k` (k = 0, 1, ...) below
`train.steps`, η = `reduction_factor`. At each rung the driver decides, from what the trial
measured there, whether it trains on.

**The rule (`asha`).** A trial that reaches a rung is compared with every trial that reached
that rung before (in this study, across runs). Each is a vector of the study's objectives:
the learned ones (accuracy, loss, bits per byte; tokens/s as measured so far) as evaluated at
the rung, the analytic costs (params, state bytes, FLOPs) exact from the spec. The vectors are
ranked by non-dominated sorting; within a rank, by hypervolume contribution (the hypervolume
the layer loses without the point, in the study's normalised space with its reference point,
SMS-EMOA's rule), then by crowding distance (NSGA-II's), then by trial number (the earlier
first). The trial trains on if it is among the first
`max(1, ⌊n/η⌋)` of the `n` records at the rung; a rung with fewer than `min_trials` records
stops nobody. Decisions are asynchronous (nobody waits for a rung to fill) and a decision is
final.

This follows MO-ASHA (Schmucker, Donini, Zafar, Salinas, Archambeau 2021, "Multi-objective
Asynchronous Successive Halving"), which ranks the rung's records by non-dominated sorting with a
tie-break (they compare ε-net and NSGA-II crowding; hypervolume contribution separates the small
layers of an early rung, where crowding calls every point an extreme), on top of ASHA (Li et al.
2020). It departs in what it ranks: MO-ASHA measures every objective at the rung, as if all had to
be learned; here the costs are exact before a step is trained, so a cheap model with middling
quality sits on the rung's front and trains on where an expensive one of the same quality stops. The
cheapest model at a rung is never stopped while it is alone in its cost corner, as it would be on
the final front whatever its quality.

**One objective.** With a single (learned) objective Optuna's own pruners are available by name
(`median`, `successive_halving`, `hyperband`), fed the objective at the same rungs through
`trial.report`. `asha` also works with one objective (it is then plain ASHA).

**Records.** Each trial keeps its rung records in the user attr `rungs` ({step: [objective
values]}); a stopped trial is told PRUNED with `pruned_at_step`. A resumed study rebuilds the
rungs from the storage, so it decides as the first run would have. Trials interrupted or
retried after a fault are left out (their run again records the same values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridlab.config import SettingError
from hybridlab.pareto import rung_order

PRUNERS = ("none", "asha", "median", "successive_halving", "hyperband")
SINGLE_OBJECTIVE = ("median", "successive_halving", "hyperband")
# The settings each pruner reads besides its name; a study that sets another is refused. The
# rungs (min_steps · η^k) are where every pruner judges; median's first min_trials trials are
# never stopped (its n_startup_trials); Optuna's halving pruners count trials themselves.
OPTIONS = {
    "none": (),
    "asha": ("min_steps", "reduction_factor", "min_trials"),
    "median": ("min_steps", "reduction_factor", "min_trials"),
    "successive_halving": ("min_steps", "reduction_factor"),
    "hyperband": ("min_steps", "reduction_factor"),
}


@dataclass(kw_only=True)
class PrunerConfig:
    """The `pruner:` section (see the module docstring).

    Attributes:
        name: none (train every trial to the end), asha, or for one objective median,
            successive_halving, hyperband.
        min_steps: the first rung; None: `train.steps // η²`, raised past the learning-rate
            race when there is one.
        reduction_factor: η, the ratio between rungs and the fraction 1/η that trains on.
        min_trials: a rung stops nobody until it holds this many records; None: η.
    """

    name: str = "none"
    min_steps: int | None = None
    reduction_factor: int = 3
    min_trials: int | None = None

    @property
    def enabled(self) -> bool:
        return self.name != "none"

    def validate(self, train_steps: int, race_steps: int, learned: int, objectives: int) -> None:
        """Raise `SettingError` naming the setting that cannot work."""
        if self.name not in PRUNERS:
            raise SettingError(
                f"unknown pruner {self.name!r}; valid: {', '.join(PRUNERS)}", key="pruner.name"
            )
        if not self.enabled:
            return
        if learned == 0:
            raise SettingError(
                "no objective is learned (all are analytic costs): there is nothing to stop "
                "early on; use pruner.name=none",
                key="pruner.name",
            )
        if self.name in SINGLE_OBJECTIVE and objectives != 1:
            raise SettingError(
                f"Optuna's {self.name} pruner takes one objective and the study has "
                f"{objectives}; use asha",
                key="pruner.name",
            )
        eta = self.reduction_factor
        if not isinstance(eta, int) or isinstance(eta, bool) or eta < 2:
            raise SettingError(f"must be an int >= 2, got {eta!r}", key="pruner.reduction_factor")
        if self.min_trials is not None and self.min_trials < 1:
            raise SettingError(f"must be >= 1, got {self.min_trials}", key="pruner.min_trials")
        first = self.first_rung(train_steps, race_steps)
        if first <= race_steps:
            raise SettingError(
                f"{first} is within the learning-rate race ({race_steps} steps), where the "
                f"trial is not evaluated; use more than {race_steps}",
                key="pruner.min_steps",
            )
        if first >= train_steps:
            raise SettingError(
                f"the first rung ({first}) must come before the last step (train.steps = "
                f"{train_steps}), or nothing is ever stopped",
                key="pruner.min_steps",
            )

    def first_rung(self, train_steps: int, race_steps: int) -> int:
        if self.min_steps is not None:
            return self.min_steps
        return max(1, train_steps // self.reduction_factor**2, race_steps + 1)

    def rungs(self, train_steps: int, race_steps: int) -> list[int]:
        """The steps at which a trial is judged (`min_steps · η^k < train.steps`)."""
        if not self.enabled:
            return []
        step, out = self.first_rung(train_steps, race_steps), []
        while step < train_steps:
            out.append(step)
            step *= self.reduction_factor
        return out


class Asha:
    """The rung records of a study and the rule of the module docstring.

    Args:
        rungs: the rung steps.
        directions: each objective's direction (minimize/maximize).
        refs: the study's hypervolume reference values (`hybridlab.pareto.hypervolume`).
        reduction_factor: η.
        min_trials: records a rung needs before it stops anyone.

    Example (accuracy against params, reference 0 and 1000):
        >>> asha = Asha([10, 30], ["maximize", "minimize"], [0.0, 1000.0],
        ...             reduction_factor=2, min_trials=2)
        >>> asha.decide(0, 10, [0.5, 100.0]), asha.decide(1, 10, [0.4, 200.0])
        (True, False)
        >>> asha.decide(2, 10, [0.48, 10.0]), asha.decide(3, 10, [0.35, 500.0])
        (True, False)

        Trial 2 is a little worse than 0 but ten times cheaper: it is on the rung's front with
        0 and adds more hypervolume than 0 does, so it is the one of ⌊3/2⌋ kept; 3 is dominated.
    """

    def __init__(
        self,
        rungs: Sequence[int],
        directions: Sequence[str],
        refs: Sequence[float],
        *,
        reduction_factor: int,
        min_trials: int,
    ) -> None:
        self.rungs = list(rungs)
        self.directions = list(directions)
        self.refs = list(refs)
        self.eta = reduction_factor
        self.min_trials = min_trials
        self.records: dict[int, dict[int, list[float]]] = {step: {} for step in self.rungs}

    def load(self, number: int, rungs: Mapping[Any, Sequence[float]]) -> None:
        """Add a trial's stored records ({step: values}; JSON keys are strings)."""
        for step, values in rungs.items():
            if int(step) in self.records:
                self.records[int(step)][number] = [float(v) for v in values]

    def decide(self, number: int, step: int, values: Sequence[float]) -> bool:
        """Record `values` for trial `number` at rung `step`; whether it trains on."""
        table = self.records[step]
        table[number] = [float(v) for v in values]
        n = len(table)
        if n < self.min_trials:
            return True
        keep = max(1, n // self.eta)
        return number in rung_order(table, self.directions, self.refs)[:keep]


def optuna_pruner(config: PrunerConfig, rungs: Sequence[int], train_steps: int) -> Any:
    """Optuna's pruner of that name, on the study's rungs."""
    import optuna

    eta, first = config.reduction_factor, rungs[0]
    if config.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=config.min_trials or eta, n_warmup_steps=first - 1
        )
    if config.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=eta)
    return optuna.pruners.HyperbandPruner(
        min_resource=first, max_resource=train_steps, reduction_factor=eta
    )

"""Seed noise: the front's trials trained again under more seeds, and what the spread means.

`budget.front_seeds: k` (or the override `budget.front_seeds=k` on a finished study) trains
every front trial again with `train.seed + 1 … train.seed + k` once the trial budget is spent.
The runs go through the study's executor like trials (in parallel on Ray) but are not Optuna
trials: samplers never see them and the front is still Optuna's. Their values are kept in the
study's user attribute `seeds` (`{"<trial number>": [{"seed": s, "values": {label: v}}, ...]}`),
so a resumed study trains only the seeds it is missing.

For each front trial and measured objective the mean and the sample standard deviation over
its n = k + 1 runs (the trial itself included) are reported, and a front trial within noise of
a cheaper one is flagged (`hybridlab.pareto.noise` has the rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hybridlab.execution import Executor, TrialRequest
from hybridlab.execution.batch import run_batch
from hybridlab.study.attrs import TrialAttr
from hybridlab.study.requests import measured_values, trial_request

if TYPE_CHECKING:
    from hybridlab.study.config import StudyPlan

SEEDS_ATTR = "seeds"


def missing_seeds(recorded: Sequence[Mapping[str, Any]], base_seed: int, k: int) -> list[int]:
    """The seeds `base_seed + 1 … base_seed + k` not yet in `recorded`."""
    done = {int(run["seed"]) for run in recorded}
    return [base_seed + i for i in range(1, k + 1) if base_seed + i not in done]


def train_front_seeds(study: Any, plan: StudyPlan, executor: Executor) -> None:
    """Train every front trial of `study` again under the seeds of `budget.front_seeds` it is
    missing, recording each run in the study's user attribute `seeds` as it ends."""
    k = plan.budget.front_seeds
    recorded: dict[str, list[dict[str, Any]]] = dict(study.user_attrs.get(SEEDS_ATTR, {}))
    # A repeated architecture (duplicate_of) shares the seed runs of the trial it repeats.
    front = [
        t
        for t in sorted(study.best_trials, key=lambda t: t.number)
        if t.user_attrs.get(TrialAttr.DUPLICATE_OF) is None
    ]
    todo = [
        (trial, seed)
        for trial in front
        for seed in missing_seeds(recorded.get(str(trial.number), []), plan.train.seed, k)
    ]
    # Seed runs have negative numbers: executors key runs by number, trials own the rest.
    of_request: dict[int, tuple[Any, int]] = {}
    requests: list[TrialRequest] = []
    for index, (trial, seed) in enumerate(todo):
        number = -1 - index
        of_request[number] = (trial, seed)
        requests.append(trial_request(plan, number, trial.user_attrs[TrialAttr.SPEC], seed))

    def done(request: TrialRequest, result: dict[str, Any]) -> None:
        trial, seed = of_request[request.number]
        runs = recorded.setdefault(str(trial.number), [])
        runs.append({"seed": seed, "values": measured_values(plan, result)})
        study.set_user_attr(SEEDS_ATTR, recorded)

    run_batch(executor, requests, done)

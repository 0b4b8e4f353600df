"""Multi-objective architecture studies: the study file, objectives, samplers, storage, the
ask/tell driver and the front.

    from hybridlab.study import load_plan, run_study
    summary = run_study(load_plan("studies/quickstart.yaml", ["budget.trials=4"]))

Modules: `config` (study files → a validated `StudyPlan`, plain data), `objectives` (one row per
objective), `requests` (what a run trains, what its result is worth), `samplers` (and `grid`),
`storage` (the Optuna study on disk or in a database, the lock, crash and torn-journal
recovery), `fingerprint` (the measuring settings fixed at creation), `driver` (the ask/tell
loop) and beside it `reuse`, `retries`, `rungs` (the pruner's judging; `pruning` has the rule:
cost-aware multi-objective ASHA, Optuna's pruners for one objective), `seed_runs` (the front
trained again under more seeds), `recovery` (trackers catch up with the storage), `pending`;
`front` (the front read from Optuna), `handoff` (the front exported to transformers or
Megatron-LM), `interrupts` (a signal waits for a journal write to end), `attrs` (the names of
the study's records in Optuna). The arithmetic of fronts is `hybridlab.pareto`, validation at a
higher fidelity `hybridlab.validation`, the space `hybridlab.space`, where trials run
`hybridlab.execution`, where results are logged `hybridlab.tracking`. Optuna is imported only
when a study is opened, so importing this package does not import it.
"""

from hybridlab.config import StudyConfigError
from hybridlab.study.config import BudgetConfig, StudyPlan, load_plan
from hybridlab.study.driver import RunSummary, StudyFailed, run_study

__all__ = [
    "BudgetConfig",
    "RunSummary",
    "StudyConfigError",
    "StudyFailed",
    "StudyPlan",
    "load_plan",
    "run_study",
]

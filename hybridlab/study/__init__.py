"""Multi-objective architecture studies: the study file, objectives, samplers, storage, the
ask/tell driver and the front.

    from hybridlab.study import load_plan, run_study
    summary = run_study(load_plan("studies/quickstart.yaml", ["budget.trials=4"]))

Modules: `config` (study files → a validated `StudyPlan`), `objectives`, `samplers` (and
`grid`), `storage` (the Optuna study on disk or in a database, the lock, crash recovery),
`driver` (the ask/tell loop), `front` (dominance, non-dominated ranks, hypervolume), `seeds`
(the front trained again under more seeds, and what is within noise), `pruning` (the
`pruner:` section: cost-aware multi-objective ASHA, Optuna's pruners for one objective),
`interrupts` (a signal waits for a journal write to end), `attrs` (the names of the study's
records in Optuna); validation at a higher fidelity: `validate` (what runs, what is recorded),
`fidelity` (the overrides), `selection` (which trials), `ranking` (rank correlations, bootstrap
intervals), `validation_report`. The space is `hybridlab.space`, where trials run
is `hybridlab.execution`, where results are logged is `hybridlab.tracking`. Optuna is imported
only when a study is opened, so importing this package does not import it.
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

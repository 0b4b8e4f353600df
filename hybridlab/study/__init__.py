"""Multi-objective architecture search: spaces, study files, the driver, executors, the front.

    from hybridlab.search import load_plan, run_study
    summary = run_study(load_plan("studies/quickstart.yaml", ["budget.trials=4"]))

Modules: `knobs` and `space` (search-space YAML → sampled specs), `layout` (depth, attention
ratio and placement → a stack), `expressions` (safe constraints), `config` (study files),
`objectives`, `samplers`, `store` (Optuna storage, locking, crash recovery), `runner` (the
ask/tell loop), `executor` and `worker` (where trials run), `tracker` (the tracking interface),
`pareto` and `hypervolume`. Optuna is imported only when a study is opened, so importing
this package (and `hybridlab`) does not import it.
"""

from hybridlab.search.config import StudyPlan, load_plan
from hybridlab.search.errors import InfeasibleSample, StudyConfigError
from hybridlab.search.executor import Executor, InlineExecutor
from hybridlab.search.runner import RunSummary, StudyFailed, run_study
from hybridlab.search.tracker import Tracker, TrialRecord

__all__ = [
    "Executor",
    "InfeasibleSample",
    "InlineExecutor",
    "RunSummary",
    "StudyConfigError",
    "StudyFailed",
    "StudyPlan",
    "Tracker",
    "TrialRecord",
    "load_plan",
    "run_study",
]

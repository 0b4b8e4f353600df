"""Search spaces: YAML knobs and a model template → sampled, checked `ModelSpec`s.

    from hybridlab.config import load_yaml
    from hybridlab.space import load_space
    space = load_space(load_yaml("search_spaces/hybrid_small.yaml", what="space"))

Modules: `knobs` (sampling leaves, constants, conditional groups), `expressions` (safe
constraint and `when` expressions, never `eval`), `layout` (depth, attention ratio and placement
→ a stack), `costs` (the analytic costs by name, the one table constraints and objectives
read), `space` (the space file, its template and constraints), `errors` (`InfeasibleSample`).
Imports no Optuna: anything with `suggest_*` methods (an `optuna.Trial`) samples a space.
"""

from hybridlab.space.costs import ANALYTIC_COSTS, CONSTRAINT_NAMES, AnalyticCost
from hybridlab.space.errors import InfeasibleSample
from hybridlab.space.knobs import Choice, FloatRange, IntRange, RandomSuggester, Suggester, leaves
from hybridlab.space.space import Proposal, SearchSpace, load_space

__all__ = [
    "ANALYTIC_COSTS",
    "CONSTRAINT_NAMES",
    "AnalyticCost",
    "Choice",
    "FloatRange",
    "InfeasibleSample",
    "IntRange",
    "Proposal",
    "RandomSuggester",
    "SearchSpace",
    "Suggester",
    "leaves",
    "load_space",
]

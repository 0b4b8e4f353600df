"""Multi-objective arithmetic on plain objective vectors: no Optuna, no torch, no study.

Modules: `dominance` (who dominates whom, non-dominated sorting ranks), `hypervolume` (the
hypervolume, the normalised space a study measures it in, each point's contribution),
`crowding` (NSGA-II's crowding distance and the order a rung ranks its records in), `noise`
(mean and spread over seeds, and when two trials are within noise of each other).

The study (its front and hypervolume), the pruner (its rungs), the seed runs, validation
(which trials to train again) and tracking (the ranks it tags) all compute with these
functions, so each rule is written once. Objective vectors are sequences of floats with a
direction per objective, "minimize" or "maximize".
"""

from hybridlab.pareto.crowding import crowding_distance, rung_order
from hybridlab.pareto.dominance import as_good, dominates, nondominated, nondominated_ranks
from hybridlab.pareto.hypervolume import (
    hypervolume,
    hypervolume_contributions,
    normalise,
    study_hypervolume,
)
from hybridlab.pareto.noise import (
    SeedSummary,
    Spread,
    flag_within_noise,
    spread,
    summarise,
    within_noise,
)

__all__ = [
    "SeedSummary",
    "Spread",
    "as_good",
    "crowding_distance",
    "dominates",
    "flag_within_noise",
    "hypervolume",
    "hypervolume_contributions",
    "nondominated",
    "nondominated_ranks",
    "normalise",
    "rung_order",
    "spread",
    "study_hypervolume",
    "summarise",
    "within_noise",
]

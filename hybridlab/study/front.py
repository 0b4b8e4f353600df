"""A study's front as the trackers and `study pareto` see it: read from the Optuna study.

The front is the set of complete trials no other dominates (Optuna's `study.best_trials`); the
arithmetic (dominance, ranks, hypervolume, seed noise) is `hybridlab.pareto`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybridlab.pareto import SeedSummary, nondominated_ranks, summarise
from hybridlab.study.attrs import StudyAttr, TrialAttr
from hybridlab.study.seed_runs import SEEDS_ATTR
from hybridlab.tracking import FrontPoint, FrontUpdate, Outcome


def outcome_counts(study: Any) -> dict[str, int]:
    """How many of the study's finished trials ended each way: complete, failed (faults
    retried included), pruned, infeasible, interrupted."""
    counts = dict.fromkeys(
        (Outcome.COMPLETE, Outcome.FAILED, Outcome.PRUNED, Outcome.INFEASIBLE, Outcome.INTERRUPTED),
        0,
    )
    for trial in study.get_trials(deepcopy=False):
        outcome = trial.user_attrs.get(TrialAttr.OUTCOME)
        if outcome in counts:
            counts[outcome] += 1
    return {str(k): v for k, v in counts.items()}


def study_front(study: Any, labels: Sequence[str]) -> list[FrontPoint]:
    """The front of an Optuna study (`best_trials`), sorted by trial number."""
    front = []
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        attrs = trial.user_attrs
        front.append(
            FrontPoint(
                number=trial.number,
                values=dict(zip(labels, trial.values, strict=True)),
                params=dict(trial.params),
                stack=attrs.get(TrialAttr.STACK, ""),
                pattern=attrs.get(TrialAttr.PATTERN, ""),
                spec=attrs.get(TrialAttr.SPEC, {}),
                duplicate_of=attrs.get(TrialAttr.DUPLICATE_OF),
            )
        )
    return front


def front_update(
    study: Any, labels: Sequence[str], directions: Sequence[str], measured: Sequence[str]
) -> FrontUpdate:
    """The front, every complete trial's rank, the stored hypervolume and the front's seed
    noise (`measured`: the labels of the measured objectives), for the trackers."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    front = study_front(study, labels)
    noise = seed_summary(study, front, labels, directions, measured)
    return FrontUpdate(
        front=front,
        ranks=nondominated_ranks({t.number: t.values for t in complete}, directions),
        hypervolume=study.user_attrs.get(StudyAttr.HYPERVOLUME),
        spread={
            n: {label: (s.mean, s.std, s.n) for label, s in by_label.items()}
            for n, by_label in noise.spread.items()
        },
        within_noise_of=noise.within_noise_of,
    )


def seed_summary(
    study: Any,
    front: Sequence[FrontPoint],
    labels: Sequence[str],
    directions: Sequence[str],
    measured: Sequence[str],
) -> SeedSummary:
    """The seed noise of the front trials that were trained again (`budget.front_seeds`)."""
    runs = {int(n): list(r) for n, r in study.user_attrs.get(SEEDS_ATTR, {}).items()}
    seeded = {p.number: p.values for p in front if runs.get(p.number)}
    summary = summarise(
        seeded,
        runs,
        measured=list(measured),
        analytic=[label for label in labels if label not in measured],
        directions=dict(zip(labels, directions, strict=True)),
    )
    # A repeated architecture (duplicate_of) is its original: the same runs, the same flag.
    for point in front:
        original = point.duplicate_of
        if point.number not in summary.spread and original in summary.spread:
            summary.spread[point.number] = summary.spread[original]
            if original in summary.within_noise_of:
                summary.within_noise_of[point.number] = summary.within_noise_of[original]
    return summary

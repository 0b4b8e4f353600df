"""A study's front as the trackers and `study pareto` see it: read from the Optuna study.

The front is the set of complete trials no other dominates (Optuna's `study.best_trials`); the
arithmetic (dominance, ranks, hypervolume, seed noise) is `hybridlab.pareto`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybridlab.pareto import SeedSummary, Spread, flag_within_noise, nondominated_ranks, summarise
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
    study: Any,
    labels: Sequence[str],
    directions: Sequence[str],
    measured: Sequence[str],
    names: Mapping[str, str] | None = None,
) -> FrontUpdate:
    """The front, every complete trial's rank, the stored hypervolume and the front's seed
    noise (`measured`: the labels of the measured objectives; `names`: label → the result
    field it reads, where they differ), for the trackers."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    front = study_front(study, labels)
    noise = seed_summary(study, front, labels, directions, measured, names)
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
    names: Mapping[str, str] | None = None,
) -> SeedSummary:
    """The seed noise of the front trials: of a trial trained under several seeds
    (`train.seeds`: its own spread over them), else of its runs under more seeds
    (`budget.front_seeds`); and which front trial each is within noise of."""
    runs = {int(n): list(r) for n, r in study.user_attrs.get(SEEDS_ATTR, {}).items()}
    seeded = {p.number: p.values for p in front if runs.get(p.number)}
    summary = summarise(
        seeded,
        runs,
        measured=list(measured),
        analytic=[label for label in labels if label not in measured],
        directions=dict(zip(labels, directions, strict=True)),
    )
    names = names or {}
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    for point in front:
        own = by_number[point.number].user_attrs.get(TrialAttr.SPREAD) or {}
        from_seeds = {
            label: Spread(
                float(s["mean"]),
                float(s["std"]),
                int(s["n"]),
                None if s.get("best") is None else float(s["best"]),
            )
            for label in measured
            if (s := own.get(names.get(label, label))) is not None
        }
        if from_seeds:
            summary.spread[point.number] = from_seeds
    # A repeated architecture (duplicate_of) is its original: the same runs, the same spread.
    for point in front:
        original = point.duplicate_of
        if point.number not in summary.spread and original in summary.spread:
            summary.spread[point.number] = summary.spread[original]
    summary.within_noise_of = flag_within_noise(
        {p.number: p.values for p in front},
        summary.spread,
        list(measured),
        [label for label in labels if label not in measured],
        dict(zip(labels, directions, strict=True)),
    )
    return summary

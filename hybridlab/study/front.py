"""The front of a study: dominance, non-dominated sorting ranks, the hypervolume.

A trial dominates another when it is at least as good in every objective (in each objective's
direction) and better in one; the front is the set of completed trials no other dominates
(Optuna's `study.best_trials`), and non-dominated sorting peels the rest into ranks 2, 3, ...

Hypervolume: with every objective turned into one to minimise, the hypervolume of points P with
reference point r is the Lebesgue measure of the union of the boxes [p, r] over the p in P that
are strictly better than r in every objective. Points not better than r add nothing, and neither
do dominated points, so a study's hypervolume is that of its front.

hybridlab's study hypervolume (`study_hypervolume`) is taken in a normalised space: objective i
with direction d_i and reference value ref_i maps a value v to s_i·v / |ref_i| (s_i = +1 to
minimise, −1 to maximise; the division is skipped when ref_i = 0). For accuracy (ref 0,
maximise) the axis is the accuracy itself; for a cost c with ref R it is c/R, so each factor is
the fraction of the way from the reference to zero. The default references are listed in
`hybridlab.study.objectives`; they are fixed when the study is created and stored in the
study's user attribute `hv_reference`, so the hypervolume never decreases as trials are added.

Algorithm: sweep along the last objective, summing slab thickness × the hypervolume of the
points in the slab in one dimension fewer (HSO); 2-D is a sort and a sweep. O(n^(d−1) log n),
plenty for fronts of tens or hundreds of trials.

Example:
    >>> hypervolume([(1.0, 2.0), (2.0, 1.0)], (3.0, 3.0))
    3.0
    >>> study_hypervolume([[0.5, 100.0]], ["maximize", "minimize"], [0.0, 200.0])
    0.25
    >>> nondominated_ranks({0: [1.0, 1.0], 1: [2.0, 2.0], 2: [0.5, 3.0]}, ["minimize"] * 2)
    {0: 1, 2: 1, 1: 2}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybridlab.study.attrs import StudyAttr, TrialAttr
from hybridlab.study.seeds import SEEDS_ATTR, SeedSummary, summarise
from hybridlab.tracking import FrontPoint, FrontUpdate, Outcome


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether objective vector `a` dominates `b`."""
    better = False
    for x, y, d in zip(a, b, directions, strict=True):
        if d == "maximize":
            x, y = -x, -y
        if x > y:
            return False
        better = better or x < y
    return better


def nondominated(values: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of the vectors in `values` that no other vector dominates (O(n²))."""
    ranks = nondominated_ranks(dict(enumerate(values)), directions)
    return [i for i, rank in ranks.items() if rank == 1]


def nondominated_ranks(
    values: Mapping[int, Sequence[float]], directions: Sequence[str]
) -> dict[int, int]:
    """Non-dominated sorting: rank 1 is what nothing dominates, rank k + 1 what nothing but
    ranks ≤ k dominates (O(n²) per rank). Keys are kept; the result lists rank 1 first."""
    ranks: dict[int, int] = {}
    rest = dict(values)
    rank = 1
    while rest:
        layer = [
            n
            for n, v in rest.items()
            if not any(dominates(w, v, directions) for m, w in rest.items() if m != n)
        ]
        for n in layer:
            ranks[n] = rank
            del rest[n]
        rank += 1
    return ranks


def hypervolume(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """Hypervolume dominated by `points` (all objectives minimised) up to `ref`."""
    dim = len(ref)
    pts = [tuple(float(v) for v in p) for p in points]
    for p in pts:
        if len(p) != dim:
            raise ValueError(f"point {p} has {len(p)} objectives, the reference has {dim}")
    pts = [p for p in pts if all(v < r for v, r in zip(p, ref, strict=True))]
    return _hv(pts, tuple(float(r) for r in ref))


def _hv(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    if len(ref) == 2:
        total, best_y = 0.0, ref[1]
        for x, y in sorted(points):
            if y < best_y:
                total += (ref[0] - x) * (best_y - y)
                best_y = y
        return total
    ordered = sorted(points, key=lambda p: p[-1])
    total = 0.0
    for i, point in enumerate(ordered):
        upper = ordered[i + 1][-1] if i + 1 < len(ordered) else ref[-1]
        if upper > point[-1]:
            total += (upper - point[-1]) * _hv([p[:-1] for p in ordered[: i + 1]], ref[:-1])
    return total


def normalise(
    values: Sequence[float], directions: Sequence[str], refs: Sequence[float]
) -> tuple[float, ...]:
    """`values` in the normalised minimisation space of the module docstring."""
    out = []
    for v, d, r in zip(values, directions, refs, strict=True):
        sign = 1.0 if d == "minimize" else -1.0
        out.append(sign * v / (abs(r) if r != 0 else 1.0))
    return tuple(out)


def study_hypervolume(
    values: Sequence[Sequence[float]], directions: Sequence[str], refs: Sequence[float]
) -> float:
    """The normalised hypervolume of trials' objective `values` (see the module docstring)."""
    points = [normalise(v, directions, refs) for v in values]
    return hypervolume(points, normalise(refs, directions, refs))


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

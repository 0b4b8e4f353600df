"""The hypervolume, in the normalised space a study measures it in.

With every objective turned into one to minimise, the hypervolume of points P with reference
point r is the Lebesgue measure of the union of the boxes [p, r] over the p in P that are
strictly better than r in every objective. Points not better than r add nothing, and neither
do dominated points, so a study's hypervolume is that of its front.

A study's hypervolume (`study_hypervolume`) is taken in a normalised space: objective i with
direction d_i and reference value ref_i maps a value v to s_i·v / |ref_i| (s_i = +1 to
minimise, −1 to maximise; the division is skipped when ref_i = 0). For accuracy (ref 0,
maximise) the axis is the accuracy itself; for a cost c with ref R it is c/R, so each factor is
the fraction of the way from the reference to zero. The study fixes the references when it is
created (`hybridlab.study.objectives` lists the defaults), so its hypervolume never decreases
as trials are added.

Algorithm: sweep along the last objective, summing slab thickness × the hypervolume of the
points in the slab in one dimension fewer (HSO); 2-D is a sort and a sweep. O(n^(d−1) log n),
plenty for fronts of tens or hundreds of trials.

Example:
    >>> hypervolume([(1.0, 2.0), (2.0, 1.0)], (3.0, 3.0))
    3.0
    >>> study_hypervolume([[0.5, 100.0]], ["maximize", "minimize"], [0.0, 200.0])
    0.25
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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
    """The normalised hypervolume of objective `values` (see the module docstring)."""
    points = [normalise(v, directions, refs) for v in values]
    return hypervolume(points, normalise(refs, directions, refs))


def hypervolume_contributions(
    layer: Mapping[int, Sequence[float]], ref: Sequence[float]
) -> dict[int, float]:
    """The hypervolume each point of a non-dominated layer adds (all objectives minimised)."""
    total = hypervolume(list(layer.values()), ref)
    return {n: total - hypervolume([v for m, v in layer.items() if m != n], ref) for n in layer}

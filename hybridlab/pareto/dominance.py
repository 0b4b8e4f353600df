"""Dominance and non-dominated sorting.

A vector dominates another when it is at least as good in every objective (in each objective's
direction) and better in one; the front is the set of vectors no other dominates, and
non-dominated sorting peels the rest into ranks 2, 3, ...

Example:
    >>> nondominated_ranks({0: [1.0, 1.0], 1: [2.0, 2.0], 2: [0.5, 3.0]}, ["minimize"] * 2)
    {0: 1, 2: 1, 1: 2}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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


def as_good(
    a: Mapping[str, float],
    b: Mapping[str, float],
    labels: Sequence[str],
    directions: Mapping[str, str],
) -> bool:
    """Whether `a` is at least as good as `b` in every objective of `labels` (by label)."""
    for label in labels:
        x, y = a[label], b[label]
        if directions[label] == "maximize":
            x, y = -x, -y
        if x > y:
            return False
    return True


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

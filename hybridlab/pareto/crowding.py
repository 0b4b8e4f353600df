"""Crowding distance, and the order in which a pruner's rung ranks its records.

`rung_order` ranks objective vectors by non-dominated rank; within a rank by hypervolume
contribution (the hypervolume the rank loses without the point, in the normalised space of
`hybridlab.pareto.hypervolume`: SMS-EMOA's rule), then by crowding distance (NSGA-II's), then
by key (the earlier first). `hybridlab.study.pruning` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from hybridlab.pareto.dominance import nondominated_ranks
from hybridlab.pareto.hypervolume import hypervolume_contributions, normalise


def rung_order(
    table: Mapping[int, Sequence[float]], directions: Sequence[str], refs: Sequence[float]
) -> list[int]:
    """Keys of `table` best first: non-dominated rank, then hypervolume contribution within
    the rank, then crowding distance, then key."""
    ranks = nondominated_ranks(table, directions)
    points = {n: normalise(v, directions, refs) for n, v in table.items()}
    ref = normalise(refs, directions, refs)
    contribution: dict[int, float] = {}
    crowding: dict[int, float] = {}
    for rank in set(ranks.values()):
        layer = {n: points[n] for n, r in ranks.items() if r == rank}
        contribution.update(hypervolume_contributions(layer, ref))
        crowding.update(crowding_distance(layer))
    return sorted(table, key=lambda n: (ranks[n], -contribution[n], -crowding[n], n))


def crowding_distance(layer: Mapping[int, Sequence[float]]) -> dict[int, float]:
    """NSGA-II's crowding distance of each point of one non-dominated layer: per objective,
    the gap between its neighbours over the layer's range, summed; the extremes get infinity."""
    distance = dict.fromkeys(layer, 0.0)
    if len(layer) <= 2:
        return dict.fromkeys(layer, math.inf)
    dims = len(next(iter(layer.values())))
    for i in range(dims):
        ordered = sorted(layer, key=lambda n: (layer[n][i], n))
        low, high = layer[ordered[0]][i], layer[ordered[-1]][i]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, n, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            distance[n] += (layer[after][i] - layer[before][i]) / (high - low)
    return distance

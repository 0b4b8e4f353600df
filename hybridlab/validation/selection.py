"""Which trials a validation trains again: the front (or its K best) and a stratified sample of
the dominated trials.

- The front: the trials no other dominates (rank 1). With `top=K` smaller than the front, the K
  chosen greedily by hypervolume: each next one adds the most to the hypervolume of those
  already chosen (ties: the lower trial number), so the K spread along the front, its extremes
  first, rather than crowding at the best accuracy.
- The sample: `sample=M` dominated trials spread over the non-dominated ranks 2, 3, ...: in
  each round every rank with trials left gives one, picked at random within the rank; when
  fewer are wanted than ranks have trials left, the ranks are taken evenly spaced (M = 2 of
  ranks 2..9 takes ranks 4 and 8). Seeded: the same study and seed give the same sample.

Example:
    >>> values = {0: [0.9, 10.0], 1: [0.5, 1.0], 2: [0.4, 5.0], 3: [0.3, 9.0]}
    >>> s = select_trials(values, ["maximize", "minimize"], [0.0, 20.0], top=None, sample=1)
    >>> s.front, s.ranks[2]
    ([0, 1], 2)
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hybridlab.pareto import nondominated_ranks, study_hypervolume


@dataclass
class Selection:
    """The trials chosen, by number.

    Attributes:
        front: the front trials chosen (all of the front, by number; or the K greedy ones, in
            the order they were chosen).
        sampled: the dominated trials chosen, by rank then number.
        ranks: every candidate's non-dominated sorting rank (1 = the front).
    """

    front: list[int]
    sampled: list[int]
    ranks: dict[int, int]

    @property
    def numbers(self) -> list[int]:
        return [*self.front, *self.sampled]

    @property
    def front_size(self) -> int:
        return sum(rank == 1 for rank in self.ranks.values())


def select_trials(
    values: Mapping[int, Sequence[float]],
    directions: Sequence[str],
    refs: Sequence[float],
    *,
    top: int | None,
    sample: int | None,
    seed: int = 0,
) -> Selection:
    """Choose among candidates (`values`: trial number → objective values).

    Args:
        values: the candidates' objective values (complete trials, repeats left out).
        directions, refs: the study's objective directions and hypervolume reference.
        top: how many front trials (None: all).
        sample: how many dominated trials (None: as many as the front trials chosen).
        seed: for the random picks within a rank.
    """
    ranks = nondominated_ranks(values, directions)
    front = sorted(n for n, rank in ranks.items() if rank == 1)
    if top is not None and top < len(front):
        front = _greedy_hypervolume(front, values, directions, refs, top)
    wanted = len(front) if sample is None else sample
    return Selection(front, _stratified(ranks, wanted, seed), ranks)


def _greedy_hypervolume(
    front: list[int],
    values: Mapping[int, Sequence[float]],
    directions: Sequence[str],
    refs: Sequence[float],
    k: int,
) -> list[int]:
    chosen: list[int] = []
    rest = list(front)
    while rest and len(chosen) < k:

        def gain(n: int) -> tuple[float, int]:
            points = [values[m] for m in [*chosen, n]]
            return study_hypervolume(points, directions, refs), -n

        best = max(rest, key=gain)
        chosen.append(best)
        rest.remove(best)
    return chosen


def _stratified(ranks: Mapping[int, int], wanted: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    pools: dict[int, list[int]] = {}
    for number in sorted(ranks):
        if ranks[number] > 1:
            pools.setdefault(ranks[number], []).append(number)
    for rank in sorted(pools):
        rng.shuffle(pools[rank])
    picked: list[tuple[int, int]] = []
    while len(picked) < wanted:
        open_ranks = [rank for rank in sorted(pools) if pools[rank]]
        if not open_ranks:
            break
        need = wanted - len(picked)
        if need < len(open_ranks):
            open_ranks = [open_ranks[int((j + 0.5) * len(open_ranks) / need)] for j in range(need)]
        picked.extend((rank, pools[rank].pop()) for rank in open_ranks)
    return [number for _, number in sorted(picked)]

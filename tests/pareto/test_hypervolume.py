"""Hypervolume against a brute-force union of boxes; the study's normalisation."""

from __future__ import annotations

import itertools
import random

import optuna
import pytest

from hybridlab.pareto import hypervolume, normalise, study_hypervolume


def brute_force_hypervolume(points, ref):
    """Volume of the union of boxes [p, ref]: sum the grid cells (cut at every coordinate)
    whose lower corner some point dominates."""
    dim = len(ref)
    points = [p for p in points if all(v < r for v, r in zip(p, ref, strict=True))]
    axes = [sorted({p[i] for p in points} | {ref[i]}) for i in range(dim)]
    total = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        lower = [axes[i][c] for i, c in enumerate(cell)]
        if any(all(p[i] <= lower[i] for i in range(dim)) for p in points):
            volume = 1.0
            for i, c in enumerate(cell):
                volume *= axes[i][c + 1] - axes[i][c]
            total += volume
    return total


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_hypervolume_matches_brute_force(dim, seed):
    rng = random.Random(seed)
    n = rng.randint(1, 9 if dim < 4 else 6)
    # Integer grids make ties and duplicates likely; floats the general case.
    if seed % 2:
        points = [tuple(rng.randint(0, 5) for _ in range(dim)) for _ in range(n)]
        ref = tuple([5] * dim)
    else:
        points = [tuple(rng.random() for _ in range(dim)) for _ in range(n)]
        ref = tuple([1.1] * dim)
    assert hypervolume(points, ref) == pytest.approx(brute_force_hypervolume(points, ref))


def test_hypervolume_edge_cases():
    assert hypervolume([], (1.0, 1.0)) == 0.0
    assert hypervolume([(2.0, 0.0)], (1.0, 1.0)) == 0.0  # outside the reference
    assert hypervolume([(0.0, 0.0), (0.0, 0.0)], (1.0, 2.0)) == 2.0  # duplicates count once
    with pytest.raises(ValueError, match="objectives"):
        hypervolume([(0.0,)], (1.0, 1.0))


def test_matches_optunas_own_hypervolume():
    from optuna._hypervolume import compute_hypervolume

    rng = random.Random(0)
    points = [[rng.random() for _ in range(3)] for _ in range(30)]
    import numpy as np

    expected = compute_hypervolume(np.array(points), np.array([1.0, 1.0, 1.0]))
    assert hypervolume(points, (1.0, 1.0, 1.0)) == pytest.approx(expected)


def test_study_normalisation_and_monotonicity():
    directions = ["maximize", "minimize", "minimize"]
    refs = [0.0, 1000.0, 500.0]
    # accuracy 0.5, half the reference params, a fifth of the reference state: 0.5·0.5·0.8.
    assert study_hypervolume([[0.5, 500.0, 100.0]], directions, refs) == pytest.approx(0.2)
    assert normalise([0.5, 500.0, 100.0], directions, refs) == (-0.5, 0.5, 0.2)
    rng = random.Random(1)
    values, last = [], 0.0
    for _ in range(25):
        values.append([rng.random(), rng.uniform(0, 1200), rng.uniform(0, 600)])
        hv = study_hypervolume(values, directions, refs)
        assert hv >= last - 1e-12
        last = hv
    assert 0 < last <= 1


optuna.logging.set_verbosity(optuna.logging.WARNING)

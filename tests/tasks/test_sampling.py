"""Draws without replacement: distinct, uniform when unweighted, in draw order when weighted."""

import numpy as np
import pytest

from hybridlab.tasks.sampling import sample_without_replacement


@pytest.mark.parametrize(
    ("population", "k"),
    [pytest.param(10, 3, id="gumbel-path"), pytest.param(1000, 4, id="rejection-path")],
)
def test_distinct_and_uniform(population, k):
    rng = np.random.default_rng(0)
    draws = sample_without_replacement(rng, 20_000, population, k)
    assert draws.shape == (20_000, k) and draws.min() >= 0 and draws.max() < population
    assert all(len(set(row)) == k for row in draws[:2000])
    if population == 10:
        # Every position of the draw is uniform over the population.
        for col in range(k):
            freq = np.bincount(draws[:, col], minlength=population) / len(draws)
            assert np.abs(freq - 1 / population).max() < 0.01
    else:
        assert abs(draws.mean() - (population - 1) / 2) < 5


def test_first_draw_follows_the_weights():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    draws = sample_without_replacement(rng, 20_000, 4, 2, log_weights=np.log(p))
    freq = np.bincount(draws[:, 0], minlength=4) / len(draws)
    assert np.abs(freq - p).max() < 0.015
    # Second draw given the first is item 0: p renormalised over the rest.
    second = draws[draws[:, 0] == 0, 1]
    freq2 = np.bincount(second, minlength=4)[1:] / len(second)
    assert np.abs(freq2 - p[1:] / p[1:].sum()).max() < 0.02


def test_impossible_draw_is_a_value_error():
    with pytest.raises(ValueError, match="cannot draw 5 distinct items from a population of 4"):
        sample_without_replacement(np.random.default_rng(0), 1, 4, 5)

"""Vectorised sampling helpers shared by the task generators.

Every generator draws from a `numpy.random.Generator` it is handed, so a task's data are a pure
function of its seed. Shapes: N rows (examples), k draws per row.
"""

from __future__ import annotations

import numpy as np

# Rows are processed in chunks so that an (N, population) score matrix stays below this many
# elements (about 32 MiB of float64).
_MAX_SCORE_ELEMENTS = 1 << 22


def sample_without_replacement(
    rng: np.random.Generator,
    num_rows: int,
    population: int,
    k: int,
    *,
    log_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Draw k distinct indices from range(population) for each of num_rows rows.

    With `log_weights` (shape (population,)), the draws follow successive sampling without
    replacement with p(i) ∝ exp(log_weights[i]) — the law of `numpy.random.choice(population, k,
    replace=False, p=...)` — through the Gumbel-top-k trick (Kool et al. 2019, eq. 3): the order
    of the returned columns is the order in which the items would have been drawn.

    Returns an int64 array of shape (num_rows, k).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sample_without_replacement(rng, 2, 10, 3).shape
        (2, 3)
    """
    if not 0 < k <= population:
        raise ValueError(f"cannot draw {k} distinct items from a population of {population}")
    if log_weights is None and population > 32 * k:
        return _uniform_by_rejection(rng, num_rows, population, k)
    out = np.empty((num_rows, k), dtype=np.int64)
    rows_per_chunk = max(1, _MAX_SCORE_ELEMENTS // population)
    for start in range(0, num_rows, rows_per_chunk):
        stop = min(num_rows, start + rows_per_chunk)
        scores = rng.gumbel(size=(stop - start, population))
        if log_weights is not None:
            scores += log_weights
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # argpartition leaves the top k unordered: order them by score, i.e. by draw order.
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start:stop] = np.take_along_axis(top, order, axis=1)
    return out


def _uniform_by_rejection(
    rng: np.random.Generator, num_rows: int, population: int, k: int
) -> np.ndarray:
    """Uniform draws without replacement for k ≪ population: redraw the rows that repeat."""
    out = rng.integers(0, population, size=(num_rows, k))
    bad = _rows_with_repeats(out)
    while bad.any():
        out[bad] = rng.integers(0, population, size=(int(bad.sum()), k))
        bad[bad] = _rows_with_repeats(out[bad])
    return out


def _rows_with_repeats(x: np.ndarray) -> np.ndarray:
    s = np.sort(x, axis=1)
    return (s[:, 1:] == s[:, :-1]).any(axis=1)

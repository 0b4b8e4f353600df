"""`InfeasibleSample`: a sampled architecture that must not be trained."""

from __future__ import annotations


class InfeasibleSample(ValueError):
    """A sampled architecture that cannot or must not be trained (a constraint, a shape rule).

    The study records it as infeasible (never trained, not counted against the budget).
    """

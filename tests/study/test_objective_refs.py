"""A hypervolume reference leaves room on the better side of the values an objective can take,
given or by default, in either direction; one that does not would keep the hypervolume at 0
whatever a study finds, and is refused."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from hybridlab.study.objectives import KINDS, MAXIMIZE, MINIMIZE, Objective

DIRECTIONS = st.sampled_from([MINIMIZE, MAXIMIZE])


@given(st.sampled_from(sorted(KINDS)), DIRECTIONS, st.floats(-1e12, 1e12))
def test_a_reference_that_is_accepted_has_a_better_side(name, direction, ref):
    low, high = KINDS[name].bounds
    room = low < ref if direction == MINIMIZE else ref < high
    assert (KINDS[name].check_ref(ref, direction) is None) == room


@given(st.sampled_from(sorted(KINDS)), DIRECTIONS, st.integers(2, 100_000))
def test_a_default_reference_has_a_better_side(name, direction, vocab_size):
    objective = Objective(
        name=name, label=name, direction=direction, context=16, dtype="fp32", ref=None
    )
    ref = objective.default_ref(vocab_size)
    if ref is not None:  # None: derived from samples of the space, or the study must give one
        assert math.isfinite(ref)
        assert KINDS[name].check_ref(ref, direction) is None

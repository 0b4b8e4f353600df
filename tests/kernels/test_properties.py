"""Property tests on CPU: on any valid tiny input the fast path ("torch") agrees with the naive
reference, outputs, final states and every input gradient, whatever the sign of Δ and A.

Inputs come from kernel_cases.py (the Triton twin is triton/test_triton_properties.py). The
refusals of invalid inputs are in test_refusals.py, NaN causality in test_nan_causality.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import STRATEGIES, WITH_GRADS, assert_agrees, call


@pytest.mark.parametrize("op", list(STRATEGIES))
@settings(max_examples=25, deadline=None, database=None)
@given(data=st.data())
def test_torch_backend_matches_naive(op, data):
    kw = data.draw(STRATEGIES[op](), label="inputs")
    grads = op in WITH_GRADS
    expected = call(op, kw, "naive", grads=grads)
    actual = call(op, kw, "torch", grads=grads)
    assert actual.keys() == expected.keys()
    for name, value in actual.items():
        assert_agrees(value, expected[name], name)

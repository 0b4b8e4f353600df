"""Property tests of the Triton kernels (the interpreter on CPU, conftest.py): on any valid tiny
input they agree with the naive reference, outputs, final states and input gradients, whatever
the sign of Δ and A; and a non-finite input at position t never changes an output before t.

The same inputs and checks as the CPU backends' (../kernel_cases.py, ../test_properties.py,
../test_nan_causality.py). fp32 only: the interpreter computes bf16 wrongly.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_cases import (
    POISONABLE,
    STRATEGIES,
    WITH_GRADS,
    assert_agrees,
    assert_causal_under_poison,
    call,
)


@pytest.mark.slow
@pytest.mark.parametrize("op", list(STRATEGIES))
# `device` is a constant per session; hypothesis warns about any function-scoped fixture.
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_triton_backend_matches_naive(op, data, device):
    kw = data.draw(STRATEGIES[op](), label="inputs")
    grads = op in WITH_GRADS
    expected = call(op, kw, "naive", grads=grads)
    actual = call(op, kw, "triton", grads=grads, device=device)
    assert actual.keys() == expected.keys()
    for name, value in actual.items():
        assert_agrees(value, expected[name], name)


CASES = [pytest.param(op, arg, id=f"{op}-{arg}") for op, args in POISONABLE.items() for arg in args]


# The interpreter's NumPy warns about the inf - inf and 0 · inf it computes, as it should.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("op, arg", CASES)
def test_triton_non_finite_input_never_reaches_earlier_outputs(op, arg, value, device):
    assert_causal_under_poison(op, "triton", arg, value, device=device)

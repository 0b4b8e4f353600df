"""Property tests of the Triton kernels (the interpreter on CPU, conftest.py): on any valid tiny
input they agree with the naive reference, outputs, final states and input gradients, whatever
the sign of Δ and A, and whatever the strides of each argument; and a non-finite input at
position t never changes an output before t.

The same inputs and checks as the CPU backends' (../kernel_cases.py, ../test_properties.py,
../test_nan_causality.py). fp32 only: the interpreter computes bf16 wrongly.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
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


# Issue 25 (14): the launchers read 1-D and state arguments as contiguous whatever their strides
# (ssd's dt_bias: relative error 1.00 for a strided view; selective_scan's D 0.95, delta_bias
# 0.53, initial_state 0.38; causal_conv1d(_update)'s bias 0.56). Every tensor argument of every
# Triton entry, as a non-contiguous view; decode states are updated through the view.
TENSOR_ARGS = {
    "ssd": ("x", "dt", "A", "B", "C", "D", "z", "dt_bias", "initial_state"),
    "selective_scan": ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state"),
    "selective_state_update": ("state", "x", "dt", "A", "B", "C", "D", "z", "dt_bias"),
    "causal_conv1d": ("x", "weight", "bias", "initial_state"),
    "causal_conv1d_update": ("x", "conv_state", "weight", "bias"),
    "gated_delta_rule": ("q", "k", "v", "g", "beta", "initial_state"),
    "gated_delta_step": ("state", "q", "k", "v", "g", "beta"),
}
STRIDED_CASES = [
    pytest.param(op, arg, id=f"{op}-{arg}") for op, args in TENSOR_ARGS.items() for arg in args
]


@pytest.mark.parametrize("op, arg", STRIDED_CASES)
@settings(
    max_examples=2,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_triton_reads_strided_views_of_every_argument(op, arg, data, device):
    kw = data.draw(STRATEGIES[op](full=True), label="inputs")
    assume(max(kw[arg].shape) > 1)  # a view of size-1 dimensions is contiguous whatever
    grads = op in WITH_GRADS
    expected = call(op, kw, "naive", grads=grads)
    actual = call(op, kw, "triton", grads=grads, device=device, strided=arg)
    assert actual.keys() == expected.keys()
    for name, value in actual.items():
        assert_agrees(value, expected[name], name)

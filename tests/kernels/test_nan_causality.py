"""Causality under NaN and inf: a non-finite value at position t never changes an output before
t, on every CPU backend (the Triton kernels: triton/test_triton_properties.py). Before issue 14
the chunked SSD's within-chunk matmul multiplied the zero weights of later positions by their
inputs (0 · NaN = NaN) and spoiled up to a chunk of earlier outputs.
"""

from __future__ import annotations

import pytest
from kernel_cases import POISONABLE, assert_causal_under_poison

CASES = [pytest.param(op, arg, id=f"{op}-{arg}") for op, args in POISONABLE.items() for arg in args]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("backend", ["torch", "naive"])
@pytest.mark.parametrize("op, arg", CASES)
def test_a_non_finite_input_never_reaches_earlier_outputs(op, arg, backend, value):
    assert_causal_under_poison(op, backend, arg, value)

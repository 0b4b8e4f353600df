"""The kernels refuse what they cannot compute (issue 14): a TypeError or ValueError that names the
function and the argument, raised at the public boundary for every backend, never a wrong
result or an error from deep inside torch. The checks themselves are kernels/_checks.py.

Two parts: the issue's sweep as named cases, then one property test per kernel that corrupts one
argument of a valid call (kernel_cases.py) in one of the ways below.
"""

from __future__ import annotations

import re

import pytest
import torch
from helpers import assert_close
from hybridlab.kernels import (
    causal_conv1d,
    causal_conv1d_update,
    selective_scan,
    selective_state_update,
    ssd,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from kernel_cases import IN_PLACE, OPS, STRATEGIES, call


def ssd_args(b=1, l=6, h=2, p=3, g=1, n=4):
    return {
        "x": torch.randn(b, l, h, p),
        "dt": torch.rand(b, l, h),
        "A": -torch.rand(h),
        "B": torch.randn(b, l, g, n),
        "C": torch.randn(b, l, g, n),
    }


def scan_args(b=1, d=4, l=6, n=3, B_shape=None):
    B_shape = B_shape or (b, n, l)
    return {
        "u": torch.randn(b, d, l),
        "delta": torch.rand(b, d, l),
        "A": -torch.rand(d, n),
        "B": torch.randn(*B_shape),
        "C": torch.randn(*B_shape),
    }


def with_(args, **changes):
    return {**args, **changes}


# The sweep of issue 14, one named case each: (call, error type, words the message must hold).
ISSUE_CASES = [
    pytest.param(
        lambda: ssd(**with_(ssd_args(), x=torch.ones(1, 6, 2, 3, dtype=torch.int64))),
        TypeError,
        "ssd: x must be a float32/bfloat16/float16 tensor, got torch.int64",
        id="ssd-int64-x",
    ),
    pytest.param(
        lambda: selective_scan(**with_(scan_args(), u=torch.ones(1, 4, 6, dtype=torch.bool))),
        TypeError,
        "selective_scan: u must be a float32/bfloat16/float16 tensor, got torch.bool",
        id="scan-bool-u",
    ),
    pytest.param(
        lambda: causal_conv1d(torch.randn(1, 4, 6, dtype=torch.complex64), torch.randn(4, 3)),
        TypeError,
        "causal_conv1d: x must be a float32/bfloat16/float16 tensor, got torch.complex64",
        id="conv-complex-x",
    ),
    pytest.param(
        lambda: causal_conv1d_update(
            torch.randn(1, 4), torch.zeros(1, 4, 3, dtype=torch.int64), torch.randn(4, 3)
        ),
        TypeError,
        "causal_conv1d_update: conv_state must be a float32/bfloat16/float16 tensor, got "
        "torch.int64",
        id="conv-update-int64-state",
    ),
    pytest.param(
        lambda: selective_state_update(
            torch.zeros(1, 4, 3, dtype=torch.int64),
            torch.randn(1, 4),
            torch.rand(1, 4),
            -torch.rand(4, 3),
            torch.randn(1, 3),
            torch.randn(1, 3),
        ),
        TypeError,
        "selective_state_update: state must be a float32/bfloat16/float16 tensor, got torch.int64",
        id="state-update-int64-state",
    ),
    pytest.param(
        lambda: causal_conv1d(torch.randn(1, 4, 6), torch.randn(4, 3, device="meta")),
        ValueError,
        "causal_conv1d: weight is a meta tensor",
        id="conv-meta-weight",
    ),
    pytest.param(
        lambda: ssd(**with_(ssd_args(), B=torch.randn(1, 6, 0, 4), C=torch.randn(1, 6, 0, 4))),
        ValueError,
        r"ssd: B must have no zero-size dimension, got shape \(1, 6, 0, 4\)",
        id="ssd-ngroups-0",
    ),
    pytest.param(
        lambda: ssd(**with_(ssd_args(), B=torch.randn(1, 6, 1, 0), C=torch.randn(1, 6, 1, 0))),
        ValueError,
        r"ssd: B must have no zero-size dimension, got shape \(1, 6, 1, 0\)",
        id="ssd-d_state-0",
    ),
    pytest.param(
        lambda: selective_scan(**scan_args(B_shape=(1, 0, 3, 6))),
        ValueError,
        r"selective_scan: B must have no zero-size dimension",
        id="scan-ngroups-0",
    ),
    pytest.param(
        lambda: selective_scan(**with_(scan_args(), A=torch.randn(4, 0))),
        ValueError,
        r"selective_scan: A must have no zero-size dimension",
        id="scan-d_state-0",
    ),
    pytest.param(
        lambda: selective_state_update(
            torch.zeros(1, 2, 3, 4),
            torch.randn(1, 2, 3),
            torch.rand(1, 2),
            -torch.rand(2),
            torch.randn(1, 0, 4),
            torch.randn(1, 0, 4),
        ),
        ValueError,
        r"selective_state_update: B must have no zero-size dimension",
        id="state-update-ngroups-0",
    ),
    pytest.param(
        lambda: causal_conv1d(torch.randn(1, 4, 6), torch.randn(4, 0)),
        ValueError,
        r"causal_conv1d: weight must have no zero-size dimension, got shape \(4, 0\)",
        id="conv-width-0",
    ),
    pytest.param(
        lambda: ssd(**with_(ssd_args(), x=torch.randn(1, 0, 2, 3))),
        ValueError,
        r"ssd: x must have no zero-size dimension",
        id="ssd-empty-sequence",
    ),
    pytest.param(
        lambda: ssd(**with_(ssd_args(), A=None)),
        TypeError,
        "ssd: A must be a tensor, got None",
        id="ssd-A-None",
    ),
    pytest.param(
        lambda: ssd(**{k: v.double() for k, v in ssd_args().items()}),
        TypeError,
        r"ssd: x must be .* got torch.float64 \(float64 is refused",
        id="ssd-float64",
    ),
    pytest.param(
        lambda: ssd(**{k: v.double() for k, v in ssd_args().items()}, backend="triton"),
        TypeError,
        r"ssd: x must be .* got torch.float64 \(float64 is refused",
        id="ssd-float64-triton-alike",
    ),
    pytest.param(
        lambda: ssd(**ssd_args(), chunk_size=True),
        TypeError,
        r"ssd: chunk_size must be an int, got True \(bool\)",
        id="ssd-chunk-True",
    ),
    pytest.param(
        lambda: ssd(**ssd_args(), chunk_size=2.5),
        TypeError,
        r"ssd: chunk_size must be an int, got 2.5 \(float\)",
        id="ssd-chunk-2.5",
    ),
    pytest.param(
        lambda: ssd(**ssd_args(), dt_softplus="yes"),
        TypeError,
        r"ssd: dt_softplus must be a bool, got 'yes' \(str\)",
        id="ssd-softplus-yes",
    ),
    pytest.param(
        lambda: ssd(**ssd_args(), backend=None),
        TypeError,
        r"ssd: backend must be a str, got None",
        id="ssd-backend-None",
    ),
]


@pytest.mark.parametrize("call, error, message", ISSUE_CASES)
def test_issue_sweep_is_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_numpy_int_chunk_size_is_an_int():
    np = pytest.importorskip("numpy")
    y = ssd(**ssd_args(), chunk_size=np.int64(4))
    assert y.shape == (1, 6, 2, 3)


# One argument of a valid call, corrupted: name -> (how, the error it must raise).
TENSOR_CORRUPTIONS = {
    "list": (lambda t: t.tolist(), TypeError),
    "float": (lambda t: 1.0, TypeError),
    "int64": (lambda t: t.long(), TypeError),
    "int32": (lambda t: t.int(), TypeError),
    "bool": (lambda t: t.bool(), TypeError),
    "complex64": (lambda t: t.to(torch.complex64), TypeError),
    "float64": (lambda t: t.double(), TypeError),
    "meta": (lambda t: t.to("meta"), ValueError),
    # Two more dimensions: a shape no argument accepts (one more could be D's (h, p) with p = 1).
    "rank+2": (lambda t: t[None, None], ValueError),
}
REQUIRED = {
    "ssd": ("x", "dt", "A", "B", "C"),
    "selective_scan": ("u", "delta", "A", "B", "C"),
    "selective_state_update": ("state", "x", "dt", "A", "B", "C"),
    "causal_conv1d": ("x", "weight"),
    "causal_conv1d_update": ("x", "conv_state", "weight"),
    "gated_delta_rule": ("q", "k", "v", "g", "beta"),
    "gated_delta_step": ("state", "q", "k", "v", "g", "beta"),
}
FLAGS = ("dt_softplus", "delta_softplus", "return_final_state")
SCALAR_CORRUPTIONS = {
    "chunk_size": [(True, TypeError), (2.5, TypeError), ("8", TypeError), (None, TypeError),
                   (0, ValueError), (-3, ValueError)],
    "activation": [("relu", ValueError), (1, TypeError)],
    "scale": [("0.5", TypeError), (True, TypeError), (float("nan"), ValueError)],
    "backend": [(None, TypeError), (3, TypeError), ("cuda", ValueError)],
    **{flag: [("yes", TypeError), (1, TypeError), (None, TypeError)] for flag in FLAGS},
}  # fmt: skip


@st.composite
def corrupted_call(draw, op):
    """A valid call of `op` with one argument made invalid: (kwargs, argument, error type)."""
    kw = draw(STRATEGIES[op](full=True), label="valid inputs")
    tensors = [k for k, v in kw.items() if torch.is_tensor(v)]
    choices = [(arg, how) for arg in tensors for how in TENSOR_CORRUPTIONS]
    choices += [(arg, "None") for arg in REQUIRED[op]]
    choices += [(arg, "zero-size") for arg in tensors]
    scalars = [k for k in SCALAR_CORRUPTIONS if k in kw or k == "backend"]
    choices += [(arg, i) for arg in scalars for i in range(len(SCALAR_CORRUPTIONS[arg]))]
    arg, how = draw(st.sampled_from(choices), label="corruption")
    backend = draw(st.sampled_from(["auto", "torch", "naive", "triton"]), label="backend")
    kw = {**kw, "backend": backend}
    if how == "None":
        kw[arg], error = None, TypeError
    elif how == "zero-size":
        shape = list(kw[arg].shape)
        shape[draw(st.integers(0, len(shape) - 1), label="dim")] = 0
        kw[arg], error = kw[arg].new_zeros(shape), ValueError
    elif isinstance(how, int):
        kw[arg], error = SCALAR_CORRUPTIONS[arg][how]
    else:
        corrupt, error = TENSOR_CORRUPTIONS[how]
        kw[arg] = corrupt(kw[arg])
    return kw, arg, error


@pytest.mark.parametrize("op", list(OPS))
@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_a_corrupted_argument_is_refused_by_name(op, data):
    kw, arg, error = data.draw(corrupted_call(op))
    state = kw.get(IN_PLACE.get(op, ""))
    before = state.clone() if torch.is_tensor(state) and not state.is_meta else None
    with pytest.raises(error) as raised:
        OPS[op](**kw)
    message = str(raised.value)
    assert message.startswith(f"{op}: "), message
    assert re.search(rf"(^|\W){re.escape(arg)}(\W|$)", message.removeprefix(op)), message
    if before is not None and state.dtype == before.dtype:
        assert torch.equal(state, before), "a refused call changed the state"


@pytest.mark.gpu
def test_tensors_on_two_devices_are_refused():
    args = with_(ssd_args(), B=torch.randn(1, 6, 1, 4, device="cuda"))
    with pytest.raises(ValueError, match="ssd: every tensor must be on one device; x is on cpu, B"):
        ssd(**args)


# Issue 25 (15): the Triton decode steps raced on an expand()ed state and updated a leaf that
# requires grad in place; the PyTorch ones failed inside torch, naming no argument.
STATE_CORRUPTIONS = ["expanded", "leaf-requires-grad"]


@pytest.mark.parametrize("op", list(IN_PLACE))
@settings(max_examples=15, deadline=None, database=None)
@given(data=st.data())
def test_a_state_that_cannot_be_updated_in_place_is_refused(op, data):
    kw = data.draw(STRATEGIES[op](), label="valid inputs")
    name = IN_PLACE[op]
    state = kw[name]
    how = data.draw(st.sampled_from(STATE_CORRUPTIONS), label="state")
    if how == "expanded":
        dim = max(range(state.dim()), key=lambda i: state.shape[i])
        assume(state.shape[dim] > 1)
        kw[name] = state.narrow(dim, 0, 1).expand(state.shape)  # one element, seen many times
        message = rf"{op}: {name} is updated in place, so its elements must not share memory"
    else:
        kw[name] = state.clone().requires_grad_()
        message = rf"{op}: {name} is a leaf tensor that requires grad"
    backend = data.draw(st.sampled_from(["auto", "torch", "naive", "triton"]), label="backend")
    before = kw[name].detach().clone()
    with pytest.raises(ValueError, match=message):
        OPS[op](**kw, backend=backend)
    assert torch.equal(kw[name].detach(), before), "a refused call changed the state"


@pytest.mark.parametrize("op", list(IN_PLACE))
@settings(max_examples=5, deadline=None, database=None)
@given(data=st.data())
def test_a_leaf_state_that_requires_grad_is_updated_under_no_grad(op, data):
    """Under torch.no_grad() torch allows an in-place update of such a leaf, and so do the
    kernels: the state ends as the reference's."""
    kw = data.draw(STRATEGIES[op](), label="valid inputs")
    name = IN_PLACE[op]
    expected = call(op, kw, "naive")[name]
    kw = {**kw, name: kw[name].clone().requires_grad_()}
    with torch.no_grad():
        OPS[op](**kw, backend="torch")
    assert_close(kw[name].detach(), expected, name=name)

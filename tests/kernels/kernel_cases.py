"""Valid tiny inputs for every public kernel, as hypothesis strategies, and one way to call them.

Shared by the property tests on CPU (test_properties.py) and under Triton's interpreter
(triton/test_triton_properties.py); tests/kernels/conftest.py puts this folder on sys.path.

Shape legend: b batch, l length, h heads, p head dim, g groups, n state size, d channels,
w conv width, s conv state length, q chunk size.

Each strategy draws shapes and options, and a seed from which the tensors are made (fp32, CPU):
    ssd_inputs, selective_scan_inputs      any sign of Δ (no softplus) and of A: decaying,
                                           growing or mixed states, kept within fp32's range
    selective_state_update_inputs          either layout (SSD or Mamba-1)
    causal_conv1d_inputs, causal_conv1d_update_inputs
    gated_delta_rule_inputs                g from −1e-3 to −100 per token (to exp(−100), where
                                           a state forgets at once), or either sign near 0;
                                           one chunk (64) or two; β in [0, 2] (negative
                                           eigenvalues allowed)
    gated_delta_step_inputs
`full=True` gives every optional argument (the refusal tests corrupt one of them).
`call` runs an op on a backend and returns its outputs (and input gradients) by name;
`assert_agrees` compares them; `run_with_grads` runs any (output, final state) function and
differentiates a fixed projection of both; `assert_causal_under_poison` is the NaN-causality
check of test_nan_causality.py and its Triton twin; `assert_accurate` is the 1e-4 gradient check
against a float64 reference (test_ssd.py, test_gated_delta.py and their Triton twins).
"""

from __future__ import annotations

import torch
from helpers import assert_close
from hybridlab.kernels import (
    causal_conv1d,
    causal_conv1d_update,
    gated_delta_rule,
    gated_delta_step,
    selective_scan,
    selective_state_update,
    ssd,
)
from hypothesis import strategies as st

OPS = {
    "ssd": ssd,
    "selective_scan": selective_scan,
    "selective_state_update": selective_state_update,
    "causal_conv1d": causal_conv1d,
    "causal_conv1d_update": causal_conv1d_update,
    "gated_delta_rule": gated_delta_rule,
    "gated_delta_step": gated_delta_step,
}
# Arguments updated in place: each call gets its own copy, and the copy is an output.
IN_PLACE = {
    "selective_state_update": "state",
    "causal_conv1d_update": "conv_state",
    "gated_delta_step": "state",
}


def _maker(seed: int):
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale + shift

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen) * (hi - lo) + lo

    return randn, uniform


def _rates(uniform, sign: str, *shape: int) -> torch.Tensor:
    """A: negative (decay), positive (growth) or either, |A| in [0.1, 1]."""
    magnitude = uniform(0.1, 1.0, *shape)
    if sign == "decay":
        return -magnitude
    if sign == "growth":
        return magnitude
    return magnitude * torch.where(uniform(0, 1, *shape) < 0.5, -1.0, 1.0)


def _steps(randn, uniform, softplus: bool, *shape: int) -> torch.Tensor:
    """Raw dt: around -1 before a softplus (Δ ≈ 0.3), else any sign in [-0.5, 0.5]."""
    return randn(*shape, scale=0.5, shift=-1.0) if softplus else uniform(-0.5, 0.5, *shape)


def _option(draw, full: bool) -> bool:
    return True if full else draw(st.booleans())


@st.composite
def ssd_inputs(draw, full: bool = False) -> dict:
    b, l = draw(st.integers(1, 2)), draw(st.integers(1, 20))
    g, r = draw(st.sampled_from([1, 2])), draw(st.integers(1, 2))
    h, p, n = g * r, draw(st.integers(1, 4)), draw(st.integers(1, 5))
    softplus, sign = draw(st.booleans()), draw(st.sampled_from(["decay", "growth", "mixed"]))
    randn, uniform = _maker(draw(st.integers(0, 2**16)))
    kw = {
        "x": randn(b, l, h, p),
        "dt": _steps(randn, uniform, softplus, b, l, h),
        "A": _rates(uniform, sign, h),
        "B": randn(b, l, g, n),
        "C": randn(b, l, g, n),
        "dt_softplus": softplus,
        "chunk_size": draw(st.integers(1, l + 3)),
    }
    if _option(draw, full):
        kw["D"] = randn(h) if draw(st.booleans()) else randn(h, p)
    if _option(draw, full):
        kw["z"] = randn(b, l, h, p)
    if _option(draw, full):
        kw["dt_bias"] = uniform(-0.3, 0.3, h)
    if _option(draw, full):
        kw["initial_state"] = randn(b, h, p, n)
    kw["return_final_state"] = _option(draw, full)
    return kw


@st.composite
def selective_scan_inputs(draw, full: bool = False) -> dict:
    b, l, n = draw(st.integers(1, 2)), draw(st.integers(1, 20)), draw(st.integers(1, 4))
    g = draw(st.sampled_from([0, 1, 2]))  # 0: the ungrouped (b, n, l) layout of B and C
    d = max(g, 1) * draw(st.integers(1, 3))
    softplus, sign = draw(st.booleans()), draw(st.sampled_from(["decay", "growth", "mixed"]))
    randn, uniform = _maker(draw(st.integers(0, 2**16)))
    bc_shape = (b, n, l) if g == 0 else (b, g, n, l)
    kw = {
        "u": randn(b, d, l),
        "delta": _steps(randn, uniform, softplus, b, d, l),
        "A": _rates(uniform, sign, d, n),
        "B": randn(*bc_shape),
        "C": randn(*bc_shape),
        "delta_softplus": softplus,
    }
    if _option(draw, full):
        kw["D"] = randn(d)
    if _option(draw, full):
        kw["z"] = randn(b, d, l)
    if _option(draw, full):
        kw["delta_bias"] = uniform(-0.3, 0.3, d)
    if _option(draw, full):
        kw["initial_state"] = randn(b, d, n)
    kw["return_final_state"] = _option(draw, full)
    return kw


@st.composite
def selective_state_update_inputs(draw, full: bool = False) -> dict:
    b, n, g = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.sampled_from([1, 2]))
    softplus, sign = draw(st.booleans()), draw(st.sampled_from(["decay", "growth", "mixed"]))
    randn, uniform = _maker(draw(st.integers(0, 2**16)))
    if draw(st.booleans()):  # SSD: state (b, h, p, n)
        h, p = g * draw(st.integers(1, 2)), draw(st.integers(1, 4))
        state, x_shape, rates, bc_shape = (b, h, p, n), (b, h, p), (h,), (b, g, n)
        per_channel = (h,)
        skip = (h,) if draw(st.booleans()) else (h, p)
    else:  # Mamba-1: state (b, d, n); B and C (b, n) or (b, g, n)
        d = g * draw(st.integers(1, 3))
        state, x_shape, rates, per_channel, skip = (b, d, n), (b, d), (d, n), (d,), (d,)
        bc_shape = (b, n) if g == 1 and draw(st.booleans()) else (b, g, n)
    kw = {
        "state": randn(*state),
        "x": randn(*x_shape),
        "dt": _steps(randn, uniform, softplus, *x_shape[:2]),
        "A": _rates(uniform, sign, *rates),
        "B": randn(*bc_shape),
        "C": randn(*bc_shape),
        "dt_softplus": softplus,
    }
    if _option(draw, full):
        kw["D"] = randn(*skip)
    if _option(draw, full):
        kw["z"] = randn(*x_shape)
    if _option(draw, full):
        kw["dt_bias"] = uniform(-0.3, 0.3, *per_channel)
    return kw


@st.composite
def causal_conv1d_inputs(draw, full: bool = False) -> dict:
    b, d, l, w = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 12)),
                  draw(st.integers(1, 4)))  # fmt: skip
    randn, _ = _maker(draw(st.integers(0, 2**16)))
    kw = {"x": randn(b, d, l), "weight": randn(d, w)}
    if _option(draw, full):
        kw["bias"] = randn(d)
    if _option(draw, full):
        kw["initial_state"] = randn(b, d, max(w - 1, 1) + draw(st.integers(0, 2)))
    kw["activation"] = draw(st.sampled_from([None, "silu"]))
    kw["return_final_state"] = _option(draw, full)
    return kw


@st.composite
def causal_conv1d_update_inputs(draw, full: bool = False) -> dict:
    b, d, w = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    randn, _ = _maker(draw(st.integers(0, 2**16)))
    kw = {
        "x": randn(b, d),
        "conv_state": randn(b, d, w + draw(st.integers(0, 2))),
        "weight": randn(d, w),
    }
    if _option(draw, full):
        kw["bias"] = randn(d)
    kw["activation"] = draw(st.sampled_from([None, "silu"]))
    return kw


def _log_decays(draw, uniform, *shape: int) -> torch.Tensor:
    """g per token: −10^U(−3, 2) (a decay, from barely to exp(−100) per token) or U(−0.3, 0.1)
    (either sign, near 0: a state that may grow, as the recurrence lets it)."""
    if draw(st.booleans()):
        return -(10.0 ** uniform(-3.0, 2.0, *shape))
    return uniform(-0.3, 0.1, *shape)


@st.composite
def gated_delta_rule_inputs(draw, full: bool = False) -> dict:
    b, l, h = draw(st.integers(1, 2)), draw(st.integers(1, 70)), draw(st.integers(1, 2))
    dk, dv = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    randn, uniform = _maker(draw(st.integers(0, 2**16)))
    kw = {
        "q": randn(b, l, h, dk),
        "k": torch.nn.functional.normalize(randn(b, l, h, dk), dim=-1),
        "v": randn(b, l, h, dv),
        "g": _log_decays(draw, uniform, b, l, h),
        "beta": uniform(0.0, 2.0, b, l, h),
    }
    if _option(draw, full):
        kw["scale"] = draw(st.floats(0.1, 1.0))
    if _option(draw, full):
        kw["initial_state"] = randn(b, h, dk, dv)
    kw["return_final_state"] = _option(draw, full)
    return kw


@st.composite
def gated_delta_step_inputs(draw, full: bool = False) -> dict:
    b, h = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dk, dv = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    randn, uniform = _maker(draw(st.integers(0, 2**16)))
    kw = {
        "state": randn(b, h, dk, dv),
        "q": randn(b, h, dk),
        "k": torch.nn.functional.normalize(randn(b, h, dk), dim=-1),
        "v": randn(b, h, dv),
        "g": _log_decays(draw, uniform, b, h),
        "beta": uniform(0.0, 2.0, b, h),
    }
    if _option(draw, full):
        kw["scale"] = draw(st.floats(0.1, 1.0))
    return kw


STRATEGIES = {
    "ssd": ssd_inputs,
    "selective_scan": selective_scan_inputs,
    "selective_state_update": selective_state_update_inputs,
    "causal_conv1d": causal_conv1d_inputs,
    "causal_conv1d_update": causal_conv1d_update_inputs,
    "gated_delta_rule": gated_delta_rule_inputs,
    "gated_delta_step": gated_delta_step_inputs,
}


# Ops whose fast path has its own backward (the decode steps are the same code on both).
WITH_GRADS = {"ssd", "selective_scan", "causal_conv1d", "gated_delta_rule"}


def assert_agrees(actual: torch.Tensor, expected: torch.Tensor, name: str) -> None:
    """assert_close, except where the reference is exactly zero (A's gradient for one token from
    a zero state): a relative error means nothing there, and the chunked path's gradient of A,
    from an identity of sums, leaves rounding noise (about 1e-9) instead of an exact 0."""
    if not expected.any():
        assert actual.abs().max() <= 1e-5, f"{name}: {actual} where the reference is 0"
    else:
        assert_close(actual, expected, name=name)


# Below this norm a gradient is zero for any optimiser: what a decay of exp(−100) leaves.
NEGLIGIBLE = 1e-20


def assert_accurate(
    actual: torch.Tensor,
    expected: torch.Tensor,
    name: str,
    rel_rms: float = 1e-4,
    axis: int | None = None,
) -> None:
    """`actual` within `rel_rms` of a float64 reference, each slice along `axis` on its own (a
    head whose decay is fast has gradients 1e7x smaller than a slow one's, and a relative error
    over both would not see them). A slice whose reference norm is below NEGLIGIBLE must be
    below it too."""
    slices = (
        [(actual, expected)]
        if axis is None
        else zip(actual.unbind(axis), expected.unbind(axis), strict=True)
    )
    for i, (a, e) in enumerate(slices):
        where = name if axis is None else f"{name}[head {i}]"
        if e.double().norm() < NEGLIGIBLE:
            assert a.double().norm() < NEGLIGIBLE, f"{where}: {a} where the reference is ~0"
        else:
            assert_close(a, e, rel_rms=rel_rms, name=where)


def strided_view(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """`t`'s values as a non-contiguous view: every other element, along `t`'s longest
    dimension, of a zeroed buffer twice as long there. Returns (buffer, view, index), with
    view = buffer[index]; a leaf `t` makes `buffer` the leaf."""
    dim = max(range(t.dim()), key=lambda i: t.shape[i])
    shape = list(t.shape)
    shape[dim] *= 2
    index = tuple(slice(None, None, 2) if i == dim else slice(None) for i in range(t.dim()))
    buffer = t.detach().new_zeros(shape)
    buffer[index] = t.detach()
    buffer.requires_grad_(t.requires_grad)
    return buffer, buffer[index], index


def call(
    op: str,
    kw: dict,
    backend: str,
    grads: bool = False,
    device: torch.device | None = None,
    strided: str | None = None,
) -> dict[str, torch.Tensor]:
    """Run `op` on copies of `kw` (on `device`, CPU by default); its outputs by name, on CPU,
    and with `grads` every input gradient ("d<name>") of a fixed random projection of them.
    `strided` names an argument passed as a non-contiguous view (`strided_view`).

    Outputs: "y"; "final_state" when asked for; the in-place state after the call.
    """
    kw = {
        k: v.to(device).clone().requires_grad_(grads) if torch.is_tensor(v) else v
        for k, v in kw.items()
    }
    if op in IN_PLACE:
        kw[IN_PLACE[op]].requires_grad_(False)
    leaves, index = dict(kw), None
    if strided is not None:
        leaves[strided], kw[strided], index = strided_view(kw[strided])
    out = OPS[op](**kw, backend=backend)
    outputs = (
        dict(zip(("y", "final_state"), out, strict=True)) if isinstance(out, tuple) else {"y": out}
    )
    if op in IN_PLACE:
        outputs[IN_PLACE[op]] = kw[IN_PLACE[op]]
    if grads:
        gen = torch.Generator().manual_seed(1)
        loss = sum((t * torch.randn(t.shape, generator=gen).to(t)).sum() for t in outputs.values())
        loss.backward()
        for name, t in leaves.items():
            if torch.is_tensor(t) and t.requires_grad:
                # None: the input did not reach the outputs (a width-1 conv's initial state).
                grad = t.grad if t.grad is not None else torch.zeros_like(t)
                outputs[f"d{name}"] = grad[index] if name == strided else grad
    return {k: v.detach().cpu() for k, v in outputs.items()}


def run_with_grads(fn, kw: dict, seed: int = 1):
    """Forward (o, final state), backward of a fixed random projection of both; returns the
    outputs and every input gradient by name ("o", "final_state", "dq", ...), detached, on CPU."""
    leaves = {
        name: t.detach().clone().requires_grad_() if torch.is_tensor(t) else t
        for name, t in kw.items()
    }
    o, final = fn(**leaves)
    gen = torch.Generator().manual_seed(seed)
    do = torch.randn(o.shape, generator=gen, dtype=torch.float64)
    dfinal = torch.randn(final.shape, generator=gen, dtype=torch.float64)
    ((o.double() * do.to(o.device)).sum() + (final.double() * dfinal.to(o.device)).sum()).backward()
    out = {"o": o, "final_state": final}
    out.update({f"d{n}": t.grad for n, t in leaves.items() if torch.is_tensor(t)})
    return {name: t.detach().cpu() for name, t in out.items()}


# NaN causality: fixed inputs with every option, the arguments that carry a time axis (and
# which axis), and the check. A sequence of 40 in chunks of 16, poisoned inside the first
# chunk, at the second's start, inside it and at the last position.
POISON_LENGTH = 40
POISON_POSITIONS = (5, 16, 20, POISON_LENGTH - 1)
POISONABLE = {
    "ssd": {"x": 1, "dt": 1, "B": 1, "C": 1},
    "selective_scan": {"u": -1, "delta": -1, "B": -1, "C": -1},
    "causal_conv1d": {"x": -1},
    "gated_delta_rule": {"q": 1, "k": 1, "v": 1, "g": 1, "beta": 1},
}
OUTPUT_TIME_AXIS = {"ssd": 1, "selective_scan": -1, "causal_conv1d": -1, "gated_delta_rule": 1}


def poison_inputs(op: str) -> dict:
    """Fixed valid inputs of `op`, length POISON_LENGTH, every optional argument given."""
    randn, uniform = _maker(0)
    b, l = 2, POISON_LENGTH
    if op == "ssd":
        # Two heads sharing a group: the interpreter's time grows with b·h programs.
        b, h, p, g, n = 1, 2, 3, 1, 4
        return {
            "x": randn(b, l, h, p), "dt": randn(b, l, h, scale=0.5, shift=-1.0),
            "A": -uniform(0.5, 1.5, h), "B": randn(b, l, g, n), "C": randn(b, l, g, n),
            "D": randn(h), "z": randn(b, l, h, p), "dt_bias": uniform(-0.3, 0.3, h),
            "dt_softplus": True, "initial_state": randn(b, h, p, n), "chunk_size": 16,
            "return_final_state": True,
        }  # fmt: skip
    if op == "selective_scan":
        d, g, n = 4, 2, 3
        return {
            "u": randn(b, d, l), "delta": randn(b, d, l, scale=0.5, shift=-1.0),
            "A": -uniform(0.5, 1.5, d, n), "B": randn(b, g, n, l), "C": randn(b, g, n, l),
            "D": randn(d), "z": randn(b, d, l), "delta_bias": uniform(-0.3, 0.3, d),
            "delta_softplus": True, "initial_state": randn(b, d, n), "return_final_state": True,
        }  # fmt: skip
    if op == "gated_delta_rule":
        h, dk, dv = 2, 3, 4
        return {
            "q": randn(b, l, h, dk), "k": torch.nn.functional.normalize(randn(b, l, h, dk), dim=-1),
            "v": randn(b, l, h, dv), "g": -uniform(0.01, 1.0, b, l, h),
            "beta": uniform(0.0, 1.0, b, l, h), "initial_state": randn(b, h, dk, dv),
            "return_final_state": True,
        }  # fmt: skip
    d, w = 4, 4
    return {
        "x": randn(b, d, l), "weight": randn(d, w), "bias": randn(d),
        "initial_state": randn(b, d, w), "activation": "silu",
    }  # fmt: skip


def assert_causal_under_poison(
    op: str,
    backend: str,
    arg: str,
    value: float,
    positions: tuple[int, ...] = POISON_POSITIONS,
    device: torch.device | None = None,
) -> None:
    """For each t of `positions`: a non-finite `value` at position t of `arg` (batch 0, first
    entry of the other axes) leaves every output before t exactly as without it, and makes an
    output at t non-finite."""
    kw = poison_inputs(op)
    clean = call(op, kw, backend, device=device)["y"]
    y_axis = OUTPUT_TIME_AXIS[op] % clean.dim()
    for t in positions:
        poisoned = {**kw, arg: kw[arg].clone()}
        index = [0] * kw[arg].dim()
        index[POISONABLE[op][arg] % kw[arg].dim()] = t
        poisoned[arg][tuple(index)] = value
        y = call(op, poisoned, backend, device=device)["y"]
        before, after = y.narrow(y_axis, 0, t), y.narrow(y_axis, t, 1)
        where = f"a non-finite {arg} at {t}"
        assert torch.isfinite(before).all(), f"{where} reached earlier outputs"
        assert torch.equal(before, clean.narrow(y_axis, 0, t)), f"{where} changed earlier outputs"
        assert not torch.isfinite(after).all(), f"{where} vanished from output {t}"

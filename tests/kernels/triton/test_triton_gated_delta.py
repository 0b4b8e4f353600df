"""The gated delta rule in Triton against the float64 recurrence: outputs, final states, every
input gradient; the decode step.

On CPU the kernels run under Triton's interpreter (conftest.py), fp32, on small shapes: lengths
that are one position, one stretch between checkpoints with a padded step (65 = 2 × 33 − 1) and
two stretches (70), dk and dv not powers of two, heads and batch rows. Real sizes and bf16, against
the PyTorch path, are the gpu-marked tests at the end (skipped without CUDA).
"""

from __future__ import annotations

import pytest
import torch
from gated_delta_cases import assert_matches_reference, make_inputs, reference
from helpers import assert_close
from hybridlab.kernels import gated_delta_rule, gated_delta_step
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_cases import assert_accurate, run_with_grads

# (b, l, h, dk, dv), decay, initial state, scale.
CASES = [
    pytest.param((1, 1, 2, 8, 4), "moderate", True, None, id="b1-l1-h2-dk8-dv4-h0"),
    pytest.param((1, 70, 2, 12, 20), "strong", True, 0.5, id="b1-l70-h2-dk12-dv20-strong-h0-scale"),
    pytest.param((2, 65, 1, 16, 8), "weak", False, None, id="b2-l65-h1-dk16-dv8-weak"),
]


def _triton(**kw):
    return gated_delta_rule(**kw, return_final_state=True, backend="triton")


@pytest.mark.parametrize(("dims", "decay", "h0", "scale"), CASES)
def test_triton_matches_float64_recurrence(dims, decay, h0, scale, device):
    kw = {**make_inputs(*dims, decay=decay, h0=h0), "scale": scale}
    on_device = {k: v.to(device) if torch.is_tensor(v) else v for k, v in kw.items()}
    assert_matches_reference(run_with_grads(_triton, on_device), run_with_grads(reference, kw))


# Issue 25 (13), the Triton twin of test_gated_delta.py's sweep: every gradient to 1e-4 of
# float64 from g = −0.01 to −300 per token (g = −exp(A_log)·softplus(·) has no lower bound).
@settings(
    max_examples=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    log_strength=st.floats(-2.0, 2.5),
    spread=st.floats(0.0, 1.0),
    h0=st.booleans(),
)
def test_triton_gradients_match_float64_however_strong_the_decay(log_strength, spread, h0, device):
    kw = make_inputs(1, 70, 2, 8, 8, h0=h0)
    gen = torch.Generator().manual_seed(2)
    jitter = 1.0 + spread * (torch.rand(kw["g"].shape, generator=gen) - 0.5)  # vary per token
    kw["g"] = -(10.0**log_strength) * jitter
    expected = run_with_grads(reference, kw)
    on_device = {k: v.to(device) if torch.is_tensor(v) else v for k, v in kw.items()}
    actual = run_with_grads(_triton, on_device)
    for name, value in expected.items():
        assert_accurate(actual[name].cpu(), value, name)


def test_triton_step_matches_torch_step_and_chains(device):
    kw = make_inputs(2, 5, 2, 8, 12, h0=True, decay="strong")
    names = ("q", "k", "v", "g", "beta")
    o_ref, state_ref = reference(**kw)
    state = kw["initial_state"].to(device)
    outs = [
        gated_delta_step(state, *(kw[n][:, t].to(device) for n in names), backend="triton")
        for t in range(5)
    ]
    assert_close(torch.stack(outs, dim=1).cpu(), o_ref, name="o")
    assert_close(state.cpu(), state_ref, name="state")


# ------------------------------------------------------------------------------------------------
# Real sizes on a CUDA device, against the PyTorch path (itself checked against the recurrence).


def _real_inputs(b, l, h, dk, dv, dtype):
    kw = make_inputs(b, l, h, dk, dv, h0=True, seed=3)
    return {k: v.cuda().to(dtype) for k, v in kw.items()}


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("dtype", "out_tol", "grad_tol"),
    [
        pytest.param(torch.float32, 5e-3, 5e-3, id="fp32"),
        pytest.param(torch.bfloat16, 1e-2, 3e-2, id="bf16"),
    ],
)
def test_triton_real_size_matches_torch(dtype, out_tol, grad_tol):
    kw = _real_inputs(2, 1000, 8, 64, 128, dtype)

    def run(backend):
        leaves = {k: v.detach().clone().requires_grad_() for k, v in kw.items()}
        o, final = gated_delta_rule(**leaves, return_final_state=True, backend=backend)
        gen = torch.Generator(device="cuda").manual_seed(1)
        do = torch.randn(o.shape, device="cuda", generator=gen).to(dtype)
        dfinal = torch.randn(final.shape, device="cuda", generator=gen).to(dtype)
        torch.autograd.backward((o, final), (do, dfinal))
        return [o.float(), final.float()], {k: v.grad.float() for k, v in leaves.items()}

    (outs, grads), (outs_ref, grads_ref) = run("triton"), run("torch")
    for name, o, r in zip(("o", "final_state"), outs, outs_ref, strict=True):
        assert_close(o, r, rel_rms=out_tol, name=name)
    for name, grad in grads.items():
        assert_close(grad, grads_ref[name], rel_rms=grad_tol, name=f"d{name}")

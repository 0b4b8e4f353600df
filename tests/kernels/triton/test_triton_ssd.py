"""SSD in Triton against the sequential reference: outputs, final states, every input gradient.

On CPU the kernels run under Triton's interpreter (conftest.py), fp32 only, on small shapes whose
lengths are not multiples of the chunk; the cases are picked so that every kernel loop runs more
than once somewhere (several chunks, several row blocks per chunk, heads sharing a group) while
the file stays within seconds. Real sizes and bf16 are in test_triton_gpu.py.
"""

from __future__ import annotations

import pytest
import ssd_cases
import torch
from helpers import assert_close
from hybridlab.kernels import ssd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_cases import assert_accurate, run_with_grads
from ssd_cases import decay_sweep_inputs

# (batch, length, heads, headdim, groups, d_state, chunk) and which optional inputs are given.
CASES = [
    pytest.param((2, 1, 4, 16, 2, 16, 64), "D z bias softplus h0", id="b2-l1-h4-g2-all"),
    pytest.param((1, 63, 2, 24, 1, 20, 32), "Dhp", id="b1-l63-h2-p24-n20-g1-q32"),
    pytest.param((2, 200, 4, 16, 2, 16, 64), "D z bias softplus h0", id="b2-l200-h4-g2-q64-all"),
    pytest.param((1, 200, 2, 32, 1, 80, 128), "z h0", id="b1-l200-h2-n80-g1-q128"),
    pytest.param((1, 100, 4, 16, 4, 16, 48), "bias softplus", id="b1-l100-h4-g4-q48"),
]


def make_inputs(shape, options, device, dtype=torch.float32):
    """Leaf tensors for `ssd`, decaying (A < 0), with dt around the Mamba-2 range."""
    b, l, h, p, g, n, _ = shape
    gen = torch.Generator().manual_seed(0)

    def rand(*size, scale=1.0, shift=0.0):
        return (torch.randn(*size, generator=gen) * scale + shift).to(device, dtype)

    inputs = {
        "x": rand(b, l, h, p),
        "dt": rand(b, l, h, scale=0.5, shift=-1.0 if "softplus" in options else 0.0),
        "A": -torch.rand(h, generator=gen).to(device, dtype) * 2 - 0.5,
        "B": rand(b, l, g, n),
        "C": rand(b, l, g, n),
    }
    if "softplus" not in options:
        inputs["dt"] = inputs["dt"].abs() * 0.2
    if "Dhp" in options:
        inputs["D"] = rand(h, p)
    elif "D" in options.split():
        inputs["D"] = rand(h)
    if "z" in options.split():
        inputs["z"] = rand(b, l, h, p)
    if "bias" in options.split():
        inputs["dt_bias"] = rand(h, scale=0.3)
    if "h0" in options.split():
        inputs["initial_state"] = rand(b, h, p, n)
    return {k: v.requires_grad_() for k, v in inputs.items()}


def run(backend, inputs, shape, options, cotangents=None):
    """Forward with the final state, then backward of a fixed random projection of both."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    y, final = ssd(
        **leaves,
        dt_softplus="softplus" in options,
        chunk_size=shape[-1],
        return_final_state=True,
        backend=backend,
    )
    if cotangents is None:
        gen = torch.Generator().manual_seed(1)
        cotangents = tuple(torch.randn(t.shape, generator=gen).to(t) for t in (y, final))
    ((y * cotangents[0]).sum() + (final * cotangents[1]).sum()).backward()
    grads = {k: v.grad for k, v in leaves.items()}
    return y, final, grads, cotangents


@pytest.mark.parametrize(("shape", "options"), CASES)
def test_ssd_triton_matches_naive(shape, options, device):
    inputs = make_inputs(shape, options, device)
    y, final, grads, cot = run("triton", inputs, shape, options)
    y_ref, final_ref, grads_ref, _ = run("naive", inputs, shape, options, cot)
    assert_close(y, y_ref, name="y")
    assert_close(final, final_ref, name="final state")
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        assert_close(grads[name], grads_ref[name], name=f"d{name}")


def test_ssd_triton_without_final_state_or_its_gradient(device):
    shape, options = (1, 40, 2, 16, 1, 16, 32), ""
    inputs = make_inputs(shape, options, device)
    y = ssd(**inputs, chunk_size=32, backend="triton")
    y_ref = ssd(**{k: v.detach() for k, v in inputs.items()}, chunk_size=32, backend="naive")
    assert_close(y, y_ref, name="y")
    y.sum().backward()
    assert all(torch.isfinite(v.grad).all() for v in inputs.values())


# Issue 25 (12), the Triton twin of test_ssd.py's sweep: dA had the wrong sign at Δ ~ U(1, 10),
# A = −16 (−14.65 where exact is 0 at Δ = 1e4, chunk 2). The same 1e-4 as the CPU path: the
# intra-chunk pairs are summed over their exact ranges (backward_dx.py; a row sum minus a column
# sum left up to 1.6e-4 per head on these sweeps).
@settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    dt_exponents=st.tuples(st.floats(-3.0, 1.0), st.floats(0.0, 1.0)),
    fast_rate=st.floats(0.0, 6.0),
    chunk_size=st.sampled_from([16, 64]),
)
def test_ssd_triton_gradients_match_float64_across_decay_strengths(
    dt_exponents, fast_rate, chunk_size, device
):
    lo = 10.0 ** dt_exponents[0]
    hi = min(10.0, lo * 10.0 ** dt_exponents[1])  # Δ ~ U(lo, hi), within dt_max = 10
    kw = decay_sweep_inputs(130, (lo, hi), [-1.0, -(10.0**fast_rate)])
    expected = run_with_grads(ssd_cases.reference, kw)

    def triton(**kw):
        kw = {k: v.to(device) for k, v in kw.items()}
        return ssd(**kw, chunk_size=chunk_size, return_final_state=True, backend="triton")

    actual = run_with_grads(triton, kw)
    for name, value in expected.items():
        axis = {"dA": 0, "ddt": 2}.get(name)  # per head: a fast head's are ~1e7x smaller
        assert_accurate(actual[name], value, name, rel_rms=1e-4, axis=axis)


def _pairs_configs():
    from hybridlab.kernels.ssd.triton.backward_pairs import _chunk_scan_bwd_pairs_kernel

    for config in _chunk_scan_bwd_pairs_kernel.all_configs:
        yield pytest.param(config, id=f"m{config.kwargs['BLOCK_M']}-k{config.kwargs['BLOCK_K']}")


@pytest.mark.parametrize("config", _pairs_configs())
def test_ssd_triton_backward_every_block_config_sums_the_pairs_exactly(config, device, monkeypatch):
    """The interpreter runs one autotune config; the pair sums of backward_pairs.py depend on how
    BLOCK_M and BLOCK_K tile a chunk (columns before the row block, one or two tiles within it),
    so every config a GPU may pick is run here, against float64, at strong decay."""
    from hybridlab.kernels.ssd.triton.backward_pairs import _chunk_scan_bwd_pairs_kernel as kernel

    monkeypatch.setattr(kernel, "configs", [config])
    monkeypatch.setattr(kernel, "cache", {})
    kw = decay_sweep_inputs(130, (0.3, 3.0), [-1.0, -16.0])
    expected = run_with_grads(ssd_cases.reference, kw)

    def triton(**kw):
        kw = {k: v.to(device) for k, v in kw.items()}
        return ssd(**kw, chunk_size=128, return_final_state=True, backend="triton")

    actual = run_with_grads(triton, kw)
    for name, value in expected.items():
        axis = {"dA": 0, "ddt": 2}.get(name)
        assert_accurate(actual[name], value, name, rel_rms=1e-4, axis=axis)


def test_ssd_triton_chunk_longer_than_the_sequence_is_one_chunk(device):
    """Issue 25 (16): chunk_size=65536 at l=100 asked for 17 GB of (q × q) buffers; the chunk is
    clamped to the next power of two ≥ l."""
    shape, options = (1, 100, 2, 16, 1, 16, 65536), "D z bias softplus h0"
    inputs = make_inputs(shape, options, device)
    y, final, grads, cot = run("triton", inputs, shape, options)
    y_ref, final_ref, grads_ref, _ = run("naive", inputs, shape, options, cot)
    assert_close(y, y_ref, name="y")
    assert_close(final, final_ref, name="final state")
    for name in grads:
        assert_close(grads[name], grads_ref[name], name=f"d{name}")

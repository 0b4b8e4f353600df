"""Inputs and an independent float64 reference for the gated-delta-rule tests (CPU and Triton).

Shape legend: b batch, l length, h heads, dk key dim, dv value dim.

`reference` is the recurrence written as a product,
    S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,
in float64 with autograd: not the code of any backend (kernels/gated_delta/naive.py writes it as
decay, recall and write), so the naive backend is checked against it too.
"""

from __future__ import annotations

import torch
from helpers import assert_close

# g ranges per token: strong decay (a state forgets within a few tokens), moderate, weak.
DECAYS = {"strong": (-6.0, -4.0), "moderate": (-1.0, -0.01), "weak": (-2e-3, -5e-4)}


def make_inputs(b, l, h, dk, dv, *, decay="moderate", h0=False, seed=0) -> dict:
    """Gated DeltaNet-like inputs: k L2-normalised, β in (0, 1), g in the `decay` range."""
    gen = torch.Generator().manual_seed(seed)
    lo, hi = DECAYS[decay]
    kw = {
        "q": torch.randn(b, l, h, dk, generator=gen),
        "k": torch.nn.functional.normalize(torch.randn(b, l, h, dk, generator=gen), dim=-1),
        "v": torch.randn(b, l, h, dv, generator=gen),
        "g": torch.rand(b, l, h, generator=gen) * (hi - lo) + lo,
        "beta": torch.rand(b, l, h, generator=gen),
    }
    if h0:
        kw["initial_state"] = torch.randn(b, h, dk, dv, generator=gen)
    return kw


def reference(q, k, v, g, beta, scale=None, initial_state=None):
    """(o, final state) of the recurrence in float64, differentiable."""
    q, k, v, g, beta = (t.double() for t in (q, k, v, g, beta))
    b, l, h, dk = k.shape
    dv = v.shape[-1]
    scale = dk**-0.5 if scale is None else scale
    S = q.new_zeros(b, h, dk, dv) if initial_state is None else initial_state.double()
    eye = torch.eye(dk, dtype=torch.float64)
    outs = []
    for t in range(l):
        k_t, b_t = k[:, t], beta[:, t, :, None, None]
        outer = k_t[..., :, None] * k_t[..., None, :]  # (b, h, dk, dk)
        transition = torch.exp(g[:, t])[..., None, None] * (eye - b_t * outer)
        S = transition @ S + b_t * k_t[..., :, None] * v[:, t][..., None, :]
        outs.append((S * (scale * q[:, t])[..., None]).sum(-2))
    return torch.stack(outs, dim=1), S


def assert_matches_reference(actual: dict, expected: dict) -> None:
    """Every output and gradient of `actual` within assert_close's tolerance of `expected`."""
    assert set(actual) == set(expected)
    for name, t in expected.items():
        assert_close(actual[name], t, name=name)

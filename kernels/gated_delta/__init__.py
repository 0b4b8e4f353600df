"""Gated delta rule (Gated DeltaNet): public entries, argument checks and backend dispatch.

Shape legend (flash-linear-attention's layout, so that implementations can be swapped):
    b  batch     l  sequence length     h  heads     dk  key/query dim     dv  value dim

Per head, with the state S of shape (dk, dv) (naive.py has the math and the paper):
    S ← exp(g_t) S;   S ← S + β_t k_t (v_t − Sᵀ k_t)ᵀ;   o_t = Sᵀ (scale · q_t)

Backends of `gated_delta_rule`: "naive" (naive.py, the sequential recurrence, the ground truth),
"torch" (chunk.py, the chunked WY form with a hand-written backward; what CPUs run) and "triton"
(triton/, what GPUs run). `gated_delta_step` advances a decoding state by one token in place.
"auto" resolves through hybridlab.kernels._dispatch.
"""

from __future__ import annotations

import torch
from hybridlab.kernels._checks import (
    check_backend,
    check_bool,
    check_real,
    check_shapes,
    check_tensors,
    check_updatable,
)
from hybridlab.kernels._dispatch import resolve


def _resolve_scale(fn: str, scale: float | None, dk: int) -> float:
    """`scale` as a float (checked: a real number, not a bool or a tensor): dk^-0.5 when None."""
    if scale is None:
        return dk**-0.5
    check_real(fn, "scale", scale)
    return float(scale)


def _check(q, k, v, g, beta, initial_state, final) -> None:
    """Everything `gated_delta_rule` refuses (kernels/_checks.py), then its shapes."""
    name = "gated_delta_rule"
    check_tensors(
        name, {"q": q, "k": k, "v": v, "g": g, "beta": beta}, {"initial_state": initial_state}
    )
    check_bool(name, "return_final_state", final)
    if k.dim() != 4:
        raise ValueError(f"{name}: k must be (batch, length, heads, dk), got {tuple(k.shape)}")
    b, l, h, dk = k.shape
    if v.dim() != 4 or v.shape[:3] != (b, l, h):
        raise ValueError(
            f"{name}: v must be (batch, length, heads, dv) = ({b}, {l}, {h}, dv), "
            f"got {tuple(v.shape)}"
        )
    dv = v.shape[3]
    check_shapes(
        name,
        {
            "q": (q, (b, l, h, dk)),
            "g": (g, (b, l, h)),
            "beta": (beta, (b, l, h)),
            "initial_state": (initial_state, (b, h, dk, dv)),
        },
    )


def gated_delta_rule(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The gated delta rule over a whole sequence (flash-linear-attention's layout).

    Per head, with the state S of shape (dk, dv), starting from `initial_state` (zeros if None):
        S ← exp(g_t) S;   S ← S + β_t k_t (v_t − Sᵀ k_t)ᵀ;   o_t = Sᵀ (scale · q_t)
    Computes in fp32; returns v's dtype (the final state too).

    Accepted (checked here, once, for every backend; kernels/_checks.py): every tensor float32,
    bfloat16 or float16 (mixed freely), all on one device, no dimension of size 0. float64,
    integer, bool and complex tensors and None for a required tensor are TypeErrors; meta
    tensors, mixed devices, zero sizes and wrong shapes are ValueErrors; each message names
    the argument. Values are not checked: g is meant to be ≤ 0 (a decay) and β in [0, 1] (Gated
    DeltaNet takes g = −exp(A)·softplus(·) and β = sigmoid(·)), with k L2-normalised; outside
    those ranges the state can grow, exactly as the recurrence does.

    Args:
        q: queries, (b, l, h, dk).
        k: keys, (b, l, h, dk); L2-normalised per head in Gated DeltaNet.
        v: values, (b, l, h, dv).
        g: log-decay per token and head, (b, l, h); ≤ 0.
        beta: write strength per token and head, (b, l, h); in [0, 1].
        scale: multiplies q; a float, dk^-0.5 when None.
        initial_state: state before the first token, (b, h, dk, dv); None means zeros.
        return_final_state: bool; also return the state after the last token, (b, h, dk, dv).
        backend: "auto", "torch", "naive" or "triton" (see hybridlab.kernels._dispatch).

    Returns:
        o of shape (b, l, h, dv), or (o, final_state) when return_final_state.

    Example:
        >>> b, l, h, dk, dv = 2, 100, 4, 16, 32
        >>> q, k, v = torch.randn(b, l, h, dk), torch.randn(b, l, h, dk), torch.randn(b, l, h, dv)
        >>> k = torch.nn.functional.normalize(k, dim=-1)
        >>> g, beta = -torch.rand(b, l, h), torch.rand(b, l, h)
        >>> o, state = gated_delta_rule(q, k, v, g, beta, return_final_state=True)
        >>> o.shape, state.shape
        (torch.Size([2, 100, 4, 32]), torch.Size([2, 4, 16, 32]))
    """
    _check(q, k, v, g, beta, initial_state, return_final_state)
    check_backend("gated_delta_rule", backend)
    scale = _resolve_scale("gated_delta_rule", scale, k.shape[-1])
    impl = resolve("gated_delta_rule", backend, v.device)
    return impl(
        q,
        k,
        v,
        g,
        beta,
        scale=scale,
        initial_state=initial_state,
        return_final_state=return_final_state,
    )


def _check_step(state, q, k, v, g, beta) -> None:
    """Everything `gated_delta_step` refuses (kernels/_checks.py), then its shapes."""
    name = "gated_delta_step"
    check_tensors(name, {"state": state, "q": q, "k": k, "v": v, "g": g, "beta": beta})
    check_updatable(name, "state", state)
    if state.dim() != 4:
        raise ValueError(f"{name}: state must be (batch, heads, dk, dv), got {tuple(state.shape)}")
    b, h, dk, dv = state.shape
    check_shapes(
        name,
        {
            "q": (q, (b, h, dk)),
            "k": (k, (b, h, dk)),
            "v": (v, (b, h, dv)),
            "g": (g, (b, h)),
            "beta": (beta, (b, h)),
        },
    )


def gated_delta_step(
    state: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    beta: torch.Tensor,
    scale: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Advance a gated-delta-rule state by one token, in place, and return that token's output.

    One step of `gated_delta_rule`: S ← exp(g) S; S ← S + β k (v − Sᵀ k)ᵀ; o = Sᵀ (scale · q).
    Computes in fp32 and writes the new state back in the state's own dtype (a fp32 state with
    bf16 activations is fine); o is in v's dtype. Running it token by token equals
    `gated_delta_rule` over the sequence. For inference: the in-place update is not
    differentiable. Checked as `gated_delta_rule` is (dtypes, devices, sizes, shapes).

    Args:
        state: (b, h, dk, dv); updated in place.
        q: this token's query, (b, h, dk).
        k: this token's key, (b, h, dk).
        v: this token's value, (b, h, dv).
        g: log-decay, (b, h); ≤ 0.
        beta: write strength, (b, h); in [0, 1].
        scale: multiplies q; a float, dk^-0.5 when None.
        backend: "auto", "torch", "naive" (the same PyTorch code; a single step has nothing
            to speed up) or "triton".

    Returns:
        o, (b, h, dv), in v's dtype.

    Example:
        >>> b, h, dk, dv = 2, 4, 16, 32
        >>> state = torch.zeros(b, h, dk, dv)
        >>> k = torch.nn.functional.normalize(torch.randn(b, h, dk), dim=-1)
        >>> o = gated_delta_step(state, torch.randn(b, h, dk), k, torch.randn(b, h, dv),
        ...                      -torch.rand(b, h), torch.rand(b, h))
        >>> o.shape
        torch.Size([2, 4, 32])
    """
    _check_step(state, q, k, v, g, beta)
    check_backend("gated_delta_step", backend)
    scale = _resolve_scale("gated_delta_step", scale, k.shape[-1])
    impl = resolve("gated_delta_step", backend, v.device)
    return impl(state, q, k, v, g, beta, scale=scale)


__all__ = ["gated_delta_rule", "gated_delta_step"]

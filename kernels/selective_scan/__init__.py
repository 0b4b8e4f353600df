"""Mamba-1 selective scan and the decode step of both SSMs: public entries, checks, dispatch.

Shape legend:
    b  batch     d  channels (d_inner)     l  sequence length     n  state size (d_state)
    g  groups of channels sharing B and C

Backends of `selective_scan`: "naive" (naive.py, the sequential recurrence, the ground truth),
"torch" (recurrent.py, a blocked recurrence with a hand-written backward; what CPUs run) and
"triton" (triton/, what GPUs run). `selective_state_update` advances a Mamba-1 (b, d, n) or an
SSD (b, h, p, n) state by one token in place: "naive" (naive.py), "torch" (step.py) and "triton"
(triton/step.py). "auto" resolves through hybridlab.kernels._dispatch.
"""

from __future__ import annotations

import torch
from hybridlab.kernels._checks import (
    check_backend,
    check_bool,
    check_shapes,
    check_tensors,
    check_updatable,
)
from hybridlab.kernels._dispatch import resolve


def _check_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, final) -> None:
    """Everything `selective_scan` refuses (kernels/_checks.py), then its shapes."""
    name = "selective_scan"
    check_tensors(
        name,
        {"u": u, "delta": delta, "A": A, "B": B, "C": C},
        {"D": D, "z": z, "delta_bias": delta_bias, "initial_state": initial_state},
    )
    check_bool(name, "delta_softplus", delta_softplus)
    check_bool(name, "return_final_state", final)
    if u.dim() != 3:
        raise ValueError(f"{name}: u must be (batch, channels, length), got {tuple(u.shape)}")
    b, d, l = u.shape
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"{name}: A must be ({d}, d_state), got {tuple(A.shape)}")
    n = A.shape[1]
    for arg, t in (("B", B), ("C", C)):
        grouped = t.dim() == 4 and t.shape[0] == b and tuple(t.shape[2:]) == (n, l)
        ok = (t.dim() == 3 and tuple(t.shape) == (b, n, l)) or (grouped and d % t.shape[1] == 0)
        if not ok:
            raise ValueError(
                f"{name}: {arg} must be ({b}, {n}, {l}) or ({b}, g, {n}, {l}) with g "
                f"dividing {d} channels, got {tuple(t.shape)}"
            )
    if B.shape != C.shape:
        raise ValueError(
            f"{name}: B and C must have the same shape, got {tuple(B.shape)} and {tuple(C.shape)}"
        )
    check_shapes(
        name,
        {
            "delta": (delta, (b, d, l)),
            "D": (D, (d,)),
            "z": (z, (b, d, l)),
            "delta_bias": (delta_bias, (d,)),
            "initial_state": (initial_state, (b, d, n)),
        },
    )


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: torch.Tensor | None = None,
    return_final_state: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Mamba-1's selective scan over a whole sequence (mamba_ssm's `selective_scan_fn` layout).

    Per channel:  Δ_t = softplus(delta_t + delta_bias) if delta_softplus else delta_t
    (+ delta_bias if given),  h_t = exp(Δ_t A) ∘ h_{t-1} + Δ_t u_t B_t,  y_t = h_t C_t + D u_t,
    y_t *= silu(z_t) if z. Channel i uses group i // (d // g) of B and C. Computes in fp32;
    returns u's dtype.

    Accepted (checked here, once, for every backend; kernels/_checks.py): every tensor float32,
    bfloat16 or float16 (mixed freely), all on one device, no dimension of size 0. float64,
    integer, bool and complex tensors and None for a required tensor are TypeErrors; meta
    tensors, mixed devices, zero sizes and wrong shapes are ValueErrors; each message names
    the argument. Any sign of Δ and A is computed exactly (the backends run the recurrence; a
    growing state can overflow to inf). A NaN or inf at position t makes outputs from t on
    non-finite and never changes an output before t.

    Args:
        u: inputs, (b, d, l).
        delta: time steps before bias/softplus, (b, d, l); any sign without softplus.
        A: rates, (d, n); negative for decaying states, any sign works.
        B: input projections, (b, n, l), or (b, g, n, l) shared by groups of d/g channels.
        C: output projections, same layouts as B.
        D: skip connection, (d,); None for none.
        z: gate, (b, d, l): y *= silu(z). None for none.
        delta_bias: added to delta, (d,).
        delta_softplus: bool; apply softplus to delta + delta_bias.
        initial_state: state before the first token, (b, d, n); None means zeros.
        return_final_state: bool; also return the state after the last token, (b, d, n).
        backend: "auto", "torch", "naive" or "triton" (see hybridlab.kernels._dispatch).

    Returns:
        y of shape (b, d, l), or (y, final_state) when return_final_state.

    Example:
        >>> b, d, l, n = 2, 64, 100, 16
        >>> u, delta = torch.randn(b, d, l), torch.randn(b, d, l)
        >>> A, B, C = -torch.rand(d, n), torch.randn(b, n, l), torch.randn(b, n, l)
        >>> y = selective_scan(u, delta, A, B, C, delta_softplus=True)
        >>> y.shape
        torch.Size([2, 64, 100])
    """
    _check_scan(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, return_final_state
    )
    check_backend("selective_scan", backend)
    impl = resolve("selective_scan", backend, u.device)
    return impl(
        u,
        delta,
        A,
        B,
        C,
        D=D,
        z=z,
        delta_bias=delta_bias,
        delta_softplus=delta_softplus,
        initial_state=initial_state,
        return_final_state=return_final_state,
    )


def _check_step(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus) -> None:
    """Everything `selective_state_update` refuses (kernels/_checks.py), then its shapes."""
    name = "selective_state_update"
    check_tensors(
        name,
        {"state": state, "x": x, "dt": dt, "A": A, "B": B, "C": C},
        {"D": D, "z": z, "dt_bias": dt_bias},
    )
    check_updatable(name, "state", state)
    check_bool(name, "dt_softplus", dt_softplus)
    if state.dim() == 4:
        b, h, p, n = state.shape
        if B.dim() != 3 or B.shape[0] != b or B.shape[2] != n or h % B.shape[1]:
            raise ValueError(
                f"{name}: with an SSD state ({b}, {h}, {p}, {n}), B must be ({b}, g, {n}) with "
                f"g dividing {h}, got {tuple(B.shape)}"
            )
        expected = {
            "x": (x, (b, h, p)),
            "dt": (dt, (b, h)),
            "A": (A, (h,)),
            "C": (C, tuple(B.shape)),
            "z": (z, (b, h, p)),
            "dt_bias": (dt_bias, (h,)),
        }
        d_shapes = ((h,), (h, p))
    elif state.dim() == 3:
        b, d, n = state.shape
        ok_b = tuple(B.shape) == (b, n) or (
            B.dim() == 3 and B.shape[0] == b and B.shape[2] == n and d % B.shape[1] == 0
        )
        if not ok_b:
            raise ValueError(
                f"{name}: with a Mamba-1 state ({b}, {d}, {n}), B must be ({b}, {n}) or "
                f"({b}, g, {n}) with g dividing {d}, got {tuple(B.shape)}"
            )
        expected = {
            "x": (x, (b, d)),
            "dt": (dt, (b, d)),
            "A": (A, (d, n)),
            "C": (C, tuple(B.shape)),
            "z": (z, (b, d)),
            "dt_bias": (dt_bias, (d,)),
        }
        d_shapes = ((d,),)
    else:
        raise ValueError(
            f"{name}: state must be (batch, heads, headdim, d_state) for SSD or "
            f"(batch, channels, d_state) for Mamba-1, got {tuple(state.shape)}"
        )
    check_shapes(name, expected)
    if D is not None and tuple(D.shape) not in d_shapes:
        raise ValueError(
            f"{name}: D must have shape {' or '.join(map(str, d_shapes))}, got {tuple(D.shape)}"
        )


def selective_state_update(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """Advance an SSD or Mamba-1 state by one token, in place, and return that token's output.

    The layout is chosen by `state.dim()` (see the module docstring): 4 for SSD, 3 for Mamba-1.
    Computes in fp32 and writes the new state back in the state's own dtype (a fp32 state with
    bf16 activations is fine). Running it token by token equals `ssd` / `selective_scan` over the
    sequence. For inference: the in-place update is not differentiable.

    Accepted (checked here, once, for every backend; kernels/_checks.py): every tensor, the
    state included, float32, bfloat16 or float16 (mixed freely), all on one device, no
    dimension of size 0. float64, integer, bool and complex tensors (an int state would be
    truncated in place) and None for a required tensor are TypeErrors; meta tensors, mixed
    devices, zero sizes and wrong shapes are ValueErrors; each message names the argument.
    Any sign of Δ and A is computed exactly.

    Args:
        state: SSD (b, h, p, n) or Mamba-1 (b, d, n); updated in place.
        x: this token's input, (b, h, p) or (b, d).
        dt: time step before bias/softplus, (b, h) or (b, d).
        A: rates, (h,) or (d, n); negative for decaying states.
        B: input projection, (b, g, n) with g ≥ 1 dividing h (or d); for Mamba-1 also (b, n).
        C: output projection, same shape as B.
        D: skip connection, (h,) or (h, p) for SSD, (d,) for Mamba-1; None for none.
        z: gate, same shape as x: y *= silu(z). None for none.
        dt_bias: added to dt, (h,) or (d,).
        dt_softplus: bool; apply softplus to dt + dt_bias.
        backend: "auto", "torch" (the in-place decode path), "naive" (the recurrence as
            written) or "triton".

    Returns:
        y, same shape and dtype as x.

    Example:
        >>> b, h, p, n = 2, 4, 16, 32
        >>> state = torch.zeros(b, h, p, n)
        >>> y = selective_state_update(state, torch.randn(b, h, p), torch.rand(b, h),
        ...                            -torch.rand(h), torch.randn(b, 1, n), torch.randn(b, 1, n))
        >>> y.shape
        torch.Size([2, 4, 16])
    """
    _check_step(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)
    check_backend("selective_state_update", backend)
    impl = resolve("selective_state_update", backend, x.device)
    return impl(state, x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias, dt_softplus=dt_softplus)


__all__ = ["selective_scan", "selective_state_update"]

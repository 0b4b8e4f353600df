"""Mamba-2 SSD (state space duality): public entry, shape checks and backend dispatch.

Shape legend:
    b  batch     l  sequence length     h  heads      p  head dim (headdim)
    g  groups (ngroups): B and C are shared by the h/g heads of a group   n  state size (d_state)

Backends: "naive" (naive.py, the sequential recurrence, the ground truth), "torch" (chunk.py,
the chunked algorithm of Dao & Gu 2024 §6; what CPUs run) and "triton" (triton/, what GPUs run).
"auto" resolves through hybridlab.kernels._dispatch. SSD's decode step is
`hybridlab.kernels.selective_state_update` with a (b, h, p, n) state (selective_scan/step.py:
one recurrence serves both SSMs).
"""

from __future__ import annotations

import torch
from hybridlab.kernels._checks import (
    check_backend,
    check_bool,
    check_int,
    check_shapes,
    check_tensors,
)
from hybridlab.kernels._dispatch import resolve


def _check(x, dt, A, B, C, D, z, dt_bias, dt_softplus, initial_state, chunk_size, final) -> None:
    """Everything `ssd` refuses (kernels/_checks.py), then its shapes."""
    name = "ssd"
    check_tensors(
        name,
        {"x": x, "dt": dt, "A": A, "B": B, "C": C},
        {"D": D, "z": z, "dt_bias": dt_bias, "initial_state": initial_state},
    )
    check_int(name, "chunk_size", chunk_size)
    check_bool(name, "dt_softplus", dt_softplus)
    check_bool(name, "return_final_state", final)
    if x.dim() != 4:
        raise ValueError(f"ssd: x must be (batch, length, heads, headdim), got {tuple(x.shape)}")
    b, l, h, p = x.shape
    if B.dim() != 4 or B.shape[:2] != (b, l):
        raise ValueError(
            f"ssd: B must be (batch, length, ngroups, d_state) = ({b}, {l}, g, n), "
            f"got {tuple(B.shape)}"
        )
    g, n = B.shape[2], B.shape[3]
    if h % g:
        raise ValueError(f"ssd: B's ngroups={g} must divide heads={h}")
    check_shapes(
        name,
        {
            "dt": (dt, (b, l, h)),
            "A": (A, (h,)),
            "C": (C, (b, l, g, n)),
            "z": (z, (b, l, h, p)),
            "dt_bias": (dt_bias, (h,)),
            "initial_state": (initial_state, (b, h, p, n)),
        },
    )
    if D is not None and tuple(D.shape) not in ((h,), (h, p)):
        raise ValueError(f"ssd: D must have shape ({h},) or ({h}, {p}), got {tuple(D.shape)}")


def ssd(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = 64,
    return_final_state: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Mamba-2's selective state space model over a whole sequence (mamba_ssm's layout).

    Per head:  Δ_t = softplus(dt_t + dt_bias) if dt_softplus else dt_t (+ dt_bias if given),
    h_t = exp(Δ_t A) h_{t-1} + Δ_t x_t B_tᵀ,  y_t = h_t C_t + D x_t,  y_t *= silu(z_t) if z.
    Head i uses group i // (h // g) of B and C. Computes in fp32; returns x's dtype.

    Accepted (checked here, once, for every backend; kernels/_checks.py): every tensor float32,
    bfloat16 or float16 (mixed freely), all on one device, no dimension of size 0. float64,
    integer, bool and complex tensors and None for a required tensor are TypeErrors; meta
    tensors, mixed devices, zero sizes and wrong shapes are ValueErrors; each message names
    the argument. Any sign of Δ and A is computed exactly by every backend (a growing state
    can overflow to inf, as the recurrence itself does). A NaN or inf at position t makes
    outputs from t on non-finite and never changes an output before t.

    Args:
        x: inputs, (b, l, h, p).
        dt: time steps before bias/softplus, (b, l, h); any sign without softplus.
        A: per-head rate, (h,); negative for a decaying state (every Mamba-2), any sign works.
        B: input projections, (b, l, g, n), g ≥ 1 dividing h.
        C: output projections, (b, l, g, n).
        D: skip connection, (h,) or (h, p); None for none.
        z: gate, (b, l, h, p): y *= silu(z). None for none.
        dt_bias: added to dt, (h,).
        dt_softplus: bool; apply softplus to dt + dt_bias.
        initial_state: state before the first token, (b, h, p, n); None means zeros.
        chunk_size: int ≥ 1 (not a bool), the chunk length of the chunked backends ("torch",
            "triton"); any length works, it need not divide l; one above l is clamped to
            the next power of two ≥ l. 64 is fastest on CPUs (benchmarks/README.md).
        return_final_state: bool; also return the state after the last token, (b, h, p, n).
        backend: "auto", "torch", "naive" or "triton" (see hybridlab.kernels._dispatch).

    Returns:
        y of shape (b, l, h, p), or (y, final_state) when return_final_state.

    Example:
        >>> b, l, h, p, g, n = 2, 100, 4, 16, 1, 32
        >>> x, dt = torch.randn(b, l, h, p), torch.randn(b, l, h)
        >>> A, B, C = -torch.rand(h), torch.randn(b, l, g, n), torch.randn(b, l, g, n)
        >>> y, state = ssd(x, dt, A, B, C, dt_softplus=True, return_final_state=True)
        >>> y.shape, state.shape
        (torch.Size([2, 100, 4, 16]), torch.Size([2, 4, 16, 32]))
    """
    _check(
        x, dt, A, B, C, D, z, dt_bias, dt_softplus, initial_state, chunk_size, return_final_state
    )
    check_backend("ssd", backend)
    # A chunk longer than the sequence is the sequence in one chunk: clamped here, for every
    # backend, to the next power of two ≥ l (the Triton kernels' tile sizes), so that
    # chunk_size=65536 at l=100 does not ask for (q × q) buffers of 17 GB.
    chunk_size = min(int(chunk_size), 1 << (x.shape[1] - 1).bit_length())
    impl = resolve("ssd", backend, x.device)
    return impl(
        x,
        dt,
        A,
        B,
        C,
        D=D,
        z=z,
        dt_bias=dt_bias,
        dt_softplus=dt_softplus,
        initial_state=initial_state,
        chunk_size=chunk_size,
        return_final_state=return_final_state,
    )


__all__ = ["ssd"]

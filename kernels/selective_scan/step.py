"""One decode step of either SSM, updating the recurrent state in place.

Shape legend:
    b  batch     h  heads     p  head dim     g  groups     n  state size     d  channels

Two layouts, told apart by the state's rank (as in mamba_ssm's `selective_state_update`):
    SSD (Mamba-2):    state (b, h, p, n)  x (b, h, p)  dt (b, h)  A (h,)    B, C (b, g, n)
                      D (h,) or (h, p)    z (b, h, p)  dt_bias (h,)
    Mamba-1:          state (b, d, n)     x (b, d)     dt (b, d)  A (d, n)  B, C (b, n) or (b, g, n)
                      D (d,)              z (b, d)     dt_bias (d,)
One step of the recurrence of `ssd` / `selective_scan`:
    h <- exp(Δ A) h + Δ x Bᵀ,   y = h C + D x,   y *= silu(z)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hybridlab.kernels._checks import check_backend, check_bool, check_shapes, check_tensors
from hybridlab.kernels._dispatch import resolve


def _check(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus) -> None:
    """Everything `selective_state_update` refuses (kernels/_checks.py), then its shapes."""
    name = "selective_state_update"
    check_tensors(
        name,
        {"state": state, "x": x, "dt": dt, "A": A, "B": B, "C": C},
        {"D": D, "z": z, "dt_bias": dt_bias},
    )
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


def selective_state_update_naive(
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
) -> torch.Tensor:
    """Reference implementation of `selective_state_update`: the recurrence as written, fp32
    inside, groups expanded to heads (channels) with `repeat_interleave`."""
    dtype = x.dtype
    x, dt, A, B, C = (t.float() for t in (x, dt, A, B, C))
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    h_prev = state.float()
    if state.dim() == 4:
        heads = state.shape[1]
        B = B.repeat_interleave(heads // B.shape[1], dim=1)[:, :, None, :]  # (b, h, 1, n)
        C = C.repeat_interleave(heads // C.shape[1], dim=1)[:, :, None, :]  # (b, h, 1, n)
        decay = torch.exp(dt * A)[..., None, None]  # (b, h, 1, 1)
        inp = (dt[..., None] * x)[..., None] * B  # (b, h, p, n)
        if D is not None:
            D = D.float()[:, None] if D.dim() == 1 else D.float()  # (h, 1) or (h, p)
    else:
        channels = state.shape[1]
        if B.dim() == 2:
            B, C = B[:, None], C[:, None]
        B = B.repeat_interleave(channels // B.shape[1], dim=1)  # (b, d, n)
        C = C.repeat_interleave(channels // C.shape[1], dim=1)  # (b, d, n)
        decay = torch.exp(dt[..., None] * A)  # (b, d, n)
        inp = (dt * x)[..., None] * B  # (b, d, n)
    h_new = decay * h_prev + inp
    y = (h_new * C).sum(-1)  # (b, h, p) or (b, d)
    if D is not None:
        y = y + D.float() * x
    if z is not None:
        y = y * F.silu(z.float())
    state.copy_(h_new)
    return y.to(dtype)


def selective_state_update_torch(
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
) -> torch.Tensor:
    """The decode path: about half the ops of the reference, and no new state tensor.

    At batch 1 a decode step is a few dozen tiny ops, each costing its dispatch overhead rather
    than its arithmetic, so the op count is the cost. Here the heads (channels) of a group are
    viewed as one (b, g, r, n) block, r = heads/g · p (or channels/g), so B and C broadcast over
    them without being copied per head; a fp32, contiguous state is advanced in place
    (h ← exp(ΔA)·h, then h += (Δx)·Bᵀ as one `addcmul_`) and read out with one batched matmul
    (y = h·C). Any other state is advanced in a fp32 copy and written back, as the reference does.
    """
    f32 = torch.float32
    dtype = x.dtype
    x, dt = x.to(f32), dt.to(f32)
    if dt_bias is not None:
        dt = dt + dt_bias.to(f32)
    if dt_softplus:
        dt = F.softplus(dt)
    in_place = state.dtype == f32 and state.is_contiguous()
    h = state if in_place else state.to(f32).contiguous()
    b = state.shape[0]
    if B.dim() == 2:  # Mamba-1 with one group: (b, n)
        B, C = B[:, None], C[:, None]
    g, n = B.shape[1], B.shape[2]
    if state.dim() == 4:
        decay = torch.exp(dt * A.to(f32))[..., None, None]  # (b, h, 1, 1)
        dtx = dt[..., None] * x  # (b, h, p)
    else:
        decay = torch.exp(dt[..., None] * A.to(f32))  # (b, d, n)
        dtx = dt * x  # (b, d)
    h.mul_(decay)
    h_grouped = h.view(b, g, -1, n)  # (b, g, r, n)
    h_grouped.addcmul_(dtx.reshape(b, g, -1, 1), B.to(f32)[:, :, None, :])
    y = torch.matmul(h_grouped, C.to(f32)[..., None]).view(x.shape)  # (b, h, p) or (b, d)
    if D is not None:
        D = D.to(f32)
        y = y.addcmul_(D[:, None] if state.dim() == 4 and D.dim() == 1 else D, x)
    if z is not None:
        y = y.mul_(F.silu(z.to(f32)))
    if not in_place:
        state.copy_(h)
    return y.to(dtype)


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
    _check(state, x, dt, A, B, C, D, z, dt_bias, dt_softplus)
    check_backend("selective_state_update", backend)
    impl = resolve("selective_state_update", backend, x.device)
    return impl(state, x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias, dt_softplus=dt_softplus)

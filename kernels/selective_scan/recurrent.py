"""Mamba-1 selective scan, recurrent: the CPU fast path, with a hand-written backward.

Shape legend:
    b  batch     d  channels      l  sequence length     n  state size
    g  groups of channels sharing B and C               r  channels per group (d / g)
    k  steps in a time block (≤ block_size)             nb number of time blocks

Why a recurrence and not a parallel scan. Mamba-1's decay exp(Δ_t A) differs per channel and per
state entry, so there is no matmul form (unlike SSD); every method touches b·l·d·n elements. On
a CPU the costs are memory traffic and `exp`, not parallel depth, so the fastest exact method
measured here (benchmarks/cpu_scans.py) is the plain recurrence, organised so that:
    - everything elementwise (exp(ΔA), Δ u B, the output and gradient contractions) is vectorised
      over a block of `block_size` time steps, whose (k, b, n, d) tensors stay in cache;
    - only  h_t = exp(Δ_t A) ∘ h_{t-1} + Δ_t u_t B_t  runs step by step, as one in-place
      `addcmul_` on a contiguous (b, n, d) slice;
    - states are held as (b, n, d), channels innermost (the public layout is (b, d, n)): the
      products with B and C broadcast along a long contiguous axis and the contractions over n
      are (1, n) @ (n, d) matmuls; measured ~9x faster than (d, n) for the output contraction;
    - no autograd graph is built: forward keeps only the states at block boundaries
      ((nb + 1, b, n, d), not (l, b, n, d)); backward recomputes one block at a time and runs
      the reverse recurrence  g_t = C_t dy_t + exp(Δ_{t+1} A) ∘ g_{t+1}  (the adjoint of a linear
      recurrence is the same recurrence backwards in time).
Numerically it is the recurrence itself: no log-space cumulative sums, so nothing can overflow
however negative Δ·A gets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Time steps per block: (k, b, n, d) temporaries of a block should fit in cache; measured.
DEFAULT_BLOCK_SIZE = 32


def _block_states(dA, x, h_prev):
    """In place: x[j] <- dA[j] ∘ x[j-1] + x[j], with x[-1] = h_prev. x: (k, b, n, d)."""
    x[0].addcmul_(dA[0], h_prev)
    for j in range(1, x.shape[0]):
        x[j].addcmul_(dA[j], x[j - 1])
    return x


def _block_inputs(dl_t, du_t, A_T, B_t, t0, t1):
    """exp(Δ A) and Δ u B for steps [t0, t1): both (k, b, n, d)."""
    k = t1 - t0
    _, b, d = du_t.shape
    n, g = B_t.shape[2], B_t.shape[3]
    dA = torch.exp(dl_t[t0:t1, :, None, :] * A_T)  # (k, b, n, d)
    x = du_t[t0:t1].view(k, b, 1, g, d // g) * B_t[t0:t1, :, :, :, None]  # (k, b, n, g, r)
    return dA, x.view(k, b, n, d)


def _sum_over_state(s, v):
    """Σ_n s[k, b, n, d] v[k, b, n, g(d)] -> (k, b, d): the y and d(Δu) contractions."""
    k, b, n, d = s.shape
    g = v.shape[-1]
    if g == 1:
        return torch.bmm(v.reshape(k * b, 1, n), s.view(k * b, n, d)).view(k, b, d)
    return (s.view(k, b, n, g, d // g) * v[..., None]).sum(2).view(k, b, d)


def _sum_over_group(s, w, g):
    """Σ_{d in group} s[k, b, n, d] w[k, b, d] -> (k, b, n, g): the dB and dC contractions."""
    k, b, n, d = s.shape
    if g == 1:
        return torch.bmm(s.view(k * b, n, d), w.reshape(k * b, d, 1)).view(k, b, n, 1)
    return (s.view(k, b, n, g, d // g) * w.view(k, b, 1, g, d // g)).sum(-1)


def _forward(u_t, dl_t, A_T, B_t, C_t, h0, block):
    """y (l, b, d) and the states at block boundaries (nb + 1, b, n, d)."""
    l, b, d = u_t.shape
    n = B_t.shape[2]
    du_t = dl_t * u_t  # (l, b, d)
    y_t = u_t.new_empty(l, b, d)
    num_blocks = -(-l // block)
    H = u_t.new_empty(num_blocks + 1, b, n, d)
    if h0 is None:
        H[0] = 0.0
    else:
        H[0] = h0
    for i in range(num_blocks):
        t0, t1 = i * block, min(l, (i + 1) * block)
        dA, x = _block_inputs(dl_t, du_t, A_T, B_t, t0, t1)
        h = _block_states(dA, x, H[i])  # (k, b, n, d)
        H[i + 1] = h[-1]
        y_t[t0:t1] = _sum_over_state(h, C_t[t0:t1])
    return y_t, H


def _backward(dy_t, dh_final, u_t, dl_t, A_T, B_t, C_t, H, block):
    """Gradients of _forward for u, Δ, Aᵀ, B, C and h0, one block at a time, last block first."""
    l, b, d = u_t.shape
    n, g = B_t.shape[2], B_t.shape[3]
    r = d // g
    du_t = dl_t * u_t  # (l, b, d)
    d_du = torch.empty_like(u_t)  # (l, b, d)  gradient of Δ u
    d_dl = torch.empty_like(u_t)  # (l, b, d)  gradient of Δ through exp(Δ A)
    dB = torch.empty_like(B_t)  # (l, b, n, g)
    dC = torch.empty_like(C_t)  # (l, b, n, g)
    dA_T = torch.zeros_like(A_T)  # (n, d)
    carry = dh_final  # ∂loss/∂h at the end of the block being processed
    for i in reversed(range(H.shape[0] - 1)):
        t0, t1 = i * block, min(l, (i + 1) * block)
        k = t1 - t0
        dA, x = _block_inputs(dl_t, du_t, A_T, B_t, t0, t1)
        h = _block_states(dA, x, H[i])  # (k, b, n, d)

        # Reverse recurrence: gr_j = C_j dy_j + dA_{j+1} ∘ gr_{j+1}, gr_{k-1} also gets the carry.
        dy_blk = dy_t[t0:t1]  # (k, b, d)
        gr = (dy_blk.view(k, b, 1, g, r) * C_t[t0:t1, :, :, :, None]).view(k, b, n, d)
        gr[-1] += carry
        for j in range(k - 2, -1, -1):
            gr[j].addcmul_(dA[j + 1], gr[j + 1])
        carry = gr[0] * dA[0]

        # Contractions over the channels of a group (dB, dC) or over the state (d(Δu)).
        dC[t0:t1] = _sum_over_group(h, dy_blk, g)
        dB[t0:t1] = _sum_over_group(gr, du_t[t0:t1], g)
        d_du[t0:t1] = _sum_over_state(gr, B_t[t0:t1])

        # ∂loss/∂(Δ_j A) = gr_j ∘ dA_j ∘ h_{j-1}, in dA's memory.
        dlog = dA
        dlog[1:] *= h[:-1]
        dlog[0] *= H[i]
        dlog *= gr
        d_dl[t0:t1] = (dlog * A_T).sum(2)
        dA_T += (dlog * dl_t[t0:t1, :, None, :]).sum((0, 1))
    du = d_du * dl_t
    ddl = d_du * u_t + d_dl
    return du, ddl, dA_T, dB, dC, carry


class _RecurrentScan(torch.autograd.Function):
    """(u, Δ, Aᵀ, B, C, h0) in the time-major fp32 layouts above -> (y, final state (b, n, d))."""

    @staticmethod
    def forward(ctx, u_t, dl_t, A_T, B_t, C_t, h0, block):
        y_t, H = _forward(u_t, dl_t, A_T, B_t, C_t, h0, block)
        ctx.save_for_backward(u_t, dl_t, A_T, B_t, C_t, H)
        ctx.block = block
        ctx.has_h0 = h0 is not None
        return y_t, H[-1].clone()

    @staticmethod
    def backward(ctx, dy_t, dh_final):
        u_t, dl_t, A_T, B_t, C_t, H = ctx.saved_tensors
        du, ddl, dA, dB, dC, dh0 = _backward(
            dy_t.contiguous(), dh_final, u_t, dl_t, A_T, B_t, C_t, H, ctx.block
        )
        return du, ddl, dA, dB, dC, (dh0 if ctx.has_h0 else None), None


def selective_scan_recurrent(
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
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Blocked recurrent scan; same contract as `hybridlab.kernels.selective_scan`. fp32 inside."""
    dtype = u.dtype
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    if B.dim() == 3:
        B = B[:, None]
    if C.dim() == 3:
        C = C[:, None]
    # Time-major layouts, so that one step is a contiguous slice, with channels innermost.
    u_t = u.permute(2, 0, 1).contiguous()  # (l, b, d)
    dl_t = delta.permute(2, 0, 1).contiguous()  # (l, b, d)
    B_t = B.permute(3, 0, 2, 1).contiguous()  # (l, b, n, g)
    C_t = C.permute(3, 0, 2, 1).contiguous()  # (l, b, n, g)
    A_T = A.t().contiguous()  # (n, d)
    h0 = initial_state.float().transpose(1, 2).contiguous() if initial_state is not None else None
    y_t, final_state = _RecurrentScan.apply(u_t, dl_t, A_T, B_t, C_t, h0, block_size)
    y = y_t.permute(1, 2, 0).contiguous()  # (b, d, l)
    final_state = final_state.transpose(1, 2).contiguous()  # (b, d, n)

    if D is not None:
        y = y + D.float()[:, None] * u
    if z is not None:
        y = y * F.silu(z.float())
    y = y.to(dtype)
    if return_final_state:
        return y, final_state.to(dtype)
    return y

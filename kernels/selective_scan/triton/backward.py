"""Mamba-1 selective scan (backward) in Triton: recompute each chunk, then a reverse scan.

Shape legend:
    b  batch     d  channels     l  sequence length     n  state size
    g  groups of channels sharing B and C               k  time chunks (ceil(l / T))

With a_t = exp(Δ_t A), b_t = Δ_t u_t B_t, h_t = a_t h_{t−1} + b_t, y_t = C_t · h_t + D u_t and
dy = dout ∘ silu(z) (the gate undone), the adjoint of the linear recurrence runs backwards:
    g_t = C_t dy_t + a_{t+1} g_{t+1}           g_t = ∂loss/∂h_t,   g_{l−1} also gets ∂loss/∂h_final
and, using a_t h_{t−1} = h_t − b_t (no division by a_t, which may underflow):
    ∂Δ_t = Σ_n g_t (A (h_t − b_t) + u_t B_t)            ∂A  = Σ_t g_t (h_t − b_t) Δ_t
    ∂u_t = Δ_t Σ_n g_t B_t + D dy_t                      ∂D  = Σ_t dy_t u_t
    ∂B_t = Σ_d g_t Δ_t u_t        ∂C_t = Σ_d dy_t h_t    ∂h_{−1} = a_0 g_0
One program owns BD channels of one batch and group and walks the chunks last to first: it
recomputes the chunk's states from the saved entering state (forward scan), then runs the reverse
scan for g with a_{t+1} read one step ahead, carrying g across chunk boundaries. dB and dC sum
over channels, which several programs share, so they are accumulated with atomic adds into fp32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, new_empty, softplus
from .forward import _affine_combine


@autotune(
    configs=[
        triton.Config({"BLOCK_D": 4}, num_warps=4, num_stages=3),
        triton.Config({"BLOCK_D": 8}, num_warps=8, num_stages=3),
        triton.Config({"BLOCK_D": 8}, num_warps=8, num_stages=1),
    ],
    key=["dim_per_group", "d_state", "BLOCK_T"],
    # dB and dC are accumulated atomically: clear them between the autotuner's trial runs.
    reset_to_zero=["dB_ptr", "dC_ptr"],
)
@triton.jit
def _selective_scan_bwd_kernel(
    u_ptr,  # (b, d, l) contiguous
    delta_ptr,  # (b, d, l) contiguous
    A_ptr,  # (d, n) contiguous
    B_ptr,  # (b, g, n, l) contiguous
    C_ptr,  # (b, g, n, l) contiguous
    D_ptr,  # (d,), or a dummy
    z_ptr,  # (b, d, l) contiguous, or a dummy
    bias_ptr,  # (d,), or a dummy
    chunk_states_ptr,  # (b, d, k, n) fp32 state entering each chunk
    dout_ptr,  # (b, d, l) contiguous
    dfinal_ptr,  # (b, d, n), or a dummy
    du_ptr,  # (b, d, l), written
    ddelta_ptr,  # (b, d, l) fp32, written
    dA_ptr,  # (b, d, n) fp32 per-batch partial sums, written
    dB_ptr,  # (b, g, n, l) fp32, accumulated (zero-initialised)
    dC_ptr,  # (b, g, n, l) fp32, accumulated (zero-initialised)
    dD_ptr,  # (b, d) fp32 per-batch partial sums, written when HAS_D
    dz_ptr,  # (b, d, l), written when HAS_Z
    dinit_ptr,  # (b, d, n) fp32, written
    seqlen,
    dim,
    d_state,
    num_groups,
    dim_per_group,
    num_chunks,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    HAS_DFINAL: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    pid = tl.program_id(0)
    num_d_blocks = (dim_per_group + BLOCK_D - 1) // BLOCK_D
    pid_d = pid % num_d_blocks
    pid_g = (pid // num_d_blocks) % num_groups
    pid_b = pid // (num_d_blocks * num_groups)

    offs_dg = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = offs_dg < dim_per_group
    offs_d = pid_g * dim_per_group + offs_dg
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < d_state
    offs_t = tl.arange(0, BLOCK_T)
    mask_dn = mask_d[:, None] & mask_n[None, :]

    A = tl.load(A_ptr + offs_d[:, None] * d_state + offs_n[None, :], mask=mask_dn, other=0.0)
    A = A.to(tl.float32)  # (BD, BN)
    A2 = A * 1.4426950408889634  # exp(Δ A) = exp2(Δ A log2 e)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_D:
        D = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
        dD = tl.full((BLOCK_D,), 0.0, dtype=tl.float32)

    row = (pid_b * dim + offs_d).to(tl.int64)
    seq_rows = row[:, None] * seqlen  # (BD, 1)
    bc_base = (pid_b * num_groups + pid_g).to(tl.int64) * d_state * seqlen
    bc_rows = bc_base + offs_n[:, None] * seqlen  # (BN, 1)
    state_offs = row[:, None] * d_state + offs_n[None, :]
    chunk_rows = (row[:, None] * num_chunks) * d_state + offs_n[None, :]
    if HAS_DFINAL:
        g_carry = tl.load(dfinal_ptr + state_offs, mask=mask_dn, other=0.0).to(tl.float32)
    else:
        g_carry = tl.full((BLOCK_D, BLOCK_N), 0.0, dtype=tl.float32)
    dA = tl.full((BLOCK_D, BLOCK_N), 0.0, dtype=tl.float32)
    dinit = tl.full((BLOCK_D, BLOCK_N), 0.0, dtype=tl.float32)
    first = (offs_t == 0)[None, None, :]

    for i in range(num_chunks):
        chunk = num_chunks - 1 - i
        t = chunk * BLOCK_T + offs_t
        mask_t = t < seqlen
        mask_dt = mask_d[:, None] & mask_t[None, :]
        mask_nt = mask_n[:, None] & mask_t[None, :]
        io = seq_rows + t[None, :]

        # Δ at t and at t + 1 (the reverse recurrence's coefficient a_{t+1}); 0 past the end.
        raw = tl.load(delta_ptr + io, mask=mask_dt, other=0.0).to(tl.float32)
        mask_next = mask_d[:, None] & (t + 1 < seqlen)[None, :]
        raw_next = tl.load(delta_ptr + io + 1, mask=mask_next, other=0.0).to(tl.float32)
        if HAS_BIAS:
            raw += bias[:, None]
            raw_next += bias[:, None]
        delta = raw
        delta_next = raw_next
        if SOFTPLUS:
            delta = softplus(raw)
            delta_next = softplus(raw_next)
        delta = tl.where(mask_dt, delta, 0.0)  # (BD, T)
        delta_next = tl.where(mask_next, delta_next, 0.0)  # (BD, T)

        u = tl.load(u_ptr + io, mask=mask_dt, other=0.0).to(tl.float32)
        B = tl.load(B_ptr + bc_rows + t[None, :], mask=mask_nt, other=0.0).to(tl.float32)
        C = tl.load(C_ptr + bc_rows + t[None, :], mask=mask_nt, other=0.0).to(tl.float32)
        dy = tl.load(dout_ptr + io, mask=mask_dt, other=0.0).to(tl.float32)

        # Recompute the chunk's states from the saved entering state.
        h_in = tl.load(chunk_states_ptr + chunk_rows + chunk * d_state, mask=mask_dn, other=0.0)
        decay = tl.exp2(delta[:, None, :] * A2[:, :, None])  # (BD, BN, T)
        inp = (delta * u)[:, None, :] * B[None, :, :]  # (BD, BN, T)
        prod, part = tl.associative_scan((decay, inp), axis=2, combine_fn=_affine_combine)
        states = part + prod * h_in[:, :, None]  # (BD, BN, T)

        if HAS_Z:
            z = tl.load(z_ptr + io, mask=mask_dt, other=0.0).to(tl.float32)
            sig = 1.0 / (1.0 + tl.exp(-z))
            y = tl.sum(states * C[None, :, :], axis=1)
            if HAS_D:
                y += D[:, None] * u
            dz = dy * y * sig * (1.0 + z * (1.0 - sig))
            tl.store(dz_ptr + io, dz.to(dz_ptr.dtype.element_ty), mask=mask_dt)
            dy = dy * z * sig

        # Reverse scan: g_t = C_t dy_t + a_{t+1} g_{t+1}, entering with g of the next chunk.
        decay_next = tl.exp2(delta_next[:, None, :] * A2[:, :, None])
        src = C[None, :, :] * dy[:, None, :]  # (BD, BN, T)
        prod_r, part_r = tl.associative_scan(
            (decay_next, src), axis=2, combine_fn=_affine_combine, reverse=True
        )
        g = part_r + prod_r * g_carry[:, :, None]  # (BD, BN, T): ∂loss/∂h_t

        ah = states - inp  # a_t h_{t−1}
        ddelta = tl.sum(g * (A[:, :, None] * ah + u[:, None, :] * B[None, :, :]), axis=1)
        dA += tl.sum(g * ah * delta[:, None, :], axis=2)
        gB = tl.sum(g * B[None, :, :], axis=1)  # (BD, T)
        du = delta * gB
        if HAS_D:
            du += D[:, None] * dy
            dD += tl.sum(dy * u, axis=1)
        dB_part = tl.sum(g * (delta * u)[:, None, :], axis=0)  # (BN, T)
        dC_part = tl.sum(states * dy[:, None, :], axis=0)  # (BN, T)
        tl.atomic_add(dB_ptr + bc_rows + t[None, :], dB_part, mask=mask_nt)
        tl.atomic_add(dC_ptr + bc_rows + t[None, :], dC_part, mask=mask_nt)

        if SOFTPLUS:
            ddelta *= tl.where(raw <= 20.0, 1.0 / (1.0 + tl.exp(-raw)), 1.0)
        tl.store(ddelta_ptr + io, ddelta, mask=mask_dt)
        tl.store(du_ptr + io, du.to(du_ptr.dtype.element_ty), mask=mask_dt)

        # The previous chunk continues from g at this chunk's first step.
        g_carry = tl.sum(tl.where(first, g, 0.0), axis=2)
        # After the first chunk: ∂loss/∂h_{−1} = a_0 g_0.
        dinit = tl.sum(tl.where(first, decay * g, 0.0), axis=2)

    tl.store(dinit_ptr + state_offs, dinit, mask=mask_dn)
    tl.store(dA_ptr + state_offs, dA, mask=mask_dn)
    if HAS_D:
        tl.store(dD_ptr + row, dD, mask=mask_d)


def selective_scan_bwd(
    dout: torch.Tensor,
    dfinal: torch.Tensor | None,
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    chunk_states: torch.Tensor,
    block_t: int,
):
    """Gradients of every input of `selective_scan_fwd`.

    Args:
        dout: (b, d, l) gradient of the output.  dfinal: (b, d, n) or None.
        u, delta, A, B, C, D, z, delta_bias, delta_softplus: the forward's inputs.
        chunk_states: (b, d, k, n) fp32 from the forward;  block_t: the forward's T.
    Returns:
        du (b, d, l), ddelta (b, d, l) fp32, dA (d, n) fp32, dB and dC (b, g, n, l) fp32,
        dD (d,) fp32 or None, dz (b, d, l) or None, ddelta_bias (d,) fp32 or None,
        dinit (b, d, n) fp32.
    """
    batch, dim, seqlen = u.shape
    num_groups, d_state = B.shape[1], B.shape[2]
    dim_per_group = dim // num_groups
    num_chunks = chunk_states.shape[2]
    dev = u.device
    du = new_empty(batch, dim, seqlen, dtype=u.dtype, device=dev)
    ddelta = new_empty(batch, dim, seqlen, dtype=torch.float32, device=dev)
    dA = new_empty(batch, dim, d_state, dtype=torch.float32, device=dev)
    dB = torch.zeros(B.shape, dtype=torch.float32, device=dev)
    dC = torch.zeros(C.shape, dtype=torch.float32, device=dev)
    dD = new_empty(batch, dim, dtype=torch.float32, device=dev) if D is not None else None
    dz = new_empty(batch, dim, seqlen, dtype=z.dtype, device=dev) if z is not None else None
    dinit = new_empty(batch, dim, d_state, dtype=torch.float32, device=dev)
    dfinal = dfinal.contiguous() if dfinal is not None else None

    def grid(meta):
        return (batch * num_groups * triton.cdiv(dim_per_group, meta["BLOCK_D"]),)

    with device_guard(u):
        _selective_scan_bwd_kernel[grid](
            u, delta, A, B, C,
            D if D is not None else A,
            z if z is not None else u,
            delta_bias if delta_bias is not None else A,
            chunk_states, dout,
            dfinal if dfinal is not None else A,
            du, ddelta, dA, dB, dC,
            dD if dD is not None else dA,
            dz if dz is not None else du,
            dinit,
            seqlen, dim, d_state, num_groups, dim_per_group, num_chunks,
            HAS_D=D is not None,
            HAS_Z=z is not None,
            HAS_BIAS=delta_bias is not None,
            SOFTPLUS=delta_softplus,
            HAS_DFINAL=dfinal is not None,
            BLOCK_N=triton.next_power_of_2(d_state),
            BLOCK_T=block_t,
        )  # fmt: skip
    ddelta_bias = ddelta.sum((0, 2)) if delta_bias is not None else None
    return (
        du,
        ddelta,
        dA.sum(0),
        dB,
        dC,
        dD.sum(0) if dD is not None else None,
        dz,
        ddelta_bias,
        dinit,
    )

"""Mamba-1 selective scan (forward) in Triton: a blocked parallel scan with the state in registers.

Shape legend:
    b  batch     d  channels     l  sequence length     n  state size
    g  groups of channels sharing B and C               k  time chunks (ceil(l / T))
    BD, BN, T    the program's tile: channels × state entries × time steps

Math (Gu & Dao 2023, "Mamba", Algorithm 2): with Δ = softplus(delta + delta_bias) (or without the
softplus) and a_t = exp(Δ_t A), b_t = Δ_t u_t B_t,
    h_t = a_t ∘ h_{t−1} + b_t,     y_t = C_t · h_t + D u_t,     y_t ∘= silu(z_t)
Design (the CUDA kernel of mamba_ssm does the same with a block-wide scan): one program owns BD
channels of one batch and group and walks the sequence in chunks of T steps. Inside a chunk the
affine maps h ↦ a_t h + b_t compose associatively, so `tl.associative_scan` along time gives, per
(channel, state entry), the prefix products P_t = Π a and partial states S_t (for h_{−1} = 0); the
chunk's states are h_t = S_t + P_t h_carry. The carried state is the last column. Nothing of size
(b, d, l, n) ever reaches memory: only y, the final state and the state entering each chunk
(for the backward's recomputation) are written.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import autotune, device_guard, new_empty, softplus


@triton.jit
def _affine_combine(a_prev, b_prev, a_next, b_next):
    """Compose h ↦ a_prev h + b_prev, then h ↦ a_next h + b_next."""
    return a_prev * a_next, b_prev * a_next + b_next


@autotune(
    configs=[
        triton.Config({"BLOCK_D": 4}, num_warps=4, num_stages=3),
        triton.Config({"BLOCK_D": 16}, num_warps=8, num_stages=3),
        triton.Config({"BLOCK_D": 8}, num_warps=8, num_stages=1),
    ],
    key=["dim_per_group", "d_state", "BLOCK_T"],
)
@triton.jit
def _selective_scan_fwd_kernel(
    u_ptr,  # (b, d, l) contiguous
    delta_ptr,  # (b, d, l) contiguous
    A_ptr,  # (d, n) contiguous
    B_ptr,  # (b, g, n, l) contiguous
    C_ptr,  # (b, g, n, l) contiguous
    D_ptr,  # (d,), or a dummy
    z_ptr,  # (b, d, l) contiguous, or a dummy
    bias_ptr,  # (d,), or a dummy
    init_ptr,  # (b, d, n), or a dummy
    out_ptr,  # (b, d, l), written
    final_ptr,  # (b, d, n) fp32, written
    chunk_states_ptr,  # (b, d, k, n) fp32 state entering each chunk, written
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
    HAS_INIT: tl.constexpr,
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
    offs_d = pid_g * dim_per_group + offs_dg  # (BD,) channel index
    offs_n = tl.arange(0, BLOCK_N)
    mask_n = offs_n < d_state
    offs_t = tl.arange(0, BLOCK_T)
    mask_dn = mask_d[:, None] & mask_n[None, :]

    # exp(Δ A) = exp2(Δ · A log2 e): the log2 e is folded into A once.
    A = tl.load(A_ptr + offs_d[:, None] * d_state + offs_n[None, :], mask=mask_dn, other=0.0)
    A = A.to(tl.float32) * 1.4426950408889634  # (BD, BN)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_D:
        D = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)

    row = (pid_b * dim + offs_d).to(tl.int64)  # (BD,)
    seq_rows = row[:, None] * seqlen  # (BD, 1)
    bc_base = (pid_b * num_groups + pid_g).to(tl.int64) * d_state * seqlen
    bc_rows = bc_base + offs_n[:, None] * seqlen  # (BN, 1)
    state_offs = row[:, None] * d_state + offs_n[None, :]  # (BD, BN)
    if HAS_INIT:
        h = tl.load(init_ptr + state_offs, mask=mask_dn, other=0.0).to(tl.float32)
    else:
        h = tl.full((BLOCK_D, BLOCK_N), 0.0, dtype=tl.float32)
    chunk_rows = (row[:, None] * num_chunks) * d_state + offs_n[None, :]  # (BD, BN)

    for chunk in range(num_chunks):
        tl.store(chunk_states_ptr + chunk_rows + chunk * d_state, h, mask=mask_dn)
        t = chunk * BLOCK_T + offs_t
        mask_t = t < seqlen
        mask_dt = mask_d[:, None] & mask_t[None, :]
        u = tl.load(u_ptr + seq_rows + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
        delta = tl.load(delta_ptr + seq_rows + t[None, :], mask=mask_dt, other=0.0)
        delta = delta.to(tl.float32)
        if HAS_BIAS:
            delta += bias[:, None]
        if SOFTPLUS:
            delta = softplus(delta)
        # Past the end Δ = 0: a = 1, b = 0, so the state carries through unchanged.
        delta = tl.where(mask_dt, delta, 0.0)  # (BD, T)
        mask_nt = mask_n[:, None] & mask_t[None, :]
        B = tl.load(B_ptr + bc_rows + t[None, :], mask=mask_nt, other=0.0).to(tl.float32)
        C = tl.load(C_ptr + bc_rows + t[None, :], mask=mask_nt, other=0.0).to(tl.float32)

        decay = tl.exp2(delta[:, None, :] * A[:, :, None])  # (BD, BN, T)
        inp = (delta * u)[:, None, :] * B[None, :, :]  # (BD, BN, T)
        prod, part = tl.associative_scan((decay, inp), axis=2, combine_fn=_affine_combine)
        states = part + prod * h[:, :, None]  # (BD, BN, T): h_t for every t of the chunk
        y = tl.sum(states * C[None, :, :], axis=1)  # (BD, T)
        h = tl.sum(tl.where((offs_t == BLOCK_T - 1)[None, None, :], states, 0.0), axis=2)

        if HAS_D:
            y += D[:, None] * u
        if HAS_Z:
            z = tl.load(z_ptr + seq_rows + t[None, :], mask=mask_dt, other=0.0).to(tl.float32)
            y *= z / (1.0 + tl.exp(-z))
        tl.store(out_ptr + seq_rows + t[None, :], y.to(out_ptr.dtype.element_ty), mask=mask_dt)

    tl.store(final_ptr + state_offs, h, mask=mask_dn)


def selective_scan_fwd(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    initial_state: torch.Tensor | None,
    block_t: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the forward scan.

    Args:
        u, delta: (b, d, l) contiguous.  A: (d, n).  B, C: (b, g, n, l) contiguous.
        D: (d,) or None.  z: (b, d, l) or None.  delta_bias: (d,) or None.
        initial_state: (b, d, n) or None.
        block_t: T, the time chunk (a power of two); the backward must use the same.
    Returns:
        out (b, d, l) in u's dtype, final state (b, d, n) fp32, chunk states (b, d, k, n) fp32.
    """
    batch, dim, seqlen = u.shape
    num_groups, d_state = B.shape[1], B.shape[2]
    dim_per_group = dim // num_groups
    num_chunks = triton.cdiv(seqlen, block_t)
    dev = u.device
    out = new_empty(batch, dim, seqlen, dtype=u.dtype, device=dev)
    final = new_empty(batch, dim, d_state, dtype=torch.float32, device=dev)
    chunk_states = new_empty(batch, dim, num_chunks, d_state, dtype=torch.float32, device=dev)

    def grid(meta):
        return (batch * num_groups * triton.cdiv(dim_per_group, meta["BLOCK_D"]),)

    with device_guard(u):
        _selective_scan_fwd_kernel[grid](
            u, delta, A, B, C,
            D if D is not None else A,
            z if z is not None else u,
            delta_bias if delta_bias is not None else A,
            initial_state if initial_state is not None else A,
            out, final, chunk_states,
            seqlen, dim, d_state, num_groups, dim_per_group, num_chunks,
            HAS_D=D is not None,
            HAS_Z=z is not None,
            HAS_BIAS=delta_bias is not None,
            SOFTPLUS=delta_softplus,
            HAS_INIT=initial_state is not None,
            BLOCK_N=triton.next_power_of_2(d_state),
            BLOCK_T=block_t,
        )  # fmt: skip
    return out, final, chunk_states

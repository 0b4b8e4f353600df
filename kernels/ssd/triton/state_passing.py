"""SSD step 2 (forward): the short sequential recurrence over chunk states.

Shape legend:
    b  batch     h  heads     p  head dim     n  state size     c  chunks     q  chunk length

Per head (Dao & Gu 2024, §6, "state passing"; mamba_ssm's `_state_passing_fwd`):
    H_{-1} = initial state (or 0),     H_c = exp(cs_last(c)) H_{c−1} + S_c
The kernel overwrites S_c, in place, with the state *entering* chunk c (H_{c−1}), which is what
the output and backward kernels read, and writes the final state H_{c_last} separately. Each
program owns a slice of the flattened (p · n) state of one (batch, head) and walks the chunks.
No autotuning: the kernel updates memory in place, which the autotuner's repeated trial runs
would corrupt; the work is a bandwidth-bound stream, for which one fixed block size is fine.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import device_guard, new_empty


@triton.jit
def _state_passing_fwd_kernel(
    states_ptr,  # (b, c, h, p·n) fp32: chunk states in, entering states out
    cs_ptr,  # (b, h, c, q) fp32
    init_ptr,  # (b, h, p·n) or a dummy when HAS_INIT is False
    final_ptr,  # (b, h, p·n) fp32, written
    num_heads,
    num_chunks,
    chunk_size,
    state_numel,
    HAS_INIT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid_bh = tl.program_id(0)
    pid_k = tl.program_id(1)
    pid_b = pid_bh // num_heads
    pid_h = pid_bh % num_heads
    offs = pid_k * BLOCK + tl.arange(0, BLOCK)
    mask = offs < state_numel

    bh_off = pid_bh.to(tl.int64) * state_numel
    if HAS_INIT:
        state = tl.load(init_ptr + bh_off + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        state = tl.full((BLOCK,), 0.0, dtype=tl.float32)
    cs_last_ptr = cs_ptr + pid_bh.to(tl.int64) * num_chunks * chunk_size + chunk_size - 1
    chunk_stride = num_heads * state_numel
    ptrs = states_ptr + (pid_b.to(tl.int64) * num_chunks * num_heads + pid_h) * state_numel + offs
    for _ in range(num_chunks):
        chunk_state = tl.load(ptrs, mask=mask, other=0.0)
        tl.store(ptrs, state, mask=mask)
        state = tl.exp(tl.load(cs_last_ptr)) * state + chunk_state
        ptrs += chunk_stride
        cs_last_ptr += chunk_size
    tl.store(final_ptr + bh_off + offs, state, mask=mask)


def state_passing_fwd(
    states: torch.Tensor, cs: torch.Tensor, initial_state: torch.Tensor | None
) -> torch.Tensor:
    """Turn chunk states into entering states, in place, and return the final state.

    Args:
        states: (b, c, h, p, n) fp32 chunk states S_c; overwritten with H_{c−1}.
        cs: (b, h, c, q) fp32 cumulative Δ·A (its last column is each chunk's total decay).
        initial_state: (b, h, p, n) or None (zeros).
    Returns:
        (b, h, p, n) fp32 final state.
    """
    batch, num_chunks, num_heads, headdim, d_state = states.shape
    chunk_size = cs.shape[-1]
    state_numel = headdim * d_state
    final = new_empty(batch, num_heads, headdim, d_state, dtype=torch.float32, device=states.device)

    block = min(1024, triton.next_power_of_2(state_numel))
    grid = (batch * num_heads, triton.cdiv(state_numel, block))

    init = initial_state.contiguous() if initial_state is not None else None
    with device_guard(states):
        _state_passing_fwd_kernel[grid](
            states,
            cs,
            init if init is not None else final,
            final,
            num_heads,
            num_chunks,
            chunk_size,
            state_numel,
            HAS_INIT=init is not None,
            BLOCK=block,
            num_warps=4,
        )
    return final

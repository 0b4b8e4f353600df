"""Causal depthwise conv1d over a sequence in Triton: forward and backward (`backend="triton"`).

Shape legend:
    b  batch     d  channels     l  sequence length     w  kernel width (d_conv, small: 2–4)
    P  positions of the padded input x̃ (w − 1 + l)

    pre[:, c, t] = bias[c] + Σ_{k<w} weight[c, k] · x̃[:, c, t + k],     y = silu(pre) or pre
where x̃ is x preceded by the last w − 1 columns of `initial_state` (or zeros): the contract of
`hybridlab.kernels.causal_conv1d`, so that a CUDA run needs no compiled causal-conv1d extension.
Each program owns a (BLOCK_D × BLOCK_L) tile and loops over the w taps (w is a constexpr).
Backward: one kernel forms ∂pre (recomputing pre for the SiLU) and the per-tile sums of
∂pre · x̃ (for the weight) and of ∂pre (for the bias); a second forms
∂x̃[P] = Σ_k weight[k] ∂pre[P − k] over the padded positions, whose first w − 1 are the initial
state's gradient. The final conv state (the last w inputs) is a slice, left to PyTorch so that
its gradient flows by autograd. The decode step is in step.py.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..._triton_utils import (
    autotune,
    check_cuda_or_interpreter,
    contiguous,
    device_guard,
    new_empty,
)

# The last config is the one the interpreter runs (see _triton_utils.autotune).
_CONFIGS = [
    triton.Config({"BLOCK_D": 16, "BLOCK_L": 64}, num_warps=4),
    triton.Config({"BLOCK_D": 16, "BLOCK_L": 256}, num_warps=8),
    triton.Config({"BLOCK_D": 32, "BLOCK_L": 128}, num_warps=8),
]


@autotune(configs=_CONFIGS, key=["dim", "seqlen", "WIDTH"])
@triton.jit
def _conv1d_fwd_kernel(
    x_ptr,  # (b, d, l) contiguous
    w_ptr,  # (d, w) contiguous
    bias_ptr,  # (d,), or a dummy
    init_ptr,  # (b, d, w − 1) contiguous, or a dummy
    out_ptr,  # (b, d, l), written
    dim,
    seqlen,
    WIDTH: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_INIT: tl.constexpr,
    SILU: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_l = tl.program_id(2)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_t = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    mask_d = offs_d < dim
    rows = (pid_b * dim + offs_d).to(tl.int64)  # (BD,)

    acc = tl.full((BLOCK_D, BLOCK_L), 0.0, dtype=tl.float32)
    for k in tl.static_range(WIDTH):
        w = tl.load(w_ptr + offs_d * WIDTH + k, mask=mask_d, other=0.0).to(tl.float32)
        src = offs_t - (WIDTH - 1) + k  # (BL,) time of the input this tap reads
        xs = tl.load(
            x_ptr + rows[:, None] * seqlen + src[None, :],
            mask=mask_d[:, None] & ((src >= 0) & (src < seqlen))[None, :],
            other=0.0,
        ).to(tl.float32)
        if HAS_INIT:
            init_col = src + (WIDTH - 1)  # column of the initial state's tail, when src < 0
            xs += tl.load(
                init_ptr + rows[:, None] * (WIDTH - 1) + init_col[None, :],
                mask=mask_d[:, None] & ((src < 0) & (init_col >= 0))[None, :],
                other=0.0,
            ).to(tl.float32)
        acc += w[:, None] * xs
    if HAS_BIAS:
        acc += tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)[:, None]
    if SILU:
        acc = acc / (1.0 + tl.exp(-acc))
    tl.store(
        out_ptr + rows[:, None] * seqlen + offs_t[None, :],
        acc.to(out_ptr.dtype.element_ty),
        mask=mask_d[:, None] & (offs_t < seqlen)[None, :],
    )


@autotune(
    configs=_CONFIGS,
    key=["dim", "seqlen", "WIDTH"],
    # The per-tile sums are laid out by BLOCK_L: clear what a trial config left behind.
    reset_to_zero=["dw_ptr", "dbias_ptr"],
)
@triton.jit
def _conv1d_bwd_dpre_kernel(
    x_ptr,  # (b, d, l) contiguous
    w_ptr,  # (d, w) contiguous
    bias_ptr,  # (d,), or a dummy
    init_ptr,  # (b, d, w − 1) contiguous, or a dummy
    dout_ptr,  # (b, d, l) contiguous
    dpre_ptr,  # (b, d, l) fp32, written
    dw_ptr,  # (b · ⌈l / BLOCK_L⌉, d, w) fp32 per-tile sums, written
    dbias_ptr,  # (b · ⌈l / BLOCK_L⌉, d) fp32 per-tile sums, written
    dim,
    seqlen,
    WIDTH: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_INIT: tl.constexpr,
    SILU: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_l = tl.program_id(2)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_t = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    mask_d = offs_d < dim
    mask = mask_d[:, None] & (offs_t < seqlen)[None, :]
    rows = (pid_b * dim + offs_d).to(tl.int64)
    dout = tl.load(dout_ptr + rows[:, None] * seqlen + offs_t[None, :], mask=mask, other=0.0)
    dpre = dout.to(tl.float32)
    part = (pid_b * tl.num_programs(2) + pid_l).to(tl.int64) * dim + offs_d  # (BD,)

    if SILU:
        # Recompute pre-activations for silu'(pre) = σ(pre) (1 + pre (1 − σ(pre))).
        pre = tl.full((BLOCK_D, BLOCK_L), 0.0, dtype=tl.float32)
        for k in tl.static_range(WIDTH):
            w = tl.load(w_ptr + offs_d * WIDTH + k, mask=mask_d, other=0.0).to(tl.float32)
            src = offs_t - (WIDTH - 1) + k
            xs = tl.load(
                x_ptr + rows[:, None] * seqlen + src[None, :],
                mask=mask_d[:, None] & ((src >= 0) & (src < seqlen))[None, :],
                other=0.0,
            ).to(tl.float32)
            if HAS_INIT:
                init_col = src + (WIDTH - 1)
                xs += tl.load(
                    init_ptr + rows[:, None] * (WIDTH - 1) + init_col[None, :],
                    mask=mask_d[:, None] & ((src < 0) & (init_col >= 0))[None, :],
                    other=0.0,
                ).to(tl.float32)
            pre += w[:, None] * xs
        if HAS_BIAS:
            pre += tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)[:, None]
        sig = 1.0 / (1.0 + tl.exp(-pre))
        dpre = dpre * sig * (1.0 + pre * (1.0 - sig))
    dpre = tl.where(mask, dpre, 0.0)
    tl.store(dpre_ptr + rows[:, None] * seqlen + offs_t[None, :], dpre, mask=mask)
    if HAS_BIAS:
        tl.store(dbias_ptr + part, tl.sum(dpre, axis=1), mask=mask_d)

    for k in tl.static_range(WIDTH):
        src = offs_t - (WIDTH - 1) + k
        xs = tl.load(
            x_ptr + rows[:, None] * seqlen + src[None, :],
            mask=mask_d[:, None] & ((src >= 0) & (src < seqlen))[None, :],
            other=0.0,
        ).to(tl.float32)
        if HAS_INIT:
            init_col = src + (WIDTH - 1)
            xs += tl.load(
                init_ptr + rows[:, None] * (WIDTH - 1) + init_col[None, :],
                mask=mask_d[:, None] & ((src < 0) & (init_col >= 0))[None, :],
                other=0.0,
            ).to(tl.float32)
        tl.store(dw_ptr + part * WIDTH + k, tl.sum(dpre * xs, axis=1), mask=mask_d)


@autotune(configs=_CONFIGS, key=["dim", "seqlen", "WIDTH"])
@triton.jit
def _conv1d_bwd_dx_kernel(
    dpre_ptr,  # (b, d, l) fp32
    w_ptr,  # (d, w) contiguous
    dxp_ptr,  # (b, d, w − 1 + l) fp32 gradient of the padded input, written
    dim,
    seqlen,
    WIDTH: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_l = tl.program_id(2)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_P = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)  # padded positions
    mask_d = offs_d < dim
    rows = (pid_b * dim + offs_d).to(tl.int64)
    padded_len = seqlen + WIDTH - 1

    acc = tl.full((BLOCK_D, BLOCK_L), 0.0, dtype=tl.float32)
    for k in tl.static_range(WIDTH):
        w = tl.load(w_ptr + offs_d * WIDTH + k, mask=mask_d, other=0.0).to(tl.float32)
        t = offs_P - k  # output position that read x̃[P] through tap k
        g = tl.load(
            dpre_ptr + rows[:, None] * seqlen + t[None, :],
            mask=mask_d[:, None] & ((t >= 0) & (t < seqlen))[None, :],
            other=0.0,
        )
        acc += w[:, None] * g
    tl.store(
        dxp_ptr + rows[:, None] * padded_len + offs_P[None, :],
        acc,
        mask=mask_d[:, None] & (offs_P < padded_len)[None, :],
    )


def _grid(batch, dim, length):
    def grid(meta):
        return (batch, triton.cdiv(dim, meta["BLOCK_D"]), triton.cdiv(length, meta["BLOCK_L"]))

    return grid


class _CausalConv1dTriton(torch.autograd.Function):
    """(x, weight, bias, initial-state tail) -> y; see `causal_conv1d_triton`."""

    @staticmethod
    def forward(ctx, x, weight, bias, init_tail, silu):
        batch, dim, seqlen = x.shape
        width = weight.shape[1]
        out = new_empty(batch, dim, seqlen, dtype=x.dtype, device=x.device)
        with device_guard(x):
            _conv1d_fwd_kernel[_grid(batch, dim, seqlen)](
                x, weight,
                bias if bias is not None else weight,
                init_tail if init_tail is not None else x,
                out, dim, seqlen,
                WIDTH=width,
                HAS_BIAS=bias is not None,
                HAS_INIT=init_tail is not None,
                SILU=silu,
            )  # fmt: skip
        ctx.save_for_backward(x, weight, bias, init_tail)
        ctx.silu = silu
        return out

    @staticmethod
    def backward(ctx, dout):
        x, weight, bias, init_tail = ctx.saved_tensors
        batch, dim, seqlen = x.shape
        width = weight.shape[1]
        dev = x.device
        dout = dout.contiguous()
        dpre = new_empty(batch, dim, seqlen, dtype=torch.float32, device=dev)
        # Per-tile sums, laid out by the tile count of the smallest BLOCK_L among the configs.
        max_tiles = batch * triton.cdiv(seqlen, min(c.kwargs["BLOCK_L"] for c in _CONFIGS))
        dw_parts = torch.zeros(max_tiles, dim, width, dtype=torch.float32, device=dev)
        dbias_parts = torch.zeros(max_tiles, dim, dtype=torch.float32, device=dev)
        with device_guard(x):
            _conv1d_bwd_dpre_kernel[_grid(batch, dim, seqlen)](
                x, weight,
                bias if bias is not None else weight,
                init_tail if init_tail is not None else x,
                dout, dpre, dw_parts, dbias_parts, dim, seqlen,
                WIDTH=width,
                HAS_BIAS=bias is not None,
                HAS_INIT=init_tail is not None,
                SILU=ctx.silu,
            )  # fmt: skip
            dxp = new_empty(batch, dim, seqlen + width - 1, dtype=torch.float32, device=dev)
            _conv1d_bwd_dx_kernel[_grid(batch, dim, seqlen + width - 1)](
                dpre, weight, dxp, dim, seqlen, WIDTH=width
            )
        dx = dxp[..., width - 1 :].to(x.dtype)
        dinit = dxp[..., : width - 1].to(init_tail.dtype) if init_tail is not None else None
        dweight = dw_parts.sum(0).to(weight.dtype)
        dbias = dbias_parts.sum(0).to(bias.dtype) if bias is not None else None
        return dx, dweight, dbias, dinit, None


def causal_conv1d_triton(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,
    activation: str | None = None,
    return_final_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Causal depthwise conv1d in Triton; same contract as `hybridlab.kernels.causal_conv1d`.

    Args:
        x: (b, d, l) inputs.
        weight: (d, w) one filter per channel.
        bias: (d,), or None.
        initial_state: (b, d, s) with s ≥ w − 1 (its last w − 1 columns precede x), or None.
        activation: None, or "silu" / "swish".
        return_final_state: also return the last w inputs, (b, d, w), oldest first.
    Returns:
        y (b, d, l) in x's dtype, and the final conv state if asked.

    Example:
        >>> y = causal_conv1d_triton(x, weight, bias, activation="silu")  # doctest: +SKIP
    """
    check_cuda_or_interpreter(x, "x")
    width = weight.shape[1]
    tail = None
    if initial_state is not None and width > 1:
        tail = initial_state[..., initial_state.shape[-1] - (width - 1) :]
    x, weight, bias, tail = contiguous(x, weight, bias, tail)
    silu = activation in ("silu", "swish")
    y = _CausalConv1dTriton.apply(x, weight, bias, tail, silu)
    if not return_final_state:
        return y
    # The last w inputs of x̃ = [tail or zeros, x]: a few columns, through autograd.
    prefix = x.new_zeros(*x.shape[:2], width - 1) if tail is None else tail.to(x.dtype)
    final = torch.cat([prefix, x[..., max(0, x.shape[-1] - width) :]], dim=-1)[..., -width:]
    return y, final

"""`gdn`: the Gated DeltaNet layer (Yang, Kautz & Hatamizadeh, ICLR 2025), through
`hybridlab.kernels.gated_delta_rule` (a sequence) and `gated_delta_step` (one decoding token).

The math and the knobs are in `hybridlab.spec.kinds.gdn`. The layer follows FLA's `GatedDeltaNet`
(flash-linear-attention, fla/layers/gated_deltanet.py) with its q, k, v, a, β and gate projections
fused into one `in_proj` and its three depthwise convs into one over [q | k | v] (a depthwise
conv treats every channel alone, so this is the same layer with the same parameters).

Shapes: B batch, T tokens, D d_model, H heads, dk key dim, dv value dim, Kd = H·dk, Vd = H·dv,
Cc conv channels = 2·Kd + Vd, W d_conv.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

import hybridlab.kernels as kernels
from hybridlab.layers.base import RESIDUAL_OUT_STD, Cache, Layer
from hybridlab.layers.norm import NormThenGate, RMSNorm
from hybridlab.layers.short_conv import ShortConvolution
from hybridlab.layers.ssm_init import decay_from_log, inverse_softplus_dt, uniform_A_log
from hybridlab.spec.kinds import GDNConfig

# FLA's fixed initial ranges: A ~ U(0, 16) (as Mamba-2's [1, 16], reaching down to 0) and dt
# log-uniform in [0.001, 0.1].
A_INIT_MAX, DT_MIN, DT_MAX = 16.0, 0.001, 0.1
# FLA's L2 norm of q and k: x / sqrt(Σx² + eps).
L2_EPS = 1e-6


@dataclass(eq=False)
class DeltaCache(Cache):
    """Gated DeltaNet's decoding state: the last `d_conv` conv inputs and the delta-rule state."""

    conv_state: torch.Tensor  # (B, Cc, W)
    recurrent_state: torch.Tensor  # (B, H, dk, dv)


def l2norm(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(Σx² + eps) over the last dim, computed in float32."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).sum(-1, keepdim=True) + L2_EPS)).to(x.dtype)


class GatedDeltaNet(Layer):
    config_cls = GDNConfig

    def __init__(self, config: GDNConfig, d_model: int) -> None:
        super().__init__(config, d_model)
        self.nheads = config.heads
        self.head_k_dim = config.key_dim(d_model)
        self.head_v_dim = config.value_dim(d_model)
        self.key_dim = self.nheads * self.head_k_dim
        self.value_dim = self.nheads * self.head_v_dim
        self.conv_dim = 2 * self.key_dim + self.value_dim
        self.gate_dim = self.value_dim if config.use_gate else 0
        # [q (Kd) | k (Kd) | v (Vd) | gate (Vd, with use_gate) | a (H) | β (H)]
        self.in_proj = nn.Linear(
            d_model, self.conv_dim + self.gate_dim + 2 * self.nheads, bias=False
        )
        # Initialised by reset_parameters with the rest, in one fixed order of random draws.
        self.conv1d = skip_init(
            ShortConvolution, self.conv_dim, config.d_conv, bias=config.conv_bias
        )
        self.A_log = nn.Parameter(torch.empty(self.nheads))
        self.dt_bias = nn.Parameter(torch.empty(self.nheads))
        self.norm: nn.Module = (
            NormThenGate(self.head_v_dim) if config.use_gate else RMSNorm(self.head_v_dim)
        )
        self.out_proj = nn.Linear(self.value_dim, d_model, bias=False)
        for p in (self.A_log, self.dt_bias):
            p._no_weight_decay = True  # type: ignore[attr-defined]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """FLA's layer initialisation; the residual output projection as every kind's.

        FLA's language models re-draw every Linear and conv weight from N(0, 0.02²) afterwards
        (`_init_weights`). At hybridlab's widths (d_model 32-256) that leaves the values near 0.003
        and the output norm's eps larger than their square, so the layer's own init is kept, as
        `ssd` keeps mamba_ssm's.
        """
        self.in_proj.reset_parameters()
        nn.init.normal_(self.out_proj.weight, std=RESIDUAL_OUT_STD)
        self.conv1d.reset_parameters()
        self.A_log.copy_(uniform_A_log(self.nheads, 0.0, A_INIT_MAX))
        self.dt_bias.copy_(inverse_softplus_dt(self.nheads, DT_MIN, DT_MAX))
        self.norm.weight.fill_(1.0)

    def _split(self, projected: torch.Tensor):
        """in_proj's output -> qkv (..., Cc), gate (..., Vd or 0), a (..., H), b (..., H)."""
        sizes = [self.conv_dim, self.gate_dim, self.nheads, self.nheads]
        return torch.split(projected, sizes, dim=-1)

    def _heads(self, qkv: torch.Tensor):
        """Conv output (..., Cc) -> q, k (..., H, dk), L2-normalised, and v (..., H, dv)."""
        q, k, v = torch.split(qkv, [self.key_dim, self.key_dim, self.value_dim], dim=-1)
        q = l2norm(q.unflatten(-1, (self.nheads, self.head_k_dim)))
        k = l2norm(k.unflatten(-1, (self.nheads, self.head_k_dim)))
        return q, k, v.unflatten(-1, (self.nheads, self.head_v_dim))

    def _decay_and_beta(self, a: torch.Tensor, b: torch.Tensor):
        """g = -exp(A_log)·softplus(a + dt_bias) and β = sigmoid(b) (×2 with negative
        eigenvalues allowed), both (..., H) in float32."""
        g = decay_from_log(self.A_log) * F.softplus(a.float() + self.dt_bias.float())
        beta = torch.sigmoid(b.float())
        if self.config.allow_neg_eigval:
            beta = 2 * beta
        return g, beta

    def _output(self, o: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """The per-head norm (gated by silu(gate) with use_gate), then out_proj:
        (..., H, dv) -> (..., D)."""
        if self.config.use_gate:
            o = self.norm(o, gate.unflatten(-1, (self.nheads, self.head_v_dim)))
        else:
            o = self.norm(o)
        return self.out_proj(o.flatten(-2))

    def forward(self, x: torch.Tensor, cache: DeltaCache | None = None) -> torch.Tensor:
        qkv, gate, a, b = self._split(self.in_proj(x))  # (B, T, Cc), (B, T, Vd), (B, T, H) x2
        q, k, v = self._heads(self.conv1d(qkv, None if cache is None else cache.conv_state))
        g, beta = self._decay_and_beta(a, b)
        o = kernels.gated_delta_rule(
            q,
            k,
            v,
            g,
            beta,
            initial_state=None if cache is None else cache.recurrent_state,
            return_final_state=cache is not None,
        )  # (B, T, H, dv)
        if cache is not None:
            o, state = o
            cache.recurrent_state.copy_(state)
        return self._output(o, gate)

    def step(self, x: torch.Tensor, cache: DeltaCache | None) -> torch.Tensor:
        assert cache is not None, "step needs a cache from allocate_cache"
        qkv, gate, a, b = self._split(self.in_proj(x))  # (B, Cc), (B, Vd), (B, H), (B, H)
        q, k, v = self._heads(self.conv1d.step(qkv, cache.conv_state))
        g, beta = self._decay_and_beta(a, b)
        o = kernels.gated_delta_step(cache.recurrent_state, q, k, v, g, beta)  # (B, H, dv)
        return self._output(o, gate)

    def allocate_cache(self, batch, max_len, dtype=None, device=None) -> DeltaCache:
        dtype = dtype or self.in_proj.weight.dtype
        device = device or self.in_proj.weight.device
        return DeltaCache(
            conv_state=self.conv1d.allocate_cache(batch, dtype, device),
            recurrent_state=torch.zeros(
                batch, self.nheads, self.head_k_dim, self.head_v_dim, dtype=dtype, device=device
            ),
        )

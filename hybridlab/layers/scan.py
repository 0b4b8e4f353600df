"""`scan`: the Mamba-1 block (Gu & Dao 2023), through `hybridlab.kernels.selective_scan`.

Shapes: B batch, T tokens, D d_model, Di d_inner = expand·D, R dt_rank, N d_state, K d_conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

import hybridlab.kernels as kernels
from hybridlab.layers.base import RESIDUAL_OUT_STD, Layer, SSMCache
from hybridlab.layers.norm import RMSNorm
from hybridlab.layers.short_conv import ShortConvolution
from hybridlab.layers.ssm_init import decay_from_log, inverse_softplus_dt, s4d_real_A_log
from hybridlab.spec.kinds import ScanConfig


class Mamba1(Layer):
    config_cls = ScanConfig

    def __init__(self, config: ScanConfig, d_model: int) -> None:
        super().__init__(config, d_model)
        self.d_inner = config.d_inner(d_model)
        self.dt_rank = config.rank(d_model)
        self.d_state = config.d_state
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        # Initialised by reset_parameters with the rest, in one fixed order of random draws.
        self.conv1d = skip_init(ShortConvolution, self.d_inner, config.d_conv, bias=True)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, self.d_state))  # (Di, N)
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        if config.inner_norms:  # Jamba's: RMSNorm on dt, B and C (weights start at one)
            self.dt_norm = RMSNorm(self.dt_rank)
            self.B_norm = RMSNorm(self.d_state)
            self.C_norm = RMSNorm(self.d_state)
        for p in (self.A_log, self.D, self.dt_proj.bias):
            p._no_weight_decay = True  # type: ignore[attr-defined]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        cfg = self.config
        for lin in (self.in_proj, self.x_proj):
            lin.reset_parameters()
        # Writes into the residual stream: starts small like every kind's (hybridlab.layers.base).
        nn.init.normal_(self.out_proj.weight, std=RESIDUAL_OUT_STD)
        self.conv1d.reset_parameters()
        # S4D-real initialisation A = -(1..N) per channel; dt_proj as in mamba_ssm ("random").
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        self.dt_proj.bias.copy_(inverse_softplus_dt(self.d_inner, cfg.dt_min, cfg.dt_max))
        self.A_log.copy_(s4d_real_A_log(self.d_inner, self.d_state))
        self.D.fill_(1.0)

    def _dt_B_C(self, x: torch.Tensor):
        """x (..., Di) -> dt (..., Di) before bias, B and C (..., N)."""
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        if self.config.inner_norms:
            dt, B, C = self.dt_norm(dt), self.B_norm(B), self.C_norm(C)
        return F.linear(dt, self.dt_proj.weight), B, C

    def forward(self, u: torch.Tensor, cache: SSMCache | None = None) -> torch.Tensor:
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, Di) each
        x = self.conv1d(x, None if cache is None else cache.conv_state)  # (B, T, Di)
        dt, B, C = self._dt_B_C(x)
        y = kernels.selective_scan(
            x.transpose(1, 2),
            dt.transpose(1, 2),
            decay_from_log(self.A_log),
            B.transpose(1, 2),
            C.transpose(1, 2),
            D=self.D,
            z=z.transpose(1, 2),
            delta_bias=self.dt_proj.bias,
            delta_softplus=True,
            initial_state=None if cache is None else cache.ssm_state,
            return_final_state=cache is not None,
        )  # (B, Di, T)
        if cache is not None:
            y, ssm_state = y
            cache.ssm_state.copy_(ssm_state)
        return self.out_proj(y.transpose(1, 2))

    def step(self, u: torch.Tensor, cache: SSMCache | None) -> torch.Tensor:
        assert cache is not None, "step needs a cache from allocate_cache"
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, Di) each
        x = self.conv1d.step(x, cache.conv_state)
        dt, B, C = self._dt_B_C(x)
        y = kernels.selective_state_update(
            cache.ssm_state,
            x,
            dt,
            decay_from_log(self.A_log),
            B,
            C,
            D=self.D,
            z=z,
            dt_bias=self.dt_proj.bias,
            dt_softplus=True,
        )  # (B, Di)
        return self.out_proj(y)

    def allocate_cache(self, batch, max_len, dtype=None, device=None) -> SSMCache:
        dtype = dtype or self.in_proj.weight.dtype
        device = device or self.in_proj.weight.device
        return SSMCache(
            conv_state=self.conv1d.allocate_cache(batch, dtype, device),
            ssm_state=torch.zeros(batch, self.d_inner, self.d_state, dtype=dtype, device=device),
        )

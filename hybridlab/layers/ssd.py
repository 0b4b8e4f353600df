"""`ssd`: the Mamba-2 block (Dao & Gu 2024), through `hybridlab.kernels.ssd`.

Shapes: B batch, T tokens, D d_model, Di d_inner = expand·D, H heads = Di/P, P headdim,
G ngroups, N d_state, K d_conv, Cc conv channels = Di + 2·G·N.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import skip_init

import hybridlab.kernels as kernels
from hybridlab.layers.base import RESIDUAL_OUT_STD, Layer, SSMCache
from hybridlab.layers.norm import GatedRMSNorm
from hybridlab.layers.short_conv import ShortConvolution
from hybridlab.layers.ssm_init import decay_from_log, inverse_softplus_dt, uniform_A_log
from hybridlab.spec.kinds import SSDConfig


class Mamba2(Layer):
    config_cls = SSDConfig

    def __init__(self, config: SSDConfig, d_model: int) -> None:
        super().__init__(config, d_model)
        self.d_inner = config.d_inner(d_model)
        self.nheads = config.nheads(d_model)
        self.headdim = config.headdim
        self.ngroups = config.ngroups
        self.d_state = config.d_state
        self.conv_dim = self.d_inner + 2 * config.ngroups * config.d_state
        self.in_proj = nn.Linear(d_model, self.d_inner + self.conv_dim + self.nheads, bias=False)
        # Initialised by reset_parameters with the rest, in one fixed order of random draws.
        self.conv1d = skip_init(ShortConvolution, self.conv_dim, config.d_conv, bias=True)
        self.dt_bias = nn.Parameter(torch.empty(self.nheads))
        self.A_log = nn.Parameter(torch.empty(self.nheads))
        self.D = nn.Parameter(torch.empty(self.nheads))
        self.norm = GatedRMSNorm(self.d_inner, ngroups=config.ngroups)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True  # type: ignore[attr-defined]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        cfg = self.config
        # in_proj keeps PyTorch's default (as mamba_ssm); out_proj writes into the residual
        # stream and starts small like every kind's (see hybridlab.layers.base).
        self.in_proj.reset_parameters()
        nn.init.normal_(self.out_proj.weight, std=RESIDUAL_OUT_STD)
        self.conv1d.reset_parameters()
        self.dt_bias.copy_(inverse_softplus_dt(self.nheads, cfg.dt_min, cfg.dt_max))
        self.A_log.copy_(uniform_A_log(self.nheads, cfg.A_init_min, cfg.A_init_max))
        self.D.fill_(1.0)
        self.norm.weight.fill_(1.0)

    def _split(self, zxbcdt: torch.Tensor):
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _ssm_inputs(self, xBC: torch.Tensor):
        GN = self.ngroups * self.d_state
        x, B, C = torch.split(xBC, [self.d_inner, GN, GN], dim=-1)
        x = x.unflatten(-1, (self.nheads, self.headdim))
        B = B.unflatten(-1, (self.ngroups, self.d_state))
        C = C.unflatten(-1, (self.ngroups, self.d_state))
        return x, B, C

    def forward(self, u: torch.Tensor, cache: SSMCache | None = None) -> torch.Tensor:
        Bsz, T, _ = u.shape
        z, xBC, dt = self._split(self.in_proj(u))  # (B, T, Di), (B, T, Cc), (B, T, H)
        xBC = self.conv1d(xBC, None if cache is None else cache.conv_state)
        x, B, C = self._ssm_inputs(xBC)
        out = kernels.ssd(
            x,
            dt,
            decay_from_log(self.A_log),
            B,
            C,
            D=self.D,
            dt_bias=self.dt_bias,
            dt_softplus=True,
            initial_state=None if cache is None else cache.ssm_state,
            chunk_size=self.config.chunk_size,
            return_final_state=cache is not None,
        )  # (B, T, H, P)
        if cache is not None:
            out, ssm_state = out
            cache.ssm_state.copy_(ssm_state)
        y = self.norm(out.reshape(Bsz, T, self.d_inner), z)
        return self.out_proj(y)

    def step(self, u: torch.Tensor, cache: SSMCache | None) -> torch.Tensor:
        assert cache is not None, "step needs a cache from allocate_cache"
        z, xBC, dt = self._split(self.in_proj(u))  # (B, Di), (B, Cc), (B, H)
        xBC = self.conv1d.step(xBC, cache.conv_state)
        x, B, C = self._ssm_inputs(xBC)
        y = kernels.selective_state_update(
            cache.ssm_state,
            x,
            dt,
            decay_from_log(self.A_log),
            B,
            C,
            D=self.D,
            dt_bias=self.dt_bias,
            dt_softplus=True,
        )  # (B, H, P)
        return self.out_proj(self.norm(y.reshape(u.shape[0], self.d_inner), z))

    def allocate_cache(self, batch, max_len, dtype=None, device=None) -> SSMCache:
        dtype = dtype or self.in_proj.weight.dtype
        device = device or self.in_proj.weight.device
        return SSMCache(
            conv_state=self.conv1d.allocate_cache(batch, dtype, device),
            ssm_state=torch.zeros(
                batch, self.nheads, self.headdim, self.d_state, dtype=dtype, device=device
            ),
        )

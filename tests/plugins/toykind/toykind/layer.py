"""`toy`: the module half. Shapes: B batch, T tokens, D d_model, N hidden."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hybridlab.layers.base import RESIDUAL_OUT_STD, Cache, Layer
from toykind.config import ToyConfig


@dataclass(eq=False)
class EMACache(Cache):
    h: torch.Tensor  # (B, N)


class EMAMixer(Layer):
    config_cls = ToyConfig

    def __init__(self, config: ToyConfig, d_model: int) -> None:
        super().__init__(config, d_model)
        self.in_proj = nn.Linear(d_model, config.hidden, bias=False)
        self.decay_logit = nn.Parameter(torch.linspace(-2.0, 2.0, config.hidden))
        self.out_proj = nn.Linear(config.hidden, d_model, bias=False)
        nn.init.normal_(self.out_proj.weight, std=RESIDUAL_OUT_STD)

    def forward(self, x: torch.Tensor, cache: EMACache | None = None) -> torch.Tensor:
        u = self.in_proj(x)  # (B, T, N)
        lam = torch.sigmoid(self.decay_logit)
        h = u.new_zeros(u.shape[0], u.shape[2]) if cache is None else cache.h.to(u.dtype)
        outs = []
        for t in range(u.shape[1]):
            h = lam * h + (1 - lam) * u[:, t]
            outs.append(h)
        if cache is not None:
            cache.h.copy_(h)
        return self.out_proj(torch.stack(outs, dim=1))

    def allocate_cache(self, batch, max_len, dtype=None, device=None) -> EMACache:
        weight = self.in_proj.weight
        return EMACache(
            h=torch.zeros(
                batch,
                self.config.hidden,
                dtype=dtype or weight.dtype,
                device=device or weight.device,
            )
        )

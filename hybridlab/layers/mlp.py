"""`mlp`: SwiGLU, down(silu(gate(x)) · up(x)), or squared ReLU, down(relu(up(x))²).

Shapes: B batch, T tokens, D d_model, F hidden.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hybridlab.layers.base import RESIDUAL_OUT_STD, Cache, Layer
from hybridlab.spec.kinds import MLPConfig


class MLP(Layer):
    config_cls = MLPConfig

    def __init__(self, config: MLPConfig, d_model: int) -> None:
        super().__init__(config, d_model)
        hidden = config.hidden_dim(d_model)
        self.gated = config.activation == "swiglu"
        # SwiGLU: gate and up in one matrix (2F, D), one matmul instead of two; relu2: up (F, D).
        self.w_in = nn.Linear(d_model, (2 if self.gated else 1) * hidden, bias=False)
        self.w_out = nn.Linear(hidden, d_model, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.w_in.weight, std=0.02)
        nn.init.normal_(self.w_out.weight, std=RESIDUAL_OUT_STD)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        if self.gated:
            gate, up = self.w_in(x).chunk(2, dim=-1)  # (B, T, F) each
            return self.w_out(F.silu(gate) * up)
        return self.w_out(F.relu(self.w_in(x)).square())

    def step(self, x: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        return self.forward(x)

"""The `last_state` readout of MAD's compression task: decode a whole sequence from one vector.

MAD (Poli, Thomas et al. 2024) trains compression as an encoder-decoder: the architecture under
test encodes the sequence, its output at the last position is the only thing passed on, and a
small MLP decoder reconstructs every token from it plus a fixed position embedding.

Shapes: B batch, T tokens, D d_model, V vocab_size.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_positions(T: int, D: int) -> torch.Tensor:
    """Fixed sin/cos position embeddings (Vaswani et al. 2017, section 3.5), shape (T, D)."""
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, D, 2, dtype=torch.float32) * (-math.log(10_000.0) / D))
    out = torch.zeros(T, D)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: D // 2])
    return out


class LastStateReadout(nn.Module):
    """Wraps a `HybridLM`; `forward(ids_BT) -> logits_BTV` predicts all T tokens from the final
    normalised hidden state at position T − 1 only.

    The hidden state is taken at the input of the model's output head (`model.lm_head`).
    """

    def __init__(self, model: nn.Module, seq_len: int, vocab_size: int) -> None:
        super().__init__()
        head = getattr(model, "lm_head", None)
        if not isinstance(head, nn.Linear):
            raise ValueError("the last_state readout needs a model with an `lm_head` nn.Linear")
        D = head.in_features
        self.model = model
        self.register_buffer("positions_TD", sinusoidal_positions(seq_len, D), persistent=False)
        self.decoder = nn.Sequential(
            nn.RMSNorm(D),
            nn.Linear(D, D),
            nn.GELU(),
            nn.RMSNorm(D),
            nn.Linear(D, D),
            nn.GELU(),
            nn.RMSNorm(D),
            nn.Linear(D, vocab_size),
        )
        self._hidden: torch.Tensor | None = None
        head.register_forward_pre_hook(self._keep_hidden)

    def _keep_hidden(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self._hidden = args[0]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.model(ids)
        assert self._hidden is not None
        last_BD = self._hidden[:, -1]
        self._hidden = None
        x_BTD = last_BD[:, None, :] + self.positions_TD[: ids.shape[1]].to(last_BD.dtype)
        return self.decoder(x_BTD)

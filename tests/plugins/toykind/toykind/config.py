"""`toy`: a per-channel exponential moving average mixer, the config half (no torch here).

in_proj: d_model -> hidden; h_t = λ ⊙ h_{t-1} + (1 - λ) ⊙ u_t with λ = sigmoid(decay_logit)
per channel; out_proj: hidden -> d_model.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridlab.spec.kinds.base import LayerConfig


@dataclass(frozen=True, kw_only=True, slots=True)
class ToyConfig(LayerConfig):
    kind = "toy"
    aliases = ("toy_ema",)
    letter = "T"
    summary = "toy exponential-moving-average mixer (a plugin)"
    layer_class = "toykind.layer:EMAMixer"

    hidden: int = 16

    def check(self, d_model: int) -> list[tuple[str, str]]:
        if self.hidden < 1:
            return [("hidden", f"hidden={self.hidden} must be >= 1")]
        return []

    def num_params(self, d_model: int) -> int:
        # in_proj, out_proj, one decay logit per channel.
        return 2 * d_model * self.hidden + self.hidden

    def state_numel(self, d_model: int, context: int) -> int:
        return self.hidden

    def flops_per_token(self, d_model: int, context: int) -> int:
        # Two projections; the average is two multiply-adds per channel.
        return 4 * d_model * self.hidden + 4 * self.hidden

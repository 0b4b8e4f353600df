"""`mlp`: the SwiGLU feed-forward layer (Shazeer 2020), as in Llama: down(silu(gate(x)) · up(x))."""

from __future__ import annotations

from dataclasses import dataclass

from hybridlab.spec.kinds.base import LayerConfig, ceil_div


@dataclass(frozen=True, kw_only=True, slots=True)
class MLPConfig(LayerConfig):
    kind = "mlp"
    aliases = ("swiglu", "ffn")
    letter = "-"
    summary = "SwiGLU MLP"

    # auto: 8/3·d_model rounded up to a multiple of 8 (the same parameters as a 4·d_model GELU MLP).
    hidden: int | None = None

    def hidden_dim(self, d_model: int) -> int:
        return self.hidden if self.hidden is not None else 8 * ceil_div(8 * d_model, 3 * 8)

    def check(self, d_model: int) -> list[tuple[str, str]]:
        if self.hidden is not None and self.hidden < 1:
            return [("hidden", f"hidden={self.hidden} must be >= 1 (or auto)")]
        return []

    def num_params(self, d_model: int) -> int:
        return 3 * d_model * self.hidden_dim(d_model)

    def flops_per_token(self, d_model: int, context: int) -> int:
        return 6 * d_model * self.hidden_dim(d_model)

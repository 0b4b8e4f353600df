"""`mlp`: the feed-forward layer. `activation=swiglu` (the default) is Llama's gated MLP
(Shazeer 2020), down(silu(gate(x)) · up(x)); `activation=relu2` is Nemotron-H's and Primer's
ungated squared ReLU (So et al. 2021), down(relu(up(x))²), with two matrices instead of three.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridlab.spec.kinds.base import LayerConfig, ceil_div

# Each activation with the number of d_model × hidden matrices it needs.
ACTIVATIONS = {"swiglu": 3, "relu2": 2}


@dataclass(frozen=True, kw_only=True, slots=True)
class MLPConfig(LayerConfig):
    kind = "mlp"
    aliases = ("swiglu", "ffn")
    letter = "-"
    summary = "MLP (SwiGLU, or squared ReLU)"

    # auto: 8/3·d_model rounded up to a multiple of 8 (the same parameters as a 4·d_model GELU MLP).
    hidden: int | None = None
    activation: str = "swiglu"

    def hidden_dim(self, d_model: int) -> int:
        return self.hidden if self.hidden is not None else 8 * ceil_div(8 * d_model, 3 * 8)

    def check(self, d_model: int) -> list[tuple[str, str]]:
        issues = []
        if self.hidden is not None and self.hidden < 1:
            issues.append(("hidden", f"hidden={self.hidden} must be >= 1 (or auto)"))
        if self.activation not in ACTIVATIONS:
            issues.append(
                (
                    "activation",
                    # Named in full: `mlp(activation=nan)` reads nan as the string 'nan'.
                    f"mlp.activation={self.activation!r} is not one of {', '.join(ACTIVATIONS)}",
                )
            )
        return issues

    def num_matrices(self) -> int:
        """How many d_model × hidden matrices the MLP holds (3 gated, 2 ungated)."""
        return ACTIVATIONS.get(self.activation, 3)

    def num_params(self, d_model: int) -> int:
        return self.num_matrices() * d_model * self.hidden_dim(d_model)

    def flops_per_token(self, d_model: int, context: int) -> int:
        return 2 * self.num_matrices() * d_model * self.hidden_dim(d_model)

"""`ssd`: the Mamba-2 block (Dao & Gu 2024, "Transformers are SSMs"), mamba_ssm's defaults.

in_proj: d_model -> [z (Di) | x (Di) | B (G·N) | C (G·N) | dt (H)]; a causal depthwise conv over
[x | B | C]; SiLU; the SSD scan with per-head scalar A, D skip and dt bias; a gated RMSNorm
(norm(y · silu(z)), per group); out_proj: Di -> d_model.  Di = expand·d_model, H = Di / headdim.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridlab.spec.kinds.base import LayerConfig, is_power_of_two

# The largest dt range that keeps exp(Δ·A) and Δ·x finite for any sane input.
MAX_DT = 10.0
# A = -exp(A_log) starts in [A_init_min, A_init_max] (Mamba-2: [1, 16]). At 1e6 every state is
# forgotten within one step even at dt = 1e-4 (exp(-100)); past float32's 3.4e38 torch cannot draw
# A at all, so the cap keeps `build_model` from failing on a spec that validated.
MAX_A_INIT = 1e6


@dataclass(frozen=True, kw_only=True, slots=True)
class SSDConfig(LayerConfig):
    kind = "ssd"
    aliases = ("mamba2",)
    letter = "M"
    summary = "Mamba-2 block (state space duality scan)"

    d_state: int = 128
    headdim: int = 64
    expand: int = 2
    ngroups: int = 1
    d_conv: int = 4
    chunk_size: int = 64
    dt_min: float = 0.001
    dt_max: float = 0.1
    A_init_min: float = 1.0
    A_init_max: float = 16.0

    def d_inner(self, d_model: int) -> int:
        return self.expand * d_model

    def nheads(self, d_model: int) -> int:
        return self.d_inner(d_model) // self.headdim

    def check(self, d_model: int) -> list[tuple[str, str]]:
        issues = []
        if self.expand < 1:
            issues.append(("expand", f"expand={self.expand} must be >= 1"))
        if not 1 <= self.d_state <= 256:
            issues.append(("d_state", f"d_state={self.d_state} must be in [1, 256]"))
        if self.headdim < 1 or (self.expand >= 1 and self.d_inner(d_model) % self.headdim):
            issues.append(
                (
                    "headdim",
                    f"headdim={self.headdim} must divide expand·d_model="
                    f"{self.expand}·{d_model}={self.expand * d_model}",
                )
            )
        elif self.expand >= 1 and (self.ngroups < 1 or self.nheads(d_model) % self.ngroups):
            issues.append(
                (
                    "ngroups",
                    f"ngroups={self.ngroups} must divide the number of heads "
                    f"expand·d_model/headdim={self.nheads(d_model)}",
                )
            )
        if not 1 <= self.d_conv <= 16:
            issues.append(("d_conv", f"d_conv={self.d_conv} must be in [1, 16]"))
        if not is_power_of_two(self.chunk_size):
            issues.append(("chunk_size", f"chunk_size={self.chunk_size} must be a power of two"))
        if not 0 < self.dt_min <= self.dt_max:
            issues.append(("dt_min", f"need 0 < dt_min={self.dt_min} <= dt_max={self.dt_max}"))
        elif self.dt_max > MAX_DT:
            issues.append(
                (
                    "dt_max",
                    f"need dt_max <= {MAX_DT} (a step size; Mamba uses 0.001-0.1), got "
                    f"{self.dt_max}",
                )
            )
        if not 0 < self.A_init_min <= self.A_init_max:
            issues.append(
                (
                    "A_init_min",
                    f"need 0 < A_init_min={self.A_init_min} <= A_init_max={self.A_init_max}",
                )
            )
        elif self.A_init_max > MAX_A_INIT:
            issues.append(
                (
                    "A_init_max",
                    f"need A_init_max <= {MAX_A_INIT:g} (Mamba-2 uses 16), got {self.A_init_max}",
                )
            )
        return issues

    def _dims(self, d_model: int) -> tuple[int, int, int, int]:
        Di = self.d_inner(d_model)
        H = self.nheads(d_model)
        GN = self.ngroups * self.d_state
        return Di, H, GN, Di + 2 * GN

    def num_params(self, d_model: int) -> int:
        Di, H, GN, conv_dim = self._dims(d_model)
        in_proj = d_model * (2 * Di + 2 * GN + H)
        conv = conv_dim * self.d_conv + conv_dim
        return in_proj + conv + 3 * H + Di + Di * d_model  # dt_bias, A_log, D; norm; out_proj

    def state_numel(self, d_model: int, context: int) -> int:
        _, H, _, conv_dim = self._dims(d_model)
        return conv_dim * self.d_conv + H * self.headdim * self.d_state

    def flops_per_token(self, d_model: int, context: int) -> int:
        Di, H, GN, conv_dim = self._dims(d_model)
        proj = 2 * d_model * (2 * Di + 2 * GN + H) + 2 * Di * d_model
        conv = 2 * self.d_conv * conv_dim
        # Recurrent form: h = a·h + (dt·x) ⊗ B is 2 multiply-adds per state entry, y = h·C one.
        scan = 6 * Di * self.d_state
        return proj + conv + scan

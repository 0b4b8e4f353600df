"""`scan`: the Mamba-1 block (Gu & Dao 2023, "Mamba"), mamba_ssm's defaults.

in_proj: d_model -> [x (Di) | z (Di)]; a causal depthwise conv over x; SiLU; x_proj: Di ->
[dt (R) | B (N) | C (N)]; dt_proj: R -> Di (with the dt bias); the selective scan with per-channel
A (Di, N) and D skip, gated by silu(z); out_proj: Di -> d_model.  Di = expand·d_model,
R = dt_rank = ceil(d_model / 16) unless set. `inner_norms=true` adds Jamba's RMSNorms on dt (R),
B and C (N) before dt_proj and the scan (Lieber et al. 2024: they keep large models stable).
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridlab.spec.kinds.base import LayerConfig, ceil_div

# The largest dt range that keeps exp(Δ·A) and Δ·x finite for any sane input.
MAX_DT = 10.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanConfig(LayerConfig):
    kind = "scan"
    aliases = ("mamba1",)
    # Megatron's patterns have no Mamba-1 letter; hybridlab uses `S` (selective scan).
    letter = "S"
    summary = "Mamba-1 block (selective scan)"

    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | None = None
    dt_min: float = 0.001
    dt_max: float = 0.1
    inner_norms: bool = False

    def d_inner(self, d_model: int) -> int:
        return self.expand * d_model

    def rank(self, d_model: int) -> int:
        return self.dt_rank if self.dt_rank is not None else ceil_div(d_model, 16)

    def check(self, d_model: int) -> list[tuple[str, str]]:
        issues = []
        if self.expand < 1:
            issues.append(("expand", f"expand={self.expand} must be >= 1"))
        if not 1 <= self.d_state <= 256:
            issues.append(("d_state", f"d_state={self.d_state} must be in [1, 256]"))
        if not 1 <= self.d_conv <= 16:
            issues.append(("d_conv", f"d_conv={self.d_conv} must be in [1, 16]"))
        if self.dt_rank is not None and self.dt_rank < 1:
            issues.append(("dt_rank", f"dt_rank={self.dt_rank} must be >= 1 (or auto)"))
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
        return issues

    def num_params(self, d_model: int) -> int:
        Di, R, N, K = self.d_inner(d_model), self.rank(d_model), self.d_state, self.d_conv
        # in_proj + out_proj: 3·Di·d_model; conv (K + bias), x_proj, dt_proj (+ bias), A_log, D;
        # the inner norms' weights (R + 2·N).
        norms = R + 2 * N if self.inner_norms else 0
        return 3 * Di * d_model + Di * (K + 2 * R + 3 * N + 3) + norms

    def state_numel(self, d_model: int, context: int) -> int:
        Di = self.d_inner(d_model)
        return Di * self.d_conv + Di * self.d_state

    def flops_per_token(self, d_model: int, context: int) -> int:
        Di, R, N, K = self.d_inner(d_model), self.rank(d_model), self.d_state, self.d_conv
        proj = 2 * d_model * 2 * Di + 2 * Di * d_model + 2 * Di * (R + 2 * N) + 2 * R * Di
        return proj + 2 * K * Di + 6 * Di * N

"""`gdn`: the Gated DeltaNet layer (Yang, Kautz & Hatamizadeh, ICLR 2025), FLA's `GatedDeltaNet`.

q, k, v projections (d_model -> H·dk, H·dk, H·dv), each through a short causal depthwise conv and
SiLU; q and k L2-normalised per head; β = sigmoid(W_β x) (×2 with `allow_neg_eigval`, which lets
the transition I - β k kᵀ have negative eigenvalues); the log-decay g = -exp(A_log)·softplus(W_a x
+ dt_bias); per head the gated delta rule over the state S (dk, dv)

    S_t = exp(g_t)·(I - β_t k_t k_tᵀ)·S_{t-1} + β_t k_t v_tᵀ,      o_t = scale·S_tᵀ q_t

(the paper's gated delta rule, written for FLA's (dk, dv) state; scale = dk^-1/2); then an
RMSNorm per head of dv channels, gated by silu(W_g x) when `use_gate`, and the output projection
H·dv -> d_model.

Pattern letter `G`: Megatron-LM's hybrid patterns have none for Gated DeltaNet (`M` Mamba-2, `*`
attention, `-` MLP, `E` MoE), and hybridlab already uses `S` for Mamba-1.

`head_dim` auto is FLA's allocation H·dk = 0.75·d_model, which with expand_v = 2 and the gate gives
the layer about 6·d_model² parameters, as a Mamba-2 block with expand 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybridlab.spec.kinds.base import LayerConfig

# FLA's kernels take head dimensions up to 256 (as SSD's d_state).
MAX_HEAD_DIM = 256


@dataclass(frozen=True, kw_only=True, slots=True)
class GDNConfig(LayerConfig):
    kind = "gdn"
    aliases = ("gated_deltanet",)
    letter = "G"
    summary = "Gated DeltaNet (gated delta rule, short convs, gated output norm)"

    heads: int = 4
    # auto: 3·d_model / (4·heads), FLA's H·dk = 0.75·d_model.
    head_dim: int | None = None
    # dv = expand_v·dk per head.
    expand_v: float = 2.0
    d_conv: int = 4
    conv_bias: bool = False
    use_gate: bool = True
    allow_neg_eigval: bool = False

    def key_dim(self, d_model: int) -> int:
        """dk, the key (and query) dimension per head."""
        if self.head_dim is not None:
            return self.head_dim
        return 3 * d_model // (4 * max(self.heads, 1))

    def value_dim(self, d_model: int) -> int:
        """dv = expand_v·dk, the value dimension per head."""
        return round(self.expand_v * self.key_dim(d_model))

    def check(self, d_model: int) -> list[tuple[str, str]]:
        if self.heads < 1:
            return [("heads", f"heads={self.heads} must be >= 1")]
        issues = []
        if self.head_dim is None and (3 * d_model) % (4 * self.heads):
            issues.append(
                (
                    "head_dim",
                    f"head_dim auto = 3·d_model/(4·heads) = 3·{d_model}/(4·{self.heads}) is not "
                    "an integer; set head_dim or choose heads to fit",
                )
            )
        elif not 1 <= self.key_dim(d_model) <= MAX_HEAD_DIM:
            issues.append(
                (
                    "head_dim",
                    f"head_dim={self.key_dim(d_model)} must be in [1, {MAX_HEAD_DIM}]",
                )
            )
        else:
            dv = self.expand_v * self.key_dim(d_model)
            if dv < 1 or not math.isclose(dv, round(dv), rel_tol=0, abs_tol=1e-9):
                issues.append(
                    (
                        "expand_v",
                        f"expand_v={self.expand_v} times head_dim={self.key_dim(d_model)} must be "
                        f"a positive integer (the value dimension), got {dv:g}",
                    )
                )
        if not 1 <= self.d_conv <= 16:
            issues.append(("d_conv", f"d_conv={self.d_conv} must be in [1, 16]"))
        return issues

    def _dims(self, d_model: int) -> tuple[int, int, int, int]:
        """(H, H·dk, H·dv, conv channels 2·H·dk + H·dv)."""
        H = self.heads
        K, V = H * self.key_dim(d_model), H * self.value_dim(d_model)
        return H, K, V, 2 * K + V

    def _in_width(self, d_model: int) -> int:
        """Output width of the input projections: q, k, v, the gate and one a and β per head."""
        H, K, V, _ = self._dims(d_model)
        return 2 * K + V * (2 if self.use_gate else 1) + 2 * H

    def num_params(self, d_model: int) -> int:
        H, _, V, conv_dim = self._dims(d_model)
        conv = conv_dim * self.d_conv + (conv_dim if self.conv_bias else 0)
        norm = self.value_dim(d_model)  # one weight per value channel, shared by the heads
        return d_model * self._in_width(d_model) + conv + 2 * H + norm + V * d_model

    def state_numel(self, d_model: int, context: int) -> int:
        H, _, _, conv_dim = self._dims(d_model)
        return conv_dim * self.d_conv + H * self.key_dim(d_model) * self.value_dim(d_model)

    def flops_per_token(self, d_model: int, context: int) -> int:
        H, _, V, conv_dim = self._dims(d_model)
        proj = 2 * d_model * self._in_width(d_model) + 2 * V * d_model
        conv = 2 * self.d_conv * conv_dim
        # Recurrent form, per state entry: the decay, the prediction kᵀS, the rank-1 correction
        # and the readout qᵀS are one multiply-add each.
        recurrence = 8 * H * self.key_dim(d_model) * self.value_dim(d_model)
        return proj + conv + recurrence

"""`attn`: causal multi-head attention with RoPE (or no position encoding, as Jamba's and
Nemotron-H's attention layers: `rope=false`); GQA/MQA through `kv_heads`; optional window."""

from __future__ import annotations

from dataclasses import dataclass

from hybridlab.spec.kinds.base import LayerConfig


@dataclass(frozen=True, kw_only=True, slots=True)
class AttnConfig(LayerConfig):
    kind = "attn"
    aliases = ("attention", "mha")
    letter = "*"
    summary = "causal attention (MHA/GQA/MQA, RoPE, optional sliding window)"

    heads: int = 4
    kv_heads: int | None = None
    head_dim: int | None = None
    window: int | None = None
    rope_theta: float = 10000.0
    # False: no position encoding at all (NoPE); the SSM layers of a hybrid carry the order.
    rope: bool = True

    def num_kv_heads(self) -> int:
        return self.kv_heads if self.kv_heads is not None else self.heads

    def dim_per_head(self, d_model: int) -> int:
        return self.head_dim if self.head_dim is not None else d_model // max(self.heads, 1)

    def check(self, d_model: int) -> list[tuple[str, str]]:
        issues = []
        if self.heads < 1:
            return [("heads", f"heads={self.heads} must be >= 1")]
        if self.head_dim is None and d_model % self.heads:
            issues.append(("heads", f"heads={self.heads} must divide d_model={d_model}"))
        kv = self.num_kv_heads()
        if kv < 1 or self.heads % kv:
            issues.append(("kv_heads", f"kv_heads={kv} must divide heads={self.heads}"))
        hd = self.dim_per_head(d_model)
        if self.rope and (hd < 2 or hd % 2):
            issues.append(("head_dim", f"head_dim={hd} must be even (RoPE rotates pairs) and >= 2"))
        elif hd < 1:
            issues.append(("head_dim", f"head_dim={hd} must be >= 1"))
        if self.window is not None and self.window < 1:
            issues.append(("window", f"window={self.window} must be >= 1 (or auto for none)"))
        # Below 1 the inverse frequencies theta^(-2i/hd) overflow float32 for tiny theta (NaN
        # angles) and alias above one turn per token anyway; Llama uses 1e4 to 5e5.
        if self.rope_theta < 1:
            issues.append(("rope_theta", f"rope_theta={self.rope_theta} must be >= 1"))
        return issues

    def cache_len(self, context: int) -> int:
        """KV entries kept for a sequence of `context` tokens (a ring buffer when windowed)."""
        return context if self.window is None else min(context, self.window)

    def num_params(self, d_model: int) -> int:
        hd, H, KV = self.dim_per_head(d_model), self.heads, self.num_kv_heads()
        return d_model * hd * (H + 2 * KV) + H * hd * d_model

    def state_numel(self, d_model: int, context: int) -> int:
        return 2 * self.num_kv_heads() * self.dim_per_head(d_model) * self.cache_len(context)

    def flops_per_token(self, d_model: int, context: int) -> int:
        hd, H, KV = self.dim_per_head(d_model), self.heads, self.num_kv_heads()
        proj = 2 * d_model * hd * (H + 2 * KV) + 2 * H * hd * d_model
        # Token t (1-based) attends to min(t, window) keys: QKᵀ and AV are 2·H·hd FLOPs per key
        # each; averaged over the `context` positions of a causal sequence.
        W = self.cache_len(context)
        keys_total = W * (W + 1) // 2 + (context - W) * W
        # Rounded half to even like round(), in exact integers: no float overflow at any context.
        quotient, rest = divmod(4 * H * hd * keys_total, max(context, 1))
        half_up = 2 * rest > context or (2 * rest == context and quotient % 2 == 1)
        return proj + quotient + int(half_up)

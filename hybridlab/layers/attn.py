"""`attn`: causal multi-head attention with RoPE (or none), GQA/MQA and an optional sliding window.

Shapes: B batch, T new tokens, S keys attended, D d_model, H heads, K kv heads, E head_dim.
Attention is always causal (mamba_ssm's MHA defaults to non-causal; a language model never is).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hybridlab.layers.base import RESIDUAL_OUT_STD, KVCache, Layer
from hybridlab.spec.kinds import AttnConfig


def rope_cos_sin(
    positions: torch.Tensor, head_dim: int, theta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (T, E) for rotate-half RoPE (Su et al. 2021, as in Llama)."""
    inv_freq = theta ** (
        -torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim
    )
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, E/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, E)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (B, H, T, E) by position; computed in float32."""
    x1, x2 = x.float().chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x.float() * cos + rotated * sin).to(x.dtype)


class Attention(Layer):
    config_cls = AttnConfig

    def __init__(self, config: AttnConfig, d_model: int) -> None:
        super().__init__(config, d_model)
        self.num_heads = config.heads
        self.num_kv_heads = config.num_kv_heads()
        self.head_dim = config.dim_per_head(d_model)
        self.window = config.window
        self.q_proj = nn.Linear(d_model, self.num_heads * self.head_dim, bias=False)
        self.kv_proj = nn.Linear(d_model, 2 * self.num_kv_heads * self.head_dim, bias=False)
        self.out_proj = nn.Linear(self.num_heads * self.head_dim, d_model, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for proj in (self.q_proj, self.kv_proj):
            nn.init.normal_(proj.weight, std=0.02)
        nn.init.normal_(self.out_proj.weight, std=RESIDUAL_OUT_STD)

    def _qkv(self, x: torch.Tensor, start: int) -> tuple[torch.Tensor, ...]:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv_proj(x).view(B, T, 2, self.num_kv_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4)  # (B, K, T, E) each
        if not self.config.rope:
            return q, k, v
        positions = torch.arange(start, start + T, device=x.device)
        cos, sin = rope_cos_sin(positions, self.head_dim, self.config.rope_theta)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def _attend(self, q, k, v, mask: torch.Tensor | None, is_causal: bool) -> torch.Tensor:
        B, _, T, _ = q.shape
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=is_causal,
            enable_gqa=self.num_kv_heads != self.num_heads,
        )  # (B, H, T, E)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, self.num_heads * self.head_dim))

    def _mask(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        """Boolean (T, S) mask: key position ≤ query position, and within the window."""
        diff = q_pos[:, None] - k_pos[None, :]
        allowed = diff >= 0
        if self.window is not None:
            allowed &= diff < self.window
        return allowed

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        if cache is None:
            q, k, v = self._qkv(x, 0)
            if self.window is None:
                return self._attend(q, k, v, None, is_causal=True)
            pos = torch.arange(x.shape[1], device=x.device)
            return self._attend(q, k, v, self._mask(pos, pos), is_causal=False)
        return self._forward_cached(x, cache)

    def _forward_cached(self, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
        T, size, start = x.shape[1], cache.k.shape[2], cache.pos
        if self.window is None and start + T > size:
            raise ValueError(
                f"attention cache holds {size} positions; cannot add {T} tokens at position {start}"
            )
        q, k_new, v_new = self._qkv(x, start)
        if T == 1:
            return self._decode_one(q, k_new, v_new, cache)
        if start == 0 and self.window is None:
            # A prefill into an empty cache: plain causal attention, then keep the keys.
            cache.k[:, :, :T] = k_new.to(cache.k.dtype)
            cache.v[:, :, :T] = v_new.to(cache.v.dtype)
            cache.pos = T
            return self._attend(q, k_new, v_new, None, is_causal=True)
        # The kept past, oldest first: positions [start - num_past, start).
        num_past = min(start, size)
        past_pos = torch.arange(start - num_past, start, device=x.device)
        slots = past_pos % size
        k = torch.cat([cache.k[:, :, slots].to(k_new.dtype), k_new], dim=2)  # (B, K, S, E)
        v = torch.cat([cache.v[:, :, slots].to(v_new.dtype), v_new], dim=2)
        new_pos = torch.arange(start, start + T, device=x.device)
        mask = self._mask(new_pos, torch.cat([past_pos, new_pos]))
        y = self._attend(q, k, v, mask, is_causal=False)
        # Write the newest min(T, size) entries into their slots.
        keep = min(T, size)
        write = new_pos[T - keep :] % size
        cache.k[:, :, write] = k_new[:, :, T - keep :].to(cache.k.dtype)
        cache.v[:, :, write] = v_new[:, :, T - keep :].to(cache.v.dtype)
        cache.pos = start + T
        return y

    def _decode_one(self, q, k_new, v_new, cache: KVCache) -> torch.Tensor:
        """One new token: write its key and value into their slot, then attend over the filled
        slots in place, without a gather, a concatenation or a mask. Keys carry their rotation,
        so their order in the ring does not matter; a ring of `window` slots holds exactly the
        window (the current token and the window - 1 before it); a ring of fewer slots was sized
        by `max_len` and never wraps. So a step reads each kept key once, and only those."""
        size, start = cache.k.shape[2], cache.pos
        slot = start % size
        cache.k[:, :, slot] = k_new[:, :, 0]
        cache.v[:, :, slot] = v_new[:, :, 0]
        filled = min(start + 1, size)
        k, v = cache.k[:, :, :filled], cache.v[:, :, :filled]  # (B, K, S, E) views
        if k.dtype != q.dtype:
            k, v = k.to(q.dtype), v.to(q.dtype)
        cache.pos = start + 1
        return self._attend(q, k, v, None, is_causal=False)

    def allocate_cache(self, batch, max_len, dtype=None, device=None) -> KVCache:
        size = self.config.cache_len(max_len)
        shape = (batch, self.num_kv_heads, size, self.head_dim)
        dtype = dtype or self.q_proj.weight.dtype
        device = device or self.q_proj.weight.device
        return KVCache(
            k=torch.zeros(shape, dtype=dtype, device=device),
            v=torch.zeros(shape, dtype=dtype, device=device),
        )

"""Initialisation belongs to each layer kind (mad-lab's model-wide init overwrote Mamba's dt)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import hybridlab
from hybridlab.layers import Mamba1, Mamba2


def test_mamba2_dt_A_D_follow_mamba_ssm():
    model = hybridlab.build_model(
        "ssd(d_state=16, headdim=8, dt_min=0.002, dt_max=0.05)*2", d_model=64
    )
    for layer in (b.layer for b in model.blocks):
        assert isinstance(layer, Mamba2)
        dt = F.softplus(layer.dt_bias)
        assert dt.min() >= 0.002 * 0.999 and dt.max() <= 0.05 * 1.001
        A = torch.exp(layer.A_log)
        assert A.min() >= 1.0 and A.max() <= 16.0
        assert torch.equal(layer.D, torch.ones_like(layer.D))
        assert all(
            getattr(p, "_no_weight_decay", False) for p in (layer.dt_bias, layer.A_log, layer.D)
        )


def test_mamba1_uses_s4d_real_A_and_dt_range():
    model = hybridlab.build_model("scan(d_state=6)", d_model=32)
    layer = model.blocks[0].layer
    assert isinstance(layer, Mamba1)
    expected = torch.arange(1, 7, dtype=torch.float32).expand(64, 6)
    torch.testing.assert_close(torch.exp(layer.A_log), expected)
    dt = F.softplus(layer.dt_proj.bias)
    assert dt.min() >= 0.001 * 0.999 and dt.max() <= 0.1 * 1.001


def test_every_kind_writes_into_the_residual_stream_through_a_small_projection():
    """One convention for all kinds: the residual output projection starts at N(0, 0.02²)."""
    from hybridlab.layers.base import RESIDUAL_OUT_STD

    torch.manual_seed(0)
    model = hybridlab.build_model(
        "ssd(d_state=16, headdim=16), scan(d_state=8), attn(heads=4), mlp", d_model=128
    )
    outs = [getattr(b.layer, "out_proj", None) or b.layer.w_out for b in model.blocks]
    for block, out in zip(model.blocks, outs, strict=True):
        std = out.weight.std().item()
        assert abs(std - RESIDUAL_OUT_STD) < 0.1 * RESIDUAL_OUT_STD, (block.layer, std)
        assert abs(out.weight.mean().item()) < 0.1 * RESIDUAL_OUT_STD


def test_gated_deltanet_follows_fla_a_and_dt_ranges():
    from hybridlab.layers import GatedDeltaNet
    from hybridlab.layers.base import RESIDUAL_OUT_STD

    torch.manual_seed(0)
    model = hybridlab.build_model("gdn(heads=8, head_dim=16)*2", d_model=128)
    for layer in (b.layer for b in model.blocks):
        assert isinstance(layer, GatedDeltaNet)
        # FLA: A ~ U(0, 16), dt = softplus(dt_bias) log-uniform in [0.001, 0.1].
        A = torch.exp(layer.A_log)
        assert A.min() > 0 and A.max() <= 16.0
        dt = F.softplus(layer.dt_bias)
        assert dt.min() >= 0.001 * 0.999 and dt.max() <= 0.1 * 1.001
        assert all(getattr(p, "_no_weight_decay", False) for p in (layer.A_log, layer.dt_bias))
        assert torch.equal(layer.norm.weight, torch.ones_like(layer.norm.weight))
        std = layer.out_proj.weight.std().item()
        assert abs(std - RESIDUAL_OUT_STD) < 0.1 * RESIDUAL_OUT_STD

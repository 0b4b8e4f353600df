"""The layer contract, run over the whole registry: every kind gets every test.

Shapes; causality; gradients reach every parameter; chunked prefill + step-by-step decoding equal
the full forward; `num_params == numel`; `state_numel · itemsize == bytes of the cache`.
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_close

from hybridlab.layers import LAYERS, build_layer
from hybridlab.spec import KINDS, AttnConfig, LayerConfig, MLPConfig, ScanConfig, SSDConfig

D_MODEL = 32

# Every registered kind with its defaults, plus the variants whose code paths differ.
CASES = [pytest.param(cls(), id=f"{kind}-defaults") for kind, cls in KINDS.items()] + [
    pytest.param(SSDConfig(d_state=16, headdim=16, ngroups=2, chunk_size=16), id="ssd-g2-chunk16"),
    pytest.param(SSDConfig(d_state=8, headdim=8, expand=1, d_conv=2), id="ssd-expand1-conv2"),
    pytest.param(ScanConfig(d_state=4, dt_rank=3, expand=1), id="scan-rank3"),
    pytest.param(AttnConfig(heads=4, kv_heads=2), id="attn-gqa"),
    pytest.param(AttnConfig(heads=4, kv_heads=1, head_dim=6), id="attn-mqa-head-dim6"),
    pytest.param(AttnConfig(heads=2, window=5), id="attn-window5"),
    pytest.param(MLPConfig(hidden=20), id="mlp-hidden20"),
]


def test_every_registered_kind_has_a_module_and_a_case():
    assert set(LAYERS) == set(KINDS)
    for kind, module_cls in LAYERS.items():
        assert module_cls.config_cls is KINDS[kind]


def make(config: LayerConfig) -> torch.nn.Module:
    torch.manual_seed(0)
    layer = build_layer(config, D_MODEL)
    # Larger-than-init weights so every path visibly moves the output.
    with torch.no_grad():
        for p in layer.parameters():
            if p.dim() >= 2:
                p.mul_(3.0)
    return layer.eval()


@pytest.mark.parametrize("config", CASES)
def test_shape_is_preserved(config):
    layer = make(config)
    for T in (1, 7, 33):
        x = torch.randn(2, T, D_MODEL)
        assert layer(x).shape == (2, T, D_MODEL)


@pytest.mark.parametrize("config", CASES)
def test_causal(config):
    layer = make(config)
    x = torch.randn(2, 21, D_MODEL)
    t = 11
    x2 = x.clone()
    x2[:, t] = torch.randn(2, D_MODEL)
    y, y2 = layer(x), layer(x2)
    assert torch.equal(y[:, :t], y2[:, :t]), "an output before t changed when token t changed"
    assert not torch.allclose(y[:, t:], y2[:, t:]), "token t influenced nothing"


@pytest.mark.parametrize("config", CASES)
def test_gradients_reach_every_parameter(config):
    layer = make(config).train()
    x = torch.randn(2, 19, D_MODEL, requires_grad=True)
    layer(x).pow(2).mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("config", CASES)
@pytest.mark.parametrize("prefill", [0, 1, 6, 13], ids=lambda n: f"prefill{n}")
def test_prefill_and_step_decoding_equal_full_forward(config, prefill):
    layer = make(config)
    T = 17
    x = torch.randn(2, T, D_MODEL)
    with torch.no_grad():
        full = layer(x)
        cache = layer.allocate_cache(2, T, torch.float32)
        outs = []
        # Prefill in two uneven chunks, then one token at a time.
        cut = prefill // 2
        for lo, hi in ((0, cut), (cut, prefill)):
            if hi > lo:
                outs.append(layer(x[:, lo:hi], cache))
        for t in range(prefill, T):
            outs.append(layer.step(x[:, t], cache).unsqueeze(1))
    assert_close(torch.cat(outs, dim=1), full, rel_rms=1e-4, name="decoded")


@pytest.mark.parametrize("config", CASES)
def test_num_params_equals_numel(config):
    layer = make(config)
    assert config.num_params(D_MODEL) == sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize("config", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("context", [1, 3, 100])
def test_state_numel_equals_cache_bytes(config, dtype, context):
    layer = make(config)
    cache = layer.allocate_cache(3, context, dtype)
    expected = 3 * config.state_numel(D_MODEL, context) * dtype.itemsize
    assert (cache.nbytes() if cache is not None else 0) == expected

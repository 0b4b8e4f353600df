"""The layer contract, run over the whole registry: every kind gets every test.

The checks live in `hybridlab.testing` (what a kind from another package runs through
`check_kind`); here each is one parametrised test per case: shapes; causality; gradients reach
every parameter; chunked prefill + step-by-step decoding equal the full forward;
`num_params == numel`; `state_numel · itemsize == bytes of the cache`; spec round-trips; the cost
model against the built model.
"""

from __future__ import annotations

import pytest
import torch

from hybridlab import testing
from hybridlab.layers import LAYERS
from hybridlab.spec import KINDS, AttnConfig, GDNConfig, MLPConfig, ScanConfig, SSDConfig

D_MODEL = testing.kinds.D_MODEL

# Every registered kind with its defaults, plus the variants whose code paths differ.
CASES = [pytest.param(cls(), id=f"{kind}-defaults") for kind, cls in KINDS.items()] + [
    pytest.param(SSDConfig(d_state=16, headdim=16, ngroups=2, chunk_size=16), id="ssd-g2-chunk16"),
    pytest.param(SSDConfig(d_state=8, headdim=8, expand=1, d_conv=2), id="ssd-expand1-conv2"),
    pytest.param(ScanConfig(d_state=4, dt_rank=3, expand=1), id="scan-rank3"),
    pytest.param(ScanConfig(d_state=4, dt_rank=3, inner_norms=True), id="scan-inner-norms"),
    pytest.param(GDNConfig(heads=2, head_dim=6, expand_v=1.5, d_conv=2), id="gdn-h2-dk6-ev1.5"),
    pytest.param(
        GDNConfig(use_gate=False, conv_bias=True, allow_neg_eigval=True), id="gdn-nogate-negeig"
    ),
    pytest.param(AttnConfig(heads=4, kv_heads=2), id="attn-gqa"),
    pytest.param(AttnConfig(heads=4, kv_heads=1, head_dim=6), id="attn-mqa-head-dim6"),
    pytest.param(AttnConfig(heads=2, window=5), id="attn-window5"),
    pytest.param(AttnConfig(heads=4, kv_heads=2, rope=False), id="attn-gqa-nope"),
    pytest.param(AttnConfig(heads=2, head_dim=5, rope=False, window=3), id="attn-nope-odd-dim"),
    pytest.param(MLPConfig(hidden=20), id="mlp-hidden20"),
    pytest.param(MLPConfig(hidden=20, activation="relu2"), id="mlp-relu2-hidden20"),
]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_registered_kind_has_a_module(kind):
    testing.check_registered(KINDS[kind], LAYERS[kind])


@pytest.mark.parametrize("config", CASES)
@pytest.mark.parametrize("check", testing.CONFIG_CHECKS, ids=lambda c: c.__name__)
def test_contract(config, check):
    check(config, D_MODEL)


@pytest.mark.parametrize("config", CASES)
@pytest.mark.parametrize("prefill", testing.kinds.PREFILLS, ids=lambda n: f"prefill{n}")
def test_prefill_and_step_decoding_equal_full_forward(config, prefill):
    testing.check_decoding(config, D_MODEL, prefill)


@pytest.mark.parametrize("config", CASES)
@pytest.mark.parametrize("dtype", testing.kinds.DTYPES, ids=["fp32", "bf16"])
@pytest.mark.parametrize("context", testing.kinds.CONTEXTS)
def test_state_numel_equals_cache_bytes(config, dtype, context):
    testing.check_state_bytes(config, D_MODEL, context, dtype)


def test_check_kind_runs_the_whole_contract_on_a_builtin_kind():
    testing.check_kind(GDNConfig, LAYERS["gdn"], configs=[GDNConfig(heads=2)])


def test_check_kind_names_the_config_and_the_check_that_failed(monkeypatch):
    monkeypatch.setattr(GDNConfig, "num_params", lambda self, d_model: 7)
    with pytest.raises(AssertionError, match=r"gdn at d_model=32: check_num_params: num_params 7"):
        testing.check_kind(GDNConfig)


def test_a_broken_layer_fails_causality():
    layer = testing.make_layer(MLPConfig(hidden=8))
    original = type(layer).forward

    def peeking(self, x, cache=None):
        # Each output also sees the next token: what a non-causal mixer would do.
        return original(self, x, cache) + torch.roll(x, -1, dims=1)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(layer), "forward", peeking)
        with pytest.raises(AssertionError, match="an output before t changed"):
            testing.check_causal(MLPConfig(hidden=8))

"""The cost model against the anchors' published counts and its own conventions."""

from __future__ import annotations

import pytest

import hybridlab
from hybridlab.cost import itemsize, layer_costs
from hybridlab.spec import AttnConfig, MLPConfig, ScanConfig, SSDConfig


@pytest.mark.parametrize(
    "config, d_model, params",
    [
        pytest.param(ScanConfig(d_state=16), 64, 32_640, id="mamba1-d64-n16"),
        pytest.param(SSDConfig(d_state=16, headdim=16), 64, 28_088, id="mamba2-d64-n16-p16"),
        pytest.param(SSDConfig(d_state=128, headdim=64), 768, 3_764_552, id="mamba2-d768-n128"),
        pytest.param(AttnConfig(heads=4), 64, 4 * 64 * 64, id="mha"),
        pytest.param(AttnConfig(heads=4, kv_heads=1), 64, 2 * 64 * 64 + 2 * 64 * 16, id="mqa"),
        pytest.param(MLPConfig(hidden=100), 64, 3 * 64 * 100, id="swiglu"),
    ],
)
def test_layer_params_match_mamba_ssm_formulas(config, d_model, params):
    assert config.num_params(d_model) == params


def test_model_params_add_embedding_norms_and_untied_head():
    spec = hybridlab.parse("mlp(hidden=10)*2", d_model=8, vocab_size=50)
    per_block = 3 * 8 * 10 + 8
    assert hybridlab.count_params(spec) == 50 * 8 + 2 * per_block + 8
    untied = hybridlab.parse(
        {"stack": "mlp(hidden=10)*2", "tie_embeddings": False}, d_model=8, vocab_size=50
    )
    assert hybridlab.count_params(untied) == hybridlab.count_params(spec) + 50 * 8


@pytest.mark.parametrize(
    "stack, context, numel",
    [
        pytest.param("attn(heads=4)", 100, 2 * 4 * 32 * 100, id="kv-cache"),
        pytest.param("attn(heads=4, kv_heads=1)", 100, 2 * 1 * 32 * 100, id="mqa-kv-cache"),
        pytest.param("attn(heads=4, window=16)", 100, 2 * 4 * 32 * 16, id="window"),
        pytest.param(
            "attn(heads=4, window=16)", 10, 2 * 4 * 32 * 10, id="window-longer-than-context"
        ),
        pytest.param("scan(d_state=16)", 100, 256 * 4 + 256 * 16, id="mamba1"),
        pytest.param("ssd(d_state=16, headdim=32)", 9, (256 + 32) * 4 + 8 * 32 * 16, id="mamba2"),
        pytest.param("mlp", 100, 0, id="mlp-stateless"),
    ],
)
def test_state_bytes(stack, context, numel):
    spec = hybridlab.parse(stack, d_model=128)
    assert hybridlab.state_bytes(spec, context) == 4 * numel
    assert hybridlab.state_bytes(spec, context, "bf16") == 2 * numel


def test_attention_flops_follow_the_causal_average():
    spec = hybridlab.parse("attn(heads=2)", d_model=16, vocab_size=10)
    proj = 2 * 16 * 8 * (2 + 4) + 2 * 2 * 8 * 16
    head = 2 * 16 * 10
    # context 3: tokens see 1, 2, 3 keys -> 2 on average; QKᵀ and AV are 2·H·hd FLOPs per key each.
    assert hybridlab.flops_per_token(spec, 3) == proj + 4 * 2 * 8 * 2 + head
    windowed = hybridlab.parse("attn(heads=2, window=2)", d_model=16, vocab_size=10)
    # tokens see 1, 2, 2, 2 keys -> 7/4 on average.
    assert hybridlab.flops_per_token(windowed, 4) == proj + 4 * 2 * 8 * 7 // 4 + head


def test_ssm_flops_do_not_depend_on_context():
    spec = hybridlab.parse("ssd(d_state=16, headdim=32), scan", d_model=64)
    assert hybridlab.flops_per_token(spec, 16) == hybridlab.flops_per_token(spec, 4096)


def test_layer_costs_sum_to_totals():
    spec = hybridlab.parse("[ssd(d_state=16), mlp]*2, attn", d_model=64, vocab_size=100)
    rows = layer_costs(spec, context=256, dtype="bf16")
    D, V = 64, 100
    assert sum(r.params for r in rows) + V * D + D == hybridlab.count_params(spec)
    assert sum(r.state_bytes for r in rows) == hybridlab.state_bytes(spec, 256, "bf16")
    assert sum(r.flops_per_token for r in rows) + 2 * D * V == hybridlab.flops_per_token(spec, 256)


@pytest.mark.parametrize("bad", [0, -3, 1.5, True], ids=["zero", "negative", "float", "bool"])
def test_bad_context_is_rejected(bad):
    with pytest.raises(ValueError, match="context must be a positive integer"):
        hybridlab.state_bytes(hybridlab.parse("ssd"), bad)


def test_itemsize_accepts_names_and_torch_dtypes():
    import torch

    assert itemsize("bf16") == itemsize(torch.bfloat16) == 2
    assert itemsize("torch.float32") == 4
    with pytest.raises(ValueError, match="unknown dtype"):
        itemsize("int3")

"""The cost model against the anchors' published counts and its own conventions."""

from __future__ import annotations

import re

import numpy as np
import pytest

import hybridlab
from hybridlab.cost import itemsize, layer_costs
from hybridlab.spec import AttnConfig, GDNConfig, MLPConfig, ScanConfig, SSDConfig


@pytest.mark.parametrize(
    "config, d_model, params",
    [
        pytest.param(ScanConfig(d_state=16), 64, 32_640, id="mamba1-d64-n16"),
        # Jamba's Mamba-1: RMSNorm weights on dt (rank 4), B and C (16 each).
        pytest.param(
            ScanConfig(d_state=16, inner_norms=True), 64, 32_640 + 4 + 2 * 16, id="jamba-mamba1"
        ),
        pytest.param(SSDConfig(d_state=16, headdim=16), 64, 28_088, id="mamba2-d64-n16-p16"),
        pytest.param(SSDConfig(d_state=128, headdim=64), 768, 3_764_552, id="mamba2-d768-n128"),
        pytest.param(AttnConfig(heads=4), 64, 4 * 64 * 64, id="mha"),
        pytest.param(AttnConfig(heads=4, kv_heads=1), 64, 2 * 64 * 64 + 2 * 64 * 16, id="mqa"),
        pytest.param(MLPConfig(hidden=100), 64, 3 * 64 * 100, id="swiglu"),
        # Nemotron-H's MLP: up and down only.
        pytest.param(MLPConfig(hidden=100, activation="relu2"), 64, 2 * 64 * 100, id="relu2"),
        pytest.param(AttnConfig(heads=4, rope=False), 64, 4 * 64 * 64, id="mha-nope"),
        # FLA's GatedDeltaNet(hidden_size=2048, num_heads=6, head_dim=256, expand_v=2): q, k
        # (1536 each), v, gate (3072 each), a, β (6 each) projections; three convs of width 4
        # without bias; A_log, dt_bias; the output norm's 512 weights; o_proj.
        pytest.param(
            GDNConfig(heads=6, head_dim=256),
            2048,
            2048 * (2 * 1536 + 2 * 3072 + 2 * 6)
            + (2 * 1536 + 3072) * 4
            + 2 * 6
            + 512
            + 3072 * 2048,
            id="gated-deltanet-fla-1.3b-layer",
        ),
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
        # H 4, dk 0.75·128/4 = 24, dv 48: convs over q, k, v (2·96 + 192 channels, width 4) and
        # the delta-rule state H·dk·dv.
        pytest.param("gdn", 100, (2 * 96 + 192) * 4 + 4 * 24 * 48, id="gated-deltanet"),
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
    spec = hybridlab.parse("ssd(d_state=16, headdim=32), scan, gdn", d_model=64)
    assert hybridlab.flops_per_token(spec, 16) == hybridlab.flops_per_token(spec, 4096)


def test_gated_deltanet_flops_count_projections_convs_and_four_state_multiply_adds():
    spec = hybridlab.parse("gdn(heads=2, head_dim=8, use_gate=false)", d_model=32, vocab_size=10)
    K, V = 2 * 8, 2 * 16
    proj = 2 * 32 * (2 * K + V + 2 * 2) + 2 * V * 32
    conv = 2 * 4 * (2 * K + V)
    recurrence = 2 * 4 * 2 * 8 * 16  # decay, kᵀS, rank-1 correction, readout per state entry
    assert hybridlab.flops_per_token(spec, 64) == proj + conv + recurrence + 2 * 32 * 10


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


@pytest.mark.parametrize(
    "dtype, size",
    [
        pytest.param(np.float16, 2, id="numpy-scalar-type"),
        pytest.param(np.dtype("float16"), 2, id="numpy-dtype"),
        pytest.param(np.double, 8, id="numpy-double"),
        pytest.param("BFloat16", 2, id="name-any-case"),
        pytest.param("fp16", 2, id="short-name"),
        pytest.param("numpy.float32", 4, id="numpy-prefix"),
        pytest.param(2, 2, id="bytes-per-element"),
    ],
)
def test_itemsize_accepts_what_a_user_passes(dtype, size):
    assert itemsize(dtype) == size


def test_state_bytes_takes_a_numpy_type():
    # Issue 14: this raised a TypeError about a 'getset_descriptor'.
    spec = hybridlab.parse("ssd", d_model=128)
    # conv state (Di + 2·N)·K and SSM state H·P·N, 2 bytes each: Di 256, N 128, K 4, H 4, P 64.
    numel = (256 + 2 * 128) * 4 + 4 * 64 * 128
    assert hybridlab.state_bytes(spec, 4096, np.float16) == 2 * numel


@pytest.mark.parametrize(
    "dtype, error, fragment",
    [
        pytest.param(2.0, TypeError, "dtype must be a torch.dtype", id="float"),
        pytest.param(True, TypeError, "got True (bool)", id="bool"),
        pytest.param(None, TypeError, "bytes per element as an int", id="none"),
        pytest.param(float, TypeError, "dtype must be", id="python-float-type"),
        pytest.param(3, ValueError, "must be one of (1, 2, 4, 8), got 3", id="three-bytes"),
        pytest.param("int3", ValueError, "unknown dtype 'int3'", id="unknown-name"),
    ],
)
def test_a_bad_dtype_names_the_argument_and_the_accepted_forms(dtype, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        hybridlab.state_bytes("ssd", 16, dtype)


@pytest.mark.parametrize(
    "function",
    [
        hybridlab.count_params,
        hybridlab.state_bytes,
        hybridlab.flops_per_token,
        hybridlab.layer_costs,
        hybridlab.format_spec,
    ],
    ids=lambda f: f.__name__,
)
def test_cost_functions_take_what_build_model_takes(function, tmp_path):
    # Issue 14: a string spec raised AttributeError.
    spec = hybridlab.parse("[ssd(d_state=16), mlp]*2, attn", d_model=64)
    path = tmp_path / "m.yaml"
    path.write_text(spec.to_yaml())
    expected = function(spec)
    assert function("[ssd(d_state=16), mlp]*2, attn", d_model=64) == expected
    assert function(spec.to_yaml()) == function(spec.to_dict()) == function(path) == expected
    with pytest.raises(TypeError, match=f"{function.__name__}\\(\\) got an unexpected keyword"):
        function(spec, d_modle=64)
    with pytest.raises(hybridlab.SpecError, match="d_model must be a positive integer"):
        function("ssd", d_model="64")

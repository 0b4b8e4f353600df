"""`ShortConvolution`: one module for the conv in front of ssd, scan and gdn, with its cache."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import assert_close

import hybridlab
from hybridlab.layers.short_conv import ShortConvolution

B, T, C = 2, 11, 6


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("kernel_size", [1, 4], ids=lambda k: f"k{k}")
def test_chunks_through_a_cache_and_single_steps_equal_the_whole_sequence(bias, kernel_size):
    torch.manual_seed(0)
    conv = ShortConvolution(C, kernel_size, bias=bias)
    x = torch.randn(B, T, C)
    full = conv(x)
    cache = conv.allocate_cache(B)
    head = conv(x[:, :5], cache)
    tail = torch.stack([conv.step(x[:, t], cache) for t in range(5, T)], dim=1)
    assert_close(torch.cat([head, tail], dim=1), full, rel_rms=1e-6)


def test_the_cache_holds_the_last_kernel_size_inputs():
    conv = ShortConvolution(C, 4)
    x = torch.randn(B, T, C)
    cache = conv.allocate_cache(B)
    conv(x, cache)
    assert torch.equal(cache, x[:, -4:].transpose(1, 2))


def test_init_is_conv1d_default_for_a_depthwise_conv():
    torch.manual_seed(0)
    conv = ShortConvolution(512, 4)
    bound = 1 / math.sqrt(4)
    for p in (conv.weight, conv.bias):
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.95 * bound  # spread over the whole range, not a narrow one
    assert conv.weight.shape == (512, 4)


def test_allocate_cache_follows_the_weight_unless_told():
    conv = ShortConvolution(C, 4, dtype=torch.bfloat16)
    assert conv.allocate_cache(3).shape == (3, C, 4)
    assert conv.allocate_cache(3).dtype == torch.bfloat16
    assert conv.allocate_cache(3, dtype=torch.float32).dtype == torch.float32


@pytest.mark.parametrize(
    ("stack", "has_bias"),
    [("ssd(d_state=8, headdim=8)", True), ("scan(d_state=4)", True), ("gdn", False)],
    ids=["ssd", "scan", "gdn"],
)
def test_ssm_layers_name_their_conv_like_mamba_ssm(stack, has_bias):
    """`<layer>.conv1d.weight` / `.bias`: the names mamba_ssm and HF checkpoints use."""
    model = hybridlab.build_model(stack, d_model=32)
    names = {name for name, _ in model.named_parameters() if "conv" in name}
    expected = {"blocks.0.layer.conv1d.weight"}
    if has_bias:
        expected.add("blocks.0.layer.conv1d.bias")
    assert names == expected

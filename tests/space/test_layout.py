"""The layout resolver: ratios, spread (never first or last), front/back, explicit patterns."""

from __future__ import annotations

import itertools

import pytest

import hybridlab
from hybridlab.space import InfeasibleSample
from hybridlab.space.layout import (
    attention_positions,
    layout_pattern,
    layout_stack,
    num_attention,
)


@pytest.mark.parametrize("depth", range(1, 41))
def test_spread_is_never_first_or_last_and_even(depth):
    for num_attn in range(0, depth + 1):
        num_ssm = depth - num_attn
        if 0 < num_attn < depth and num_ssm < 2:
            with pytest.raises(InfeasibleSample, match="at least 2 SSM layers"):
                attention_positions(depth, num_attn, "spread")
            continue
        positions = attention_positions(depth, num_attn, "spread")
        assert len(positions) == len(set(positions)) == num_attn
        assert positions == sorted(positions) and all(0 <= p < depth for p in positions)
        if num_attn == depth or num_attn == 0:
            continue
        assert 0 not in positions and depth - 1 not in positions
        # The SSM runs between attention layers differ by at most one layer whenever there are
        # enough SSM layers to give every gap one.
        bounds = [-1, *positions, depth]
        runs = [b - a - 1 for a, b in itertools.pairwise(bounds)]
        if num_ssm >= num_attn + 1:
            assert max(runs) - min(runs) <= 1, (depth, num_attn, runs)


LAYOUTS = [
    # Nemotron-H 8B's mixers: 24 Mamba-2 and 4 attention, spread evenly.
    pytest.param(dict(depth=28, num_attn=4), "MMMMM*MMMMM*MMMM*MMMMM*MMMMM", id="nemotron-h-8b"),
    # Jamba's period: 1 attention in 8 layers.
    pytest.param(dict(depth=8, attn_ratio=0.125), "MMMM*MMM", id="jamba-1-in-8"),
    pytest.param(dict(depth=8, attn_ratio=0.25), "MM*MM*MM", id="quarter"),
    pytest.param(dict(depth=4, attn_ratio=0.0), "MMMM", id="no-attention"),
    pytest.param(dict(depth=4, attn_ratio=0.1), "MMMM", id="ratio-rounds-down"),
    pytest.param(dict(depth=4, attn_ratio=0.125), "MM*M", id="half-rounds-up"),
    pytest.param(dict(depth=3, attn_ratio=1.0), "***", id="all-attention"),
    pytest.param(dict(depth=5, attn_ratio=0.4, placement="front"), "**MMM", id="front"),
    pytest.param(dict(depth=5, attn_ratio=0.4, placement="back"), "MMM**", id="back"),
    pytest.param(dict(depth=3, num_attn=1, ssm="scan", mlp=True), "S-*-S-", id="scan-mlp"),
    pytest.param(dict(placement="M*MM*M"), "M*MM*M", id="explicit"),
    pytest.param(
        dict(placement="M*S", mlp=True, depth=3, attn_ratio=0.34), "M-*-S-", id="explicit-with-mlp"
    ),
    pytest.param(dict(placement="M-*-M-"), "M-*-M-", id="explicit-megatron"),
]


@pytest.mark.parametrize(("layout", "pattern"), LAYOUTS)
def test_layout_patterns(layout, pattern):
    assert layout_pattern(**layout) == pattern
    spec = hybridlab.parse(layout_stack(**layout), d_model=32)
    assert spec.pattern() == pattern


def test_ratio_rounding():
    assert [num_attention(8, r) for r in (0.0, 0.06, 0.0625, 0.125, 0.25, 1.0)] == [
        0,
        0,
        1,
        1,
        2,
        8,
    ]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        num_attention(8, 1.5)


BAD = [
    pytest.param(dict(placement="M*X"), ValueError, "neither one of spread", id="bad-letter"),
    pytest.param(
        dict(placement="M*M", depth=4),
        InfeasibleSample,
        "3 mixers, depth is 4",
        id="explicit-depth-mismatch",
    ),
    pytest.param(
        dict(placement="M*M", attn_ratio=0.0),
        InfeasibleSample,
        "ratio asks for 0",
        id="explicit-ratio-mismatch",
    ),
    pytest.param(
        dict(placement="M-*-", mlp=True), ValueError, "already places MLPs", id="explicit-mlp-twice"
    ),
    pytest.param(dict(depth=4, ssm="mamba3"), ValueError, "unknown ssm kind", id="bad-ssm"),
    pytest.param(dict(depth=2, num_attn=1), InfeasibleSample, "at least 2 SSM", id="spread-2"),
    pytest.param(dict(attn_ratio=0.5), ValueError, "needs depth", id="no-depth"),
    pytest.param(
        dict(depth=4, num_attn=1, attn_ratio=0.25), ValueError, "not both", id="ratio-and-count"
    ),
]


@pytest.mark.parametrize(("layout", "error", "message"), BAD)
def test_bad_layouts(layout, error, message):
    with pytest.raises(error, match=message):
        layout_pattern(**layout)

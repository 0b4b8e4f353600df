"""Physics as tests: what a decode step costs as the context grows.

Attention reads its whole KV cache every step, so its time per token grows with the context; an
SSM's (every registered kind whose state does not grow with the context: ssd, scan, and any kind
added later) and sliding-window attention's beyond the window stay flat. The contents of a cache
do not change what a step costs, so the caches are marked filled to the context rather than
prefilled: the test takes a second, not a minute. Each time is the best of several runs (the
least disturbed by a busy machine), and the bounds leave room for noise: attention at 4096 is
measured 4-10x slower per token than at 256 on a quiet machine here (batch 8, d_model 128), the
flat kinds within 10%; on a busy one single ratios of flat kinds reached 1.3-1.9 (gdn inside
pytest while benchmarks ran), hence 21 alternating runs and the bounds 3 and 2.
"""

from __future__ import annotations

import time

import pytest
import torch

import hybridlab
from hybridlab.bench.protocol import fixed_threads
from hybridlab.spec.kinds import KINDS

D_MODEL, BATCH, SHORT, LONG = 128, 8, 256, 4096


def constant_state_kinds() -> list[str]:
    """Kinds with a decoding state that does not depend on the context."""
    kinds = []
    for kind in sorted(KINDS):
        config = hybridlab.parse(kind, d_model=D_MODEL).layers[0]
        short, long = config.state_numel(D_MODEL, SHORT), config.state_numel(D_MODEL, LONG)
        if short == long > 0:
            kinds.append(kind)
    return kinds


def filled_cache(model, context: int, room: int):
    """A cache marked filled to `context`: a step reads every kept key whatever the keys hold."""
    cache = model.allocate_cache(BATCH, context + room)
    cache.pos = context
    for layer_cache in cache.layers:
        if layer_cache is not None and hasattr(layer_cache, "pos"):
            layer_cache.pos = context
    return cache


def growth(text: str, short: int = SHORT, long: int = LONG, runs: int = 21, steps: int = 4):
    """Time per decode step after `long` tokens over that after `short`: the best of `runs`
    runs of `steps` steps each, the two contexts alternating run by run so that a busy spell
    of the machine hits both."""
    torch.manual_seed(0)
    model = hybridlab.build_model(text, d_model=D_MODEL, vocab_size=256).eval()
    caches = {n: filled_cache(model, n, (runs + 1) * steps) for n in (short, long)}
    token = torch.zeros(BATCH, dtype=torch.long)
    best = dict.fromkeys(caches, float("inf"))
    with fixed_threads(1):
        for _ in range(runs + 1):
            for n, cache in caches.items():
                tick = time.perf_counter()
                model.decode(token, cache, steps)
                best[n] = min(best[n], time.perf_counter() - tick)
    return best[long] / best[short]


def test_attention_decode_grows_with_the_context():
    assert growth("attn(heads=4)*2") > 3.0


@pytest.mark.parametrize("kind", constant_state_kinds())
def test_ssm_decode_is_flat_in_the_context(kind):
    assert growth(f"{kind}*2") < 2.0


def test_sliding_window_attention_is_flat_beyond_its_window():
    assert growth("attn(heads=4, window=256)*2", short=512) < 2.0


def test_the_kinds_are_found():
    assert {"ssd", "scan"} <= set(constant_state_kinds())
    assert "attn" not in constant_state_kinds()

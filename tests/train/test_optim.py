"""Weight-decay groups and the learning-rate schedule."""

import math

import pytest
import torch
from torch import nn

import hybridlab
from hybridlab.train import TrainConfig
from hybridlab.train.optim import lr_factor, param_groups


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.norm_weight = nn.Parameter(torch.ones(4))
        self.marked = nn.Parameter(torch.zeros(4, 4))
        self.marked._no_weight_decay = True


def _names(model, group):
    ids = {id(p) for p in group["params"]}
    return sorted(n for n, p in model.named_parameters() if id(p) in ids)


def test_decay_only_on_unmarked_matrices():
    model = _Toy()
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert _names(model, decay) == ["proj.weight"]
    assert _names(model, no_decay) == ["marked", "norm_weight", "proj.bias"]


def test_model_parameters_each_in_one_group():
    spec = hybridlab.parse("attn(heads=2), mlp", d_model=32, vocab_size=64)
    model = hybridlab.build_model(spec)
    groups = param_groups(model, 0.1)
    listed = [id(p) for g in groups for p in g["params"]]
    assert len(listed) == len(set(listed)) == len({id(p) for p in model.parameters()})
    assert all(p.ndim >= 2 for p in groups[0]["params"])


@pytest.mark.parametrize(
    ("steps", "warmup_fraction"),
    [pytest.param(100, 0.1, id="s100-w10"), pytest.param(7, 0.0, id="s7-no-warmup")],
)
def test_warmup_then_cosine(steps, warmup_fraction):
    config = TrainConfig(steps=steps, warmup_fraction=warmup_fraction, min_lr_ratio=0.1)
    factors = [lr_factor(s, config) for s in range(steps)]
    warmup = config.warmup_steps
    assert all(0 < f <= 1 for f in factors)
    if warmup:
        assert factors[: warmup + 1] == sorted(factors[: warmup + 1]), "warmup rises"
        assert factors[0] == pytest.approx(1 / warmup)
    assert factors[warmup] == pytest.approx(1.0)
    assert factors[warmup:] == sorted(factors[warmup:], reverse=True), "cosine falls"
    assert factors[-1] == pytest.approx(0.1)
    middle = warmup + (steps - 1 - warmup) / 2
    if middle == int(middle):
        assert factors[int(middle)] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))

"""AdamW with decay on matrices only, and the warmup-then-cosine schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from hybridlab.train.config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed matrices, and everything else without decay.

    No decay for parameters with fewer than 2 dimensions (norm weights, biases, Mamba's A_log, D,
    dt_bias), for names ending in "bias", and for any parameter with `_no_weight_decay = True`
    (mamba_ssm's marker). Shared (tied) parameters are listed once.
    """
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        skip = p.ndim < 2 or name.endswith("bias") or getattr(p, "_no_weight_decay", False)
        (no_decay if skip else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(
        param_groups(model, config.weight_decay),
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
    )


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of the peak lr for optimizer step `step` (0-based).

    Linear warmup over `warmup_steps` (step 0 gets 1/warmup_steps, never 0), then a cosine from 1
    at the end of warmup to `min_lr_ratio` at the last step.
    """
    warmup = config.warmup_steps
    if step < warmup:
        return (step + 1) / warmup
    decay_steps = max(1, config.steps - 1 - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


def make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))

"""One AdamW step for all members: stacked parameters, a peak learning rate per member.

`torch.optim.AdamW` takes one learning rate per parameter group, and a stacked parameter holds
every member, so the members' rates are a tensor (M,) broadcast over each parameter's member
dimension. The update is `torch.optim.AdamW`'s (its single-tensor path, decoupled decay) written
once over the stack; the global-norm gradient clipping is `nn.utils.clip_grad_norm_`'s, per
member. Together they give each member the step its lone `train_proxy` run takes.

Shapes: M members; a stacked parameter is (M, *shape).
"""

from __future__ import annotations

import math

import torch

from hybridlab.train.config import TrainConfig
from hybridlab.train.members.stack import MemberStack
from hybridlab.train.optim import param_groups


class StackedAdamW:
    """AdamW over a `MemberStack`'s parameters with peak rates `lrs` (M,), one per member.

    The schedule (`hybridlab.train.optim.lr_factor`) is the same function of the step for every
    member, so a step takes its factor and member m trains at `lrs[m] · factor`. Weight decay
    applies to the parameters `param_groups` decays in a lone run (matrices, not norms, biases
    or `_no_weight_decay` parameters).
    """

    def __init__(self, stack: MemberStack, lrs: torch.Tensor, config: TrainConfig) -> None:
        self.stack, self.config = stack, config
        self.lrs = lrs.to(torch.float64)
        groups = param_groups(stack.template, config.weight_decay)
        decayed = {id(p) for p in groups[0]["params"]}
        self.decayed = {name for name, p in stack.template.named_parameters() if id(p) in decayed}
        self.steps = 0
        self.exp_avg = {name: torch.zeros_like(p) for name, p in stack.params.items()}
        self.exp_avg_sq = {name: torch.zeros_like(p) for name, p in stack.params.items()}

    def keep(self, index: torch.Tensor) -> None:
        """Keep the optimizer state of the members at `index`, as `MemberStack.keep` does."""
        self.lrs = self.lrs[index.to(self.lrs.device)]
        self.exp_avg = {name: t[index].contiguous() for name, t in self.exp_avg.items()}
        self.exp_avg_sq = {name: t[index].contiguous() for name, t in self.exp_avg_sq.items()}

    @torch.no_grad()
    def step(self, factor: float) -> None:
        """One AdamW step at rates `lrs · factor`; gradients are taken from the stack."""
        c = self.config
        self.steps += 1
        bias1 = 1 - c.beta1**self.steps
        bias2_sqrt = math.sqrt(1 - c.beta2**self.steps)
        lr = self.lrs * factor  # (M,), float64 as the lone run's Python floats
        for name, p in self.stack.params.items():
            grad = p.grad
            if grad is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            if name in self.decayed and c.weight_decay:
                p.mul_((1 - lr * c.weight_decay).to(p.dtype).view(shape))
            m, v = self.exp_avg[name], self.exp_avg_sq[name]
            m.lerp_(grad, 1 - c.beta1)
            v.mul_(c.beta2).addcmul_(grad, grad, value=1 - c.beta2)
            denom = (v.sqrt() / bias2_sqrt).add_(c.eps)
            step_size = (lr / bias1).to(p.dtype).view(shape)
            p.sub_(step_size * m / denom)

    def zero_grad(self) -> None:
        for p in self.stack.params.values():
            p.grad = None


@torch.no_grad()
def clip_grad_norm_per_member(stack: MemberStack, max_norm: float) -> torch.Tensor:
    """Scale each member's gradients so that their global L2 norm is at most `max_norm`, as
    `nn.utils.clip_grad_norm_` does for one model; return the norms before clipping (M,)."""
    grads = [p.grad for p in stack.params.values() if p.grad is not None]
    squares = torch.stack([g.flatten(1).square().sum(1) for g in grads])  # (params, M)
    norms = squares.sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view((-1,) + (1,) * (g.dim() - 1)))
    return norms

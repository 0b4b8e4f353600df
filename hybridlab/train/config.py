"""`TrainConfig`: every setting of a proxy training run, as typed data.

OmegaConf structured configs load and override it (`OmegaConf.structured(TrainConfig)`), so
choices are str Enums, not Literals, and "off" is None rather than a magic number.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class Device(enum.StrEnum):
    AUTO = "auto"  # CUDA when available, else CPU
    CPU = "cpu"
    CUDA = "cuda"


class Precision(enum.StrEnum):
    AUTO = "auto"  # bf16 autocast on CUDA, fp32 on CPU
    FP32 = "fp32"
    BF16 = "bf16"  # autocast to bfloat16 (weights and optimizer state stay fp32)


@dataclass(kw_only=True)
class TrainConfig:
    """Settings of `train_proxy`.

    Args:
        steps: optimizer steps.
        batch_size: examples per step.
        lr: peak learning rate of AdamW (unless `lr_race` names candidates).
        lr_race: candidate peak learning rates raced at the start of the run: each trains the
            same initial model on the same batches for `lr_race_fraction · steps` steps, the one
            with the lowest mean training loss over the last fifth of those steps continues
            to `steps`, the others are dropped (their steps count in `TrainResult.race_steps`).
            Empty: train at `lr`. Architectures differ in the rate that suits them (zoology and
            MAD sweep it per model); a race gives each its own at a fraction of a sweep's cost.
        lr_race_fraction: the share of `steps` each candidate trains in the race.
        weight_decay: AdamW decay on matrices; norms, biases, other 1-D parameters and any
            parameter marked `_no_weight_decay = True` (mamba_ssm's convention) get none.
        beta1, beta2, eps: AdamW's.
        warmup_fraction: the first `warmup_fraction · steps` steps raise the lr linearly from 0;
            then it follows a cosine down to `min_lr_ratio · lr` at the last step.
        grad_clip: clip the global gradient norm to this; None = no clipping.
        eval_every: evaluate every this many steps (and always at the end); None = only at the end.
        eval_batch_size: examples per evaluation forward pass.
        max_eval_examples: evaluate on the first this many held-out examples; None = all.
        log_every: report training loss every this many steps.
        seed: fixes the model's initialisation and the order of training batches.
        device, precision: see `Device` and `Precision`.
        num_threads: torch CPU threads (process-wide, `torch.set_num_threads`); None = leave.
        target_accuracy: stop once an evaluation reaches this accuracy; None = never.
        max_wall_time_s: stop once the run has taken this long (wall clock from the model's
            creation, evaluations included), then evaluate a last time; None = never.

    Example:
        >>> TrainConfig(steps=200, lr=3e-3, target_accuracy=0.99).warmup_steps
        20
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    lr_race: list[float] = field(default_factory=list)
    lr_race_fraction: float = 0.2
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    warmup_fraction: float = 0.1
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int | None = 100
    eval_batch_size: int = 256
    max_eval_examples: int | None = None
    log_every: int = 10
    seed: int = 0
    device: Device = Device.AUTO
    precision: Precision = Precision.AUTO
    num_threads: int | None = None
    target_accuracy: float | None = None
    max_wall_time_s: float | None = None

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_fraction * self.steps)

    @property
    def race_steps(self) -> int:
        """Steps each `lr_race` candidate trains before the winner is chosen (0: no race)."""
        if len(self.lr_race) < 2:
            return 0
        return min(self.steps - 1, max(1, round(self.lr_race_fraction * self.steps)))

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"train.seed must be a whole number >= 0, got {self.seed}")
        positive = ("steps", "batch_size", "eval_batch_size", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("eval_every", "max_eval_examples", "num_threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"train.{name} must be ≥ 1 or null, got {value}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"train.lr must be a positive number, got {self.lr}")
        for lr in self.lr_race:
            if not (lr > 0 and math.isfinite(lr)):
                raise ValueError(f"train.lr_race: every rate must be a positive number, got {lr}")
        if len(set(self.lr_race)) != len(self.lr_race):
            raise ValueError(f"train.lr_race: a rate is listed twice in {self.lr_race}")
        if not 0 < self.lr_race_fraction < 1:
            raise ValueError(
                f"train.lr_race_fraction must be in (0, 1), got {self.lr_race_fraction}"
            )
        if self.weight_decay < 0:
            raise ValueError(f"train.weight_decay must be ≥ 0, got {self.weight_decay}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"train.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(
                f"train.beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"train.grad_clip must be > 0 or null, got {self.grad_clip}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"train.target_accuracy must be in (0, 1], got {self.target_accuracy}")
        if self.max_wall_time_s is not None and not self.max_wall_time_s > 0:
            raise ValueError(f"train.max_wall_time_s must be > 0, got {self.max_wall_time_s}")
        # Plain strings are accepted (OmegaConf hands Enums back, Python callers may not).
        Device(self.device)
        Precision(self.precision)

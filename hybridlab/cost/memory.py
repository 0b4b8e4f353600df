"""`estimate_memory`: the bytes a model of a spec needs to train or to decode, before building it.

A caller about to allocate (the CLI's `train`, `bench`, a study's worker) compares the estimate
with the free memory of its device and refuses a setting that cannot fit, naming it, instead of
meeting the allocator's error (or the operating system's out-of-memory killer) half-way.

What is exact and what is estimated:

- weights, their gradients and AdamW's two moments (`count_params` × bytes per element), and
  the decoding cache (`state_bytes` × batch) are exact;
- activations are estimated. A layer keeps about one value per token for every column of its
  matrix products, which its forward FLOPs count (2·d_in·d_out FLOPs per token for a d_in → d_out
  product), so a block's activations are taken as `ACT_PER_FLOP_COLUMN · flops_per_token /
  (2·d_model)` plus `ACT_PER_WIDTH · d_model` values per token (the residual stream, the norm,
  their gradients), and the output head's `vocab_size` values per token, times
  `TRAIN_LOGIT_COPIES` when training (logits, softmax, gradient). Training keeps every block's
  values for the backward; decoding's prefill (no gradients) holds one block's at a time. The
  FLOPs carry what grows with the context (attention's keys per token, the chunked scans' state
  work), and training with the chunked scans keeps more (`TRAIN_SCAN_KEEP`). The constants were
  fitted on CPU float32 training steps and prefills of d_model 64-256 stacks of every built-in
  kind, against PyTorch's allocator (tests/test_cost_memory.py measures some of them): within a
  factor of 2 there, and for training not below 0.8 of the measured peak. Read the estimate as
  an order of magnitude: bf16 autocast, Triton kernels and fused attention keep less.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from hybridlab.cost import layer_costs
from hybridlab.cost.dtypes import itemsize
from hybridlab.spec.loader import SpecSource, resolve

# Activation values kept per token (see the module docstring), fitted on measured peaks.
ACT_PER_FLOP_COLUMN = 2
ACT_PER_WIDTH = 8
TRAIN_LOGIT_COPIES = 3
# AdamW keeps two moments per parameter, in the parameter's dtype.
ADAM_STATES = 2
# Training with the chunked scans keeps more than their FLOPs say: per head and token a row of
# each (chunk × chunk) decay block (SSD, the gated delta rule) or the scan's per-channel states
# (selective scan), for the backward. The FLOP-based count was 0.53-0.59 of the measured peak
# for SSD and gated delta stacks and 0.71 for the selective scan (d_model 64-128, CPU fp32):
# a check that reads it must not let through a step that does not fit. (numerator, denominator)
TRAIN_SCAN_KEEP = {"ssd": (2, 1), "gdn": (2, 1), "scan": (3, 2)}


class Workload(enum.StrEnum):
    """What the memory is for."""

    # Forward, backward and an AdamW step on `batch` sequences of `context` tokens.
    TRAIN = "train"
    # `generate`: a cache for `batch` sequences of `context` tokens, a prefill of up to
    # `context` prompt tokens (no gradients: one layer's values at a time), then decode steps.
    DECODE = "decode"


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Bytes by purpose; `total` is what to compare with free memory."""

    params: int
    grads: int
    optimizer: int
    cache: int
    activations: int

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer + self.cache + self.activations


def estimate_memory(
    spec: SpecSource,
    *,
    batch: int,
    context: int,
    workload: Workload | str = Workload.TRAIN,
    dtype: Any = "float32",
    **parse_kwargs: Any,
) -> MemoryEstimate:
    """Bytes needed to train (or decode with) the model of `spec` at `batch` × `context`.

    Args:
        spec: a `ModelSpec` or anything `hybridlab.parse` accepts; `parse_kwargs` are `parse`'s
            options (`d_model`, `vocab_size`, `defaults`).
        batch: sequences at once, an int >= 1.
        context: tokens per sequence (for decoding, prompt and new tokens together), an int >= 1.
        workload: `"train"` or `"decode"` (`Workload`).
        dtype: the weights' (and activations', cache's) dtype, in any form
            `hybridlab.cost.itemsize` takes.

    Returns:
        A `MemoryEstimate`; weights, gradients, optimizer state and cache are exact,
        activations an order-of-magnitude estimate (the module docstring says how).

    Example:
        >>> estimate_memory("[ssd, mlp]*2", batch=8, context=256, d_model=128).total > 0
        True
    """
    model = resolve(spec, parse_kwargs, "estimate_memory")
    for name, value in (("batch", batch), ("context", context)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{name} must be a positive integer, got {value!r} ({type(value).__name__})"
            )
    try:
        workload = Workload(workload)
    except ValueError:
        valid = ", ".join(w.value for w in Workload)
        raise ValueError(f"workload must be one of {valid}, got {workload!r}") from None
    size = itemsize(dtype)
    costs = layer_costs(model, context, dtype)
    D, V = model.d_model, model.vocab_size
    weights = model.num_params() * size
    per_block = [
        ACT_PER_FLOP_COLUMN * c.flops_per_token // (2 * D) + ACT_PER_WIDTH * D for c in costs
    ]
    tokens = batch * context
    if workload is Workload.TRAIN:
        keep = [TRAIN_SCAN_KEEP.get(c.kind, (1, 1)) for c in costs]
        per_block = [a * num // den for a, (num, den) in zip(per_block, keep, strict=True)]
        return MemoryEstimate(
            params=weights,
            grads=weights,
            optimizer=ADAM_STATES * weights,
            cache=0,
            activations=tokens * (sum(per_block) + TRAIN_LOGIT_COPIES * V) * size,
        )
    return MemoryEstimate(
        params=weights,
        grads=0,
        optimizer=0,
        cache=sum(c.state_bytes for c in costs) * batch,
        activations=tokens * (max(per_block) + V) * size,
    )


__all__ = ["MemoryEstimate", "Workload", "estimate_memory"]

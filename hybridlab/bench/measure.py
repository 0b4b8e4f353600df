"""Prefill, decode and training throughput of one model at one context, under a `Protocol`.

Legend: B batch, T context (the prompt's length, the training length), V vocab_size.

- **prefill**: the prompt (B, T) through the cached forward into a freshly allocated cache
  (allocation untimed); tokens/s = B·T / seconds.
- **decode**: greedy cached steps (`HybridLM.decode`, argmax included) after a prompt of T
  tokens; each timed run is `decode_steps` steps, continuing the same cache, so the context
  grows from T to T + (warmup + decode_repeats)·decode_steps during the measurement; tokens/s =
  B·decode_steps / seconds.
- **train**: forward, cross-entropy over every position, backward, AdamW step (the trainer's
  optimizer, `hybridlab.train.optim`) on random ids (B, T); tokens/s = B·T / seconds.
- **state bytes**: analytic (`hybridlab.cost.state_bytes`) for the B sequences at T, beside the
  measured peaks.

Inference runs in `dtype` (the weights cast to it); training keeps fp32 weights and runs under
autocast to `dtype` when that is bf16 or fp16, as the trainer's `precision: bf16` does. The speed
of a model does not depend on its weights, so a freshly initialised model stands for a trained
one of the same spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from hybridlab.bench.limits import check_measurable, decode_length
from hybridlab.bench.protocol import (
    Protocol,
    Timing,
    fixed_threads,
    peak_bytes,
    tensor_bytes,
    time_runs,
)
from hybridlab.cost import state_bytes
from hybridlab.model import HybridLM, build_model
from hybridlab.spec import ModelSpec
from hybridlab.train import TrainConfig
from hybridlab.train.optim import make_optimizer

PHASES = ("prefill", "decode", "train")
DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


@dataclass
class Measurement:
    """One context's numbers; a phase not measured is absent from the dicts.

    Attributes:
        tokens_per_s: by phase.
        spread: by phase, (max - min) / median of the repeats' times: the noise.
        peak_memory_bytes: by phase (see `hybridlab.bench.protocol`).
        state_bytes: analytic decoding state of the batch at `context`.
    """

    context: int
    batch: int
    dtype: str
    state_bytes: int
    tokens_per_s: dict[str, float] = field(default_factory=dict)
    spread: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def inference_peak_bytes(self) -> int | None:
        """The larger of the prefill and decode peaks (None when neither was measured)."""
        peaks = [
            self.peak_memory_bytes[p] for p in ("prefill", "decode") if p in self.peak_memory_bytes
        ]
        return max(peaks) if peaks else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: `<phase>_tokens_per_s`, `peak_memory_bytes` (inference's peak),
        `state_bytes`, and the per-phase peaks and spreads."""
        out: dict[str, Any] = {"context": self.context, "batch": self.batch, "dtype": self.dtype}
        for phase in PHASES:
            if phase in self.tokens_per_s:
                out[f"{phase}_tokens_per_s"] = self.tokens_per_s[phase]
        out["peak_memory_bytes"] = self.inference_peak_bytes
        out["state_bytes"] = self.state_bytes
        out["peak_memory_bytes_by_phase"] = dict(self.peak_memory_bytes)
        out["spread"] = dict(self.spread)
        return out


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a name such as "fp32" or "bf16" (ValueError listing the valid ones)."""
    try:
        return DTYPES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; valid: {', '.join(DTYPES)}") from None


def measure(
    spec: ModelSpec,
    context: int,
    protocol: Protocol,
    *,
    batch: int = 1,
    dtype: str = "fp32",
    phases: Iterable[str] = PHASES,
    on_phase: Callable[[str], None] | None = None,
) -> Measurement:
    """Measure the phases of `spec`'s model at `context` (see the module docstring).

    Args:
        spec: the model.
        context: prompt and training length T, ≥ 1.
        protocol: warm-up, repeats, threads, device (validated here).
        batch: sequences B, ≥ 1.
        dtype: "fp32", "bf16" or "fp16" (and their long names).
        phases: a subset of ("prefill", "decode", "train").
        on_phase: called with each phase's name once it is measured (a progress bar).

    Raises:
        ValueError: a bad argument, or sizes this machine cannot hold or finish (memory and
            work are estimated before anything is allocated: `hybridlab.bench.limits`).

    Example:
        >>> m = measure(hybridlab.parse("ssd*2", d_model=64), 128, Protocol(repeats=1))
        >>> sorted(m.tokens_per_s)
        ['decode', 'prefill', 'train']
    """
    protocol.validate()
    phases = tuple(phases)
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f"unknown phases {unknown}; valid: {', '.join(PHASES)}")
    for name, value in (("context", context), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    the_dtype = torch_dtype(dtype)
    check_measurable(spec, context, protocol, batch=batch, dtype=the_dtype, phases=phases)
    result = Measurement(
        context=context,
        batch=batch,
        dtype=dtype,
        state_bytes=state_bytes(spec, context, the_dtype) * batch,
    )
    device = torch.device(protocol.device)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, spec.vocab_size, (batch, context), generator=gen).to(device)
    with fixed_threads(protocol.threads):
        if "prefill" in phases or "decode" in phases:
            torch.manual_seed(0)
            model = build_model(spec).to(device=device, dtype=the_dtype).eval()
            _inference(model, ids, protocol, phases, result, on_phase)
            del model
        if "train" in phases:
            _train(spec, ids, protocol, the_dtype, result)
            if on_phase is not None:
                on_phase("train")
    return result


def _record(result: Measurement, phase: str, timing: Timing, tokens: int) -> None:
    result.tokens_per_s[phase] = tokens / timing.seconds
    result.spread[phase] = timing.spread


@torch.no_grad()
def _inference(
    model: HybridLM,
    ids: torch.Tensor,
    protocol: Protocol,
    phases: tuple[str, ...],
    result: Measurement,
    on_phase: Callable[[str], None] | None,
) -> None:
    B, T = ids.shape
    steps = protocol.decode_steps
    max_len = decode_length(T, protocol)
    weights = tensor_bytes([*model.parameters(), *model.buffers()])
    holder: dict[str, Any] = {}

    def fresh_cache() -> None:
        holder.pop("cache", None)
        holder["cache"] = model.allocate_cache(B, max_len)

    def prefill() -> None:
        holder["logits"] = model(ids, holder["cache"])

    if "prefill" in phases:
        _record(
            result, "prefill", time_runs(prefill, protocol, protocol.repeats, fresh_cache), B * T
        )
        if protocol.memory:
            fresh_cache()
            cache_bytes = holder["cache"].nbytes()
            result.peak_memory_bytes["prefill"] = peak_bytes(
                prefill, protocol, weights + cache_bytes
            )
        if on_phase is not None:
            on_phase("prefill")
    if "decode" not in phases:
        return
    if "prefill" not in phases or protocol.memory:
        fresh_cache()
        prefill()
    cache = holder["cache"]
    token = holder.pop("logits")[:, -1].argmax(-1)  # (B,)

    def decode() -> None:
        holder["token"] = model.decode(holder.get("token", token), cache, steps)[:, -1]

    _record(result, "decode", time_runs(decode, protocol, protocol.decode_repeats), B * steps)
    if protocol.memory:
        result.peak_memory_bytes["decode"] = peak_bytes(decode, protocol, weights + cache.nbytes())
    if on_phase is not None:
        on_phase("decode")


def _train(
    spec: ModelSpec, ids: torch.Tensor, protocol: Protocol, dtype: torch.dtype, result: Measurement
) -> None:
    B, T = ids.shape
    device = torch.device(protocol.device)
    torch.manual_seed(0)
    model = build_model(spec).to(device).train()
    optimizer = make_optimizer(model, TrainConfig(lr=1e-4))
    targets = ids.roll(-1, dims=1)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits = model(ids)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    _record(result, "train", time_runs(step, protocol, protocol.repeats), B * T)
    if protocol.memory:
        state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
        live = tensor_bytes([*model.parameters(), *model.buffers(), *state])
        result.peak_memory_bytes["train"] = peak_bytes(step, protocol, live)

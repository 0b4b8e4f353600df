"""What a measurement would allocate and compute, checked before anything is allocated.

A bench at a size the machine cannot hold used to meet the allocator's error half-way (a
128 GB traceback at a context of 10^9), or the operating system's out-of-memory killer, which
may pick another process (a batch of 100,000 reached 23.7 GB); a size it could hold but not
finish (a decode of 10^9 steps, attention over 2 million tokens) ran for days. `check_measurable`
refuses both before `measure` starts, naming the settings and the estimate;
`check_training_memory` does the same for `hybridlab train`'s model and batches.

Memory (`memory_needs`), by phase, from the cost model (`hybridlab.cost.estimate_memory`): the
token ids (int64, B·T) are held throughout; prefill and decode hold the weights in the
measurement's dtype, a cache for every token the decode runs reach, and a prefill's
activations; training holds fp32 weights, their gradients, AdamW's two moments and every
block's activations. The phases run one after the other, so the peak is the larger of the two.
The estimate is compared with the memory available now: `MemAvailable` of /proc/meminfo (or
psutil's, where installed) on CPU, `torch.cuda.mem_get_info` on CUDA.

Work (`work_needs`): forward FLOPs (`hybridlab.cost.flops_per_token`, training 3x) of every run
the protocol makes (warm-up, repeats, the memory run), at most `MAX_FLOPS` for the device, and
at most `MAX_DECODE_STEPS` cached decode steps in all (each is a few milliseconds whatever its
FLOPs: the per-step overhead of launching a layer's ops).

Legend: B batch, T context, V vocab_size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from hybridlab.bench.protocol import Protocol
from hybridlab.cost import flops_per_token, state_bytes
from hybridlab.cost.memory import Workload, estimate_memory
from hybridlab.spec import ModelSpec
from hybridlab.tasks import Task
from hybridlab.train import TrainConfig
from hybridlab.train.config import Device

# Forward-equivalent FLOPs of one run, at most (CPU: about 3 hours at 100 GFLOP/s; CUDA: about
# 30 minutes at 50 TFLOP/s).
MAX_FLOPS = {"cpu": 10**15, "cuda": 10**17}
# Cached decode steps over every decode run of one context, at most (about an hour at 4 ms).
MAX_DECODE_STEPS = 1_000_000
# A training step's FLOPs per forward FLOP: forward, and backward at twice the forward.
TRAIN_FLOPS_PER_FORWARD = 3
IDS_BYTES = 8

# How the arguments are called where the check is reported (the CLI passes its flags).
ARGUMENT_NAMES = {"context": "context", "batch": "batch", "decode_steps": "decode_steps"}


@dataclass(frozen=True)
class MemoryNeeds:
    """Bytes a measurement needs: the token ids, held throughout, and each phase's own."""

    ids: int
    inference: int
    train: int

    @property
    def peak(self) -> int:
        return self.ids + max(self.inference, self.train)


def decode_length(context: int, protocol: Protocol) -> int:
    """Tokens in the decode cache: the prompt, then every decode run (warm-up, the timed runs,
    the memory run) of `protocol.decode_steps` steps."""
    runs = protocol.warmup + protocol.decode_repeats + 1
    return context + protocol.decode_steps * runs


def memory_needs(
    spec: ModelSpec,
    context: int,
    protocol: Protocol,
    *,
    batch: int,
    dtype: torch.dtype,
    phases: Iterable[str],
) -> MemoryNeeds:
    """Bytes `measure` needs at `context` × `batch` (see the module docstring)."""
    phases = set(phases)
    inference = train = 0
    if phases & {"prefill", "decode"}:
        prefill = estimate_memory(
            spec, batch=batch, context=context, workload=Workload.DECODE, dtype=dtype
        )
        length = decode_length(context, protocol) if "decode" in phases else context
        cache = state_bytes(spec, length, dtype) * batch
        inference = prefill.total - prefill.cache + cache
    if "train" in phases:
        # Weights and AdamW state stay fp32; autocast to bf16/fp16 keeps smaller activations.
        train = estimate_memory(
            spec, batch=batch, context=context, workload=Workload.TRAIN, dtype=torch.float32
        ).total
    return MemoryNeeds(ids=IDS_BYTES * batch * context, inference=inference, train=train)


def work_needs(
    spec: ModelSpec, context: int, protocol: Protocol, *, batch: int, phases: Iterable[str]
) -> tuple[int, int]:
    """(forward-equivalent FLOPs, cached decode steps) of `measure` at `context` × `batch`."""
    phases = set(phases)
    runs = protocol.warmup + protocol.repeats + int(protocol.memory)
    prefill = batch * context * flops_per_token(spec, context)
    flops = steps = 0
    if "prefill" in phases:
        flops += runs * prefill
    if "decode" in phases:
        steps = protocol.decode_steps * (protocol.warmup + protocol.decode_repeats + 1)
        length = decode_length(context, protocol)
        # The prompt's prefill, then each step over a cache of up to `length` tokens.
        flops += prefill + steps * batch * flops_per_token(spec, length)
    if "train" in phases:
        flops += runs * TRAIN_FLOPS_PER_FORWARD * prefill
    return flops, steps


def available_memory(device: str) -> int:
    """Bytes that can be allocated now on `device` ("cpu" or "cuda"): CUDA's free memory, or
    the memory the operating system says is available without swapping."""
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Neither (macOS without psutil): the free pages, which leave out reclaimable caches.
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_measurable(
    spec: ModelSpec,
    context: int,
    protocol: Protocol,
    *,
    batch: int,
    dtype: torch.dtype,
    phases: Iterable[str],
    names: Mapping[str, str] = ARGUMENT_NAMES,
) -> None:
    """Raise ValueError, naming the settings (as `names` calls them) and the estimate, when
    `measure` at `context` × `batch` would need more memory than `protocol.device` has
    available, or more work than `MAX_FLOPS` or `MAX_DECODE_STEPS`.

    Example:
        >>> spec = hybridlab.parse("attn*2", d_model=64)
        >>> check_measurable(spec, 256, Protocol(decode_steps=10**9), batch=1,
        ...                  dtype=torch.float32, phases=["decode"])
        Traceback (most recent call last):
        ...
        ValueError: decode_steps 1,000,000,000 makes 13,000,000,000 cached decode steps ...
    """
    phases = tuple(phases)
    flops, steps = work_needs(spec, context, protocol, batch=batch, phases=phases)
    if steps > MAX_DECODE_STEPS:
        runs = protocol.warmup + protocol.decode_repeats + 1
        raise ValueError(
            f"{names['decode_steps']} {protocol.decode_steps:,} makes {steps:,} cached decode "
            f"steps ({runs} runs: warm-up, timed, memory), more than the {MAX_DECODE_STEPS:,} "
            f"a bench allows (about an hour at a few ms per step); lower it"
        )
    sizes = f"{names['context']} {context:,} with {names['batch']} {batch:,}"
    if "decode" in phases:
        sizes += f" and {names['decode_steps']} {protocol.decode_steps:,}"
    needs = memory_needs(spec, context, protocol, batch=batch, dtype=dtype, phases=phases)
    # On CUDA the ids are drawn on the host, then everything is held on the device.
    holds = {protocol.device: needs.peak} | (
        {"cpu": needs.ids} if protocol.device == "cuda" else {}
    )
    for device, needed in holds.items():
        available = available_memory(device)
        if needed > available:
            parts = [f"token ids {_gib(needs.ids)}"]
            if needs.inference:
                parts.append(f"prefill and decode {_gib(needs.inference)}")
            if needs.train:
                parts.append(f"training {_gib(needs.train)}")
            raise ValueError(
                f"{sizes} would need about {_gib(needed)} on {device} ({', '.join(parts)}), "
                f"more than the {_gib(available)} available there now; lower "
                f"{names['context']} or {names['batch']}"
            )
    limit = MAX_FLOPS[protocol.device]
    if flops > limit:
        raise ValueError(
            f"{sizes} would compute about {flops:.1e} FLOPs over the protocol's runs, more than "
            f"the {limit:.0e} a bench allows on {protocol.device} (hours); lower "
            f"{names['context']} or {names['batch']}"
        )


def check_training_memory(spec: ModelSpec, task: Task, config: TrainConfig) -> None:
    """Raise ValueError, naming `train.batch_size` and the estimate, when a training step of
    `spec` on `task` under `config` (fp32 weights, gradients, AdamW state, every block's
    activations for `batch_size` examples of `task.seq_len` tokens) would need more memory than
    its device has available. (Evaluation batches are at most the evaluation set, which the
    task holds already.)

    Example:
        >>> from hybridlab.tasks import make_task
        >>> check_training_memory(hybridlab.parse("mlp", d_model=16), make_task("mqar"),
        ...                       TrainConfig(batch_size=10**9))
        Traceback (most recent call last):
        ...
        ValueError: train.batch_size 1,000,000,000 at the task's length 64 would need about ...
    """
    auto_cuda = config.device == Device.AUTO and torch.cuda.is_available()
    device = "cuda" if config.device == Device.CUDA or auto_cuda else "cpu"
    B, T = config.batch_size, task.seq_len
    needed = estimate_memory(spec, batch=B, context=T, workload=Workload.TRAIN, dtype=torch.float32)
    total = needed.total + IDS_BYTES * B * T
    available = available_memory(device)
    if total > available:
        raise ValueError(
            f"train.batch_size {B:,} at the task's length {T:,} would need about {_gib(total)} "
            f"on {device} (weights, gradients and AdamW state "
            f"{_gib(needed.params + needed.grads + needed.optimizer)}, activations "
            f"{_gib(needed.activations)}), more than the {_gib(available)} available there now; "
            f"lower train.batch_size"
        )


def _gib(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:,.1f} GiB"


__all__ = [
    "MAX_DECODE_STEPS",
    "MAX_FLOPS",
    "MemoryNeeds",
    "available_memory",
    "check_measurable",
    "check_training_memory",
    "decode_length",
    "memory_needs",
    "work_needs",
]

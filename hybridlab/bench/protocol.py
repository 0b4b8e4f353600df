"""The measuring protocol shared by `hybridlab bench` and the study's speed objectives.

One protocol, so that a number in a study and a number in the bench table mean the same thing:

- **Threads fixed and printed.** `torch.set_num_threads(threads)` for the whole measurement (and
  restored after); one thread by default, the steady choice on a shared machine: with more
  threads than idle cores every op waits for its slowest thread, and timings swing by 2-10×
  (benchmarks/README.md).
- **Warm-up, then the median of repeats.** Each phase runs `warmup` times untimed (allocator,
  oneDNN primitive caches, lazy kernel imports), then `repeats` timed runs; the median is the
  result and `(max - min) / median` over the repeats is reported beside it as the noise.
- **The same device for every model.** The caller picks it once (`Protocol.device`).
- **Peak memory** (`peak_bytes`): on CUDA `torch.cuda.max_memory_allocated` over the phase
  (everything allocated on the device: weights, cache, activations); on CPU the bytes the phase
  starts with (weights, cache, optimizer state: given by the caller) plus the highest level
  PyTorch's CPU allocator reaches above its level at the phase's start, read from
  `torch.profiler`'s memory events in one extra, untimed run. Neither counts the Python process
  itself (interpreter, libraries, allocator slack), which RSS would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

CUDA_PEAK = "cuda_max_allocated"
CPU_PEAK = "cpu_live_plus_allocator_peak"


@dataclass(kw_only=True)
class Protocol:
    """How every phase is measured (see the module docstring).

    Args:
        warmup: untimed runs of each phase before the timed ones, ≥ 0 (decode: runs of
            `decode_steps` steps).
        repeats: timed runs of prefill and training, ≥ 1; the median is reported.
        decode_repeats: timed decode runs, ≥ 1: a run is a few milliseconds, so more of them
            cost little and steady the median against a busy machine's bursts.
        decode_steps: cached decode steps in one decode run, ≥ 1.
        threads: torch CPU threads during the measurement, ≥ 1.
        device: "cpu" or "cuda".
        memory: also measure peak memory (one more, untimed run of each phase).
    """

    warmup: int = 1
    repeats: int = 3
    decode_repeats: int = 11
    decode_steps: int = 8
    threads: int = 1
    device: str = "cpu"
    memory: bool = True

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        names = ("warmup", "repeats", "decode_repeats", "decode_steps", "threads")
        for name, low in zip(names, (0, 1, 1, 1, 1), strict=True):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device cuda, but CUDA is not available; use cpu")
        cpus = os.cpu_count() or 1
        if self.threads > cpus:
            raise ValueError(
                f"threads={self.threads} but this machine has {cpus} CPUs (more threads than "
                f"cores run several times slower); use at most {cpus}"
            )

    @property
    def peak_kind(self) -> str:
        return CUDA_PEAK if self.device == "cuda" else CPU_PEAK

    def as_dict(self) -> dict[str, Any]:
        """The settings (the constructor's arguments) as plain data."""
        return dataclasses.asdict(self)

    def describe(self) -> dict[str, Any]:
        """The settings and what the peak memory measures, for a report."""
        return {**self.as_dict(), "peak_memory_kind": self.peak_kind if self.memory else None}


@dataclass(frozen=True)
class Timing:
    """Seconds per run: the median over the repeats and the spread (max - min) / median."""

    seconds: float
    spread: float


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` torch CPU threads; restore the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_runs(
    run: Callable[[], object],
    protocol: Protocol,
    repeats: int,
    before: Callable[[], object] | None = None,
) -> Timing:
    """Warm `run` up (`protocol.warmup` calls), then time `repeats` calls of it; `before()`
    (untimed) precedes every call, e.g. to allocate a fresh cache."""
    for _ in range(protocol.warmup):
        if before is not None:
            before()
        run()
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        _sync(protocol.device)
        tick = time.perf_counter()
        run()
        _sync(protocol.device)
        times.append(time.perf_counter() - tick)
    median = statistics.median(times)
    return Timing(median, (max(times) - min(times)) / median if median > 0 else 0.0)


def peak_bytes(run: Callable[[], object], protocol: Protocol, live_bytes: int) -> int:
    """Peak memory of one call of `run` (see the module docstring); `live_bytes`: what the
    phase starts with (CPU only; CUDA's allocator counts it itself)."""
    if protocol.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated())
    return live_bytes + _cpu_allocator_peak(run)


def _cpu_allocator_peak(run: Callable[[], object]) -> int:
    """The highest "Total Allocated" of PyTorch's CPU allocator during `run`, above its level
    at the start (torch.profiler with profile_memory=True, read from the Chrome trace)."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    memory = [e["args"] for e in events if e.get("name") == "[memory]"]
    if not memory:
        return 0
    start = memory[0]["Total Allocated"] - memory[0]["Bytes"]
    return max(0, int(max(m["Total Allocated"] for m in memory) - start))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for the block: the profiler's C++ side prints start/stop lines
    and a warning about blocks allocated before it started, on every call."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tensor_bytes(tensors: Iterator[torch.Tensor] | list[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind `tensors` (tied weights counted once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())

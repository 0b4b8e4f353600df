"""Helpers shared by every Triton kernel of `hybridlab.kernels`. Imports Triton: load it lazily.

Nothing in `hybridlab.kernels` imports this module at import time; the backend tables in
`_dispatch.py` name the Triton entry points as "module:function" strings, so Triton is imported
the first time a caller asks for `backend="triton"` (or "auto" on a CUDA tensor).

What lives here:
    - `INTERPRET`: whether Triton runs under its CPU interpreter (`TRITON_INTERPRET=1`, read when
      this module is first imported, which is also when Triton reads it for `@triton.jit`).
    - `autotune(configs, key)`: `triton.autotune`, except that under the interpreter (or with
      HYBRIDLAB_TRITON_AUTOTUNE=0, which parity-only GPU runs use to save compile time) only the
      last config is kept. With several configs the interpreter fails ("0 active drivers") and it
      would not measure anything meaningful anyway; the last config of each list is the one with
      the largest blocks, i.e. the fewest (sequentially interpreted) programs.
    - `contiguous(*tensors)`: the one place where launchers make their read-only arguments
      contiguous, the layout every kernel indexes them in.
    - `new_empty(...)`: `torch.empty`, filled with NaN when `HYBRIDLAB_TRITON_NAN_FILL=1`, so that
      a kernel that leaves part of an output unwritten fails the parity tests (FLA's rule).
    - `device_guard(t)`: the CUDA device context a launch needs on multi-GPU machines, and nothing
      for CPU tensors (the interpreter), where `torch.cuda.device` would fail.
    - `dot_precision(dtype)`: the `input_precision` of every `tl.dot`: exact fp32 products
      ("ieee") for fp32 callers (TF32 would cost ~1e-3 relative error), the default otherwise
      (bf16/fp16 operands run on tensor cores whatever the setting).
    - `softplus(x)`: the one `@triton.jit` softplus of every kernel that applies Δ = softplus(·).

Keep `@triton.jit` helper calls out of hot loops: under the interpreter each such call re-patches
`triton.language` (~0.25 ms per call), which can dominate the CPU tests. `softplus` does run in
the selective-scan chunk loops, but only once or twice per chunk and program: the CPU kernel
tests took the same time (within run-to-run noise) as with the expression written inline.
"""

from __future__ import annotations

import contextlib
import os

import torch
import triton
import triton.language as tl

INTERPRET = os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")

# Set by the interpreter tests (tests/kernels/triton/conftest.py).
NAN_FILL_ENV = "HYBRIDLAB_TRITON_NAN_FILL"
# "0" turns autotuning off (the last config of each list): quicker compiles for parity checks.
AUTOTUNE_ENV = "HYBRIDLAB_TRITON_AUTOTUNE"


def autotune(configs: list[triton.Config], key: list[str], **kwargs):
    """`triton.autotune` over `configs`, or over the last one alone under the interpreter.

    The full list stays reachable as `kernel.all_configs` (benchmarks/triton_compile_check.py
    compiles every config for a GPU target without a GPU).
    """
    single = INTERPRET or os.environ.get(AUTOTUNE_ENV, "1") == "0"
    decorate = triton.autotune(configs=configs[-1:] if single else configs, key=key, **kwargs)

    def wrap(fn):
        kernel = decorate(fn)
        kernel.all_configs = list(configs)
        return kernel

    return wrap


def contiguous(*tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """Each tensor contiguous (None stays None; a contiguous tensor is returned as is).

    Every Triton launcher passes what it only reads through this, once, at its entry: the
    kernels index such arguments as contiguous (a 1-D bias at `ptr + offs`, a state at
    `ptr + ((b·h + i)·p + j)·n + k`), and a strided view (`D[::2]`, a transposed state) was
    read at the wrong addresses, silently. Arguments updated in place (decode states) are not
    copied: their kernels take their strides.
    """
    return tuple(t.contiguous() if t is not None else None for t in tensors)


def new_empty(*shape: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`torch.empty(shape)`, NaN-filled in test mode so that unwritten memory is caught."""
    out = torch.empty(shape, dtype=dtype, device=device)
    if os.environ.get(NAN_FILL_ENV) == "1" and out.is_floating_point():
        out.fill_(float("nan"))
    return out


def device_guard(t: torch.Tensor):
    """Context manager making `t`'s CUDA device current for a launch; no-op for CPU tensors."""
    if t.device.type == "cuda":
        return torch.cuda.device(t.device)
    return contextlib.nullcontext()


def next_pow2(n: int, minimum: int = 16) -> int:
    """Smallest power of two ≥ max(n, minimum): block sizes must be powers of two, and every
    dimension of a `tl.dot` operand at least 16."""
    return max(minimum, triton.next_power_of_2(max(int(n), 1)))


def dot_precision(dtype: torch.dtype) -> str:
    """`input_precision` for `tl.dot`: "ieee" for fp32 operands, "tf32" (the default) otherwise."""
    return "ieee" if dtype == torch.float32 else "tf32"


def check_cuda_or_interpreter(t: torch.Tensor, name: str) -> None:
    """Triton kernels run on CUDA tensors, or on CPU tensors under the interpreter only."""
    if t.device.type == "cuda" or (INTERPRET and t.device.type == "cpu"):
        return
    raise ValueError(
        f"backend='triton' needs CUDA tensors (got {name} on {t.device}); on CPU use "
        "backend='torch' or 'auto', or set TRITON_INTERPRET=1 before importing triton to run "
        "the kernels in Triton's (slow) interpreter"
    )


@triton.jit
def softplus(x):
    """log(1 + exp(x)), and x itself above 20, where the two agree in fp32 (as mamba_ssm).

    The `tl.minimum` keeps `exp` finite in the branch that `tl.where` discards.
    """
    return tl.where(x <= 20.0, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))), x)

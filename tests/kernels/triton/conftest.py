"""Run the Triton kernels on CPU tensors through Triton's interpreter when there is no GPU.

`TRITON_INTERPRET` must be set before `@triton.jit` runs, i.e. before any kernel module is
imported; the kernel modules are imported lazily (inside the tests), and this file is imported
at collection, so setting it here is early enough. With a CUDA device the interpreter stays off
and the same tests run the compiled kernels on CUDA tensors (see `device` below).

Two test aids:
    - HYBRIDLAB_TRITON_NAN_FILL=1 makes the kernels' output buffers start as NaN, so a kernel
      that leaves memory unwritten fails (`hybridlab.kernels._triton_utils.new_empty`).
    - CPU only: the interpreter evaluates `tl.associative_scan` one element at a time in Python
      (~0.1 ms per element), which made the selective-scan tests take minutes.
      `_fast_interpreter_scan` swaps in an evaluation of the same combine function in the same
      order, one step along the scan axis at a time over whole slices: identical results, about
      100x faster.
"""

from __future__ import annotations

import os

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
os.environ.setdefault("HYBRIDLAB_TRITON_NAN_FILL", "1")
if not HAS_CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")


def _fast_generic_scan(self, input):
    """ScanOps.generic_scan of triton.runtime.interpreter, vectorised over the non-scan axes."""
    import numpy as np

    data = [arg.handle.data for arg in input]
    dtypes = [arg.dtype for arg in input]
    axis = self.axis
    outputs = [np.empty_like(d) for d in data]
    acc = None
    for i in range(data[0].shape[axis]):
        current = [np.take(d, i, axis=axis) for d in data]
        if acc is None:
            acc = current
        else:
            args = [
                self.to_tensor(a, t) for a, t in zip(acc + current, dtypes + dtypes, strict=True)
            ]
            ret = self.combine_fn.fn(*args)
            ret = ret if isinstance(ret, tuple) else (ret,)
            acc = [np.reshape(r.handle.data, current[0].shape) for r in ret]
        for out, a in zip(outputs, acc, strict=True):
            index = [slice(None)] * out.ndim
            index[axis] = i
            out[tuple(index)] = a
    return [self.to_tensor(out, t) for out, t in zip(outputs, dtypes, strict=True)]


@pytest.fixture(autouse=True, scope="session")
def _fast_interpreter_scan():
    if HAS_CUDA:
        yield
        return
    from triton.runtime import interpreter

    scan_ops = getattr(interpreter, "ScanOps", None)
    if scan_ops is None or not hasattr(scan_ops, "generic_scan"):
        yield
        return
    original = scan_ops.generic_scan
    scan_ops.generic_scan = _fast_generic_scan
    yield
    scan_ops.generic_scan = original


@pytest.fixture
def device() -> torch.device:
    """CUDA when available (compiled kernels), else CPU (interpreted kernels)."""
    return torch.device("cuda" if HAS_CUDA else "cpu")

"""Backend resolution shared by every public kernel entry.

Each op (``"ssd"``, ``"selective_scan"``, ...) has a table of backends, each named by a lazy
``"module:function"`` path so that importing ``hybridlab.kernels`` never imports an optional
dependency (Triton) before it is used. ``backend="auto"`` picks, by the device type of the first
tensor argument, the first backend in ``AUTO_ORDER`` that the op has.

Every op has "torch", "naive" and "triton" backends (the Triton kernels, registered below).
``AUTO_ORDER["cuda"]`` tries "triton" before "torch"; on CPU "auto" means "torch", and
``backend="triton"`` needs CUDA tensors or Triton's interpreter (``TRITON_INTERPRET=1``).

Adding another backend is one table entry, no other code changes::

    BACKENDS["ssd"]["mine"] = "mypackage.ssd:ssd_mine"

or, from outside this file, ``register_backend("ssd", "mine", ssd_mine)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

# op name -> backend name -> implementation, or "module:function" to import on first use.
BACKENDS: dict[str, dict[str, str | Callable[..., Any]]] = {
    "ssd": {
        "torch": "hybridlab.kernels.ssd.chunk:ssd_chunk",
        "naive": "hybridlab.kernels.ssd.naive:ssd_naive",
        "triton": "hybridlab.kernels.ssd.triton.api:ssd_triton",
    },
    "selective_scan": {
        "torch": "hybridlab.kernels.selective_scan.recurrent:selective_scan_recurrent",
        "naive": "hybridlab.kernels.selective_scan.naive:selective_scan_naive",
        "triton": "hybridlab.kernels.selective_scan.triton.api:selective_scan_triton",
    },
    # Decode steps: "torch" is the in-place path with about half the reference's ops.
    "selective_state_update": {
        "torch": "hybridlab.kernels.selective_scan.step:selective_state_update_torch",
        "naive": "hybridlab.kernels.selective_scan.naive:selective_state_update_naive",
        "triton": "hybridlab.kernels.selective_scan.triton.step:selective_state_update_triton",
    },
    "causal_conv1d": {
        "torch": "hybridlab.kernels.conv1d.taps:causal_conv1d_torch",
        "naive": "hybridlab.kernels.conv1d.naive:causal_conv1d_naive",
        "triton": "hybridlab.kernels.conv1d.triton.conv:causal_conv1d_triton",
    },
    "causal_conv1d_update": {
        "torch": "hybridlab.kernels.conv1d.step:causal_conv1d_update_torch",
        "naive": "hybridlab.kernels.conv1d.naive:causal_conv1d_update_naive",
        "triton": "hybridlab.kernels.conv1d.triton.step:causal_conv1d_update_triton",
    },
    "gated_delta_rule": {
        "torch": "hybridlab.kernels.gated_delta.chunk:gated_delta_rule_chunk",
        "naive": "hybridlab.kernels.gated_delta.naive:gated_delta_rule_naive",
        "triton": "hybridlab.kernels.gated_delta.triton.api:gated_delta_rule_triton",
    },
    # One decode step of the gated delta rule: a single PyTorch implementation serves both.
    "gated_delta_step": {
        "torch": "hybridlab.kernels.gated_delta.naive:gated_delta_step_torch",
        "naive": "hybridlab.kernels.gated_delta.naive:gated_delta_step_torch",
        "triton": "hybridlab.kernels.gated_delta.triton.api:gated_delta_step_triton",
    },
}

# device type -> backends tried in order by backend="auto"; the first one the op has wins.
AUTO_ORDER: dict[str, tuple[str, ...]] = {
    "cuda": ("triton", "torch"),
    "cpu": ("torch",),
}
_AUTO_FALLBACK: tuple[str, ...] = ("torch",)


def valid_backends(op: str) -> list[str]:
    """The names `backend=` accepts for `op`: "auto" and every registered backend."""
    return ["auto", *sorted(BACKENDS[op])]


def register_backend(op: str, name: str, fn: str | Callable[..., Any]) -> None:
    """Register `fn` (a callable or a lazy "module:function" path) as backend `name` of `op`."""
    if op not in BACKENDS:
        raise ValueError(f"unknown kernel op {op!r}; valid ops: {sorted(BACKENDS)}")
    BACKENDS[op][name] = fn if isinstance(fn, str) else _opaque(fn)


def _opaque(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Kernels are opaque to torch.compile, as compiled extensions are: dynamo calls them rather
    than tracing their Python (chunk loops, autograd.Functions, Triton launches). Tracing them
    took minutes of inductor codegen per kernel on CPU and gained nothing; the layers around
    them still compile and fuse.
    """
    return torch.compiler.disable(fn)


def resolve(op: str, backend: str, device: torch.device) -> Callable[..., Any]:
    """Return the implementation of `op` for `backend` ("auto" resolved by `device`).

    Raises ValueError naming the valid backends when `backend` is unknown for `op`.
    """
    table = BACKENDS[op]
    if backend == "auto":
        order = AUTO_ORDER.get(device.type, _AUTO_FALLBACK)
        backend = next((name for name in order if name in table), "torch")
    if backend not in table:
        raise ValueError(f"{op}: unknown backend {backend!r}; valid backends: {valid_backends(op)}")
    impl = table[backend]
    if isinstance(impl, str):
        module_name, _, attr = impl.partition(":")
        impl = _opaque(getattr(importlib.import_module(module_name), attr))
        table[backend] = impl
    return impl


def resolved_name(op: str, backend: str, device: torch.device) -> str:
    """The backend name that `resolve(op, backend, device)` would use (for tests and logs)."""
    if backend != "auto":
        return backend
    order = AUTO_ORDER.get(device.type, _AUTO_FALLBACK)
    return next((name for name in order if name in BACKENDS[op]), "torch")

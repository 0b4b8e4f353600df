"""Checks of what `HybridLM`'s public methods are given: token ids, counts, the decode budget,
and the dtype and device of a decoding cache.

A wrong argument is refused where it enters, with a message that names it, says what it must
be and what it was, never as an IndexError from inside `nn.Embedding`: TypeError
for the wrong kind of value, ValueError for a value out of range.

Shapes: B batch, T tokens.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

# `generate`'s default limit on its decode cache: what a laptop or a small GPU can spare.
DEFAULT_MAX_CACHE_BYTES = 4 * 2**30

ID_DTYPES = (torch.int64, torch.int32)
# The dtypes a decoding cache may hold: those the kernels compute with (an integer or bool cache
# would truncate keys, values and states; the kernels refuse float64).
CACHE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def check_ids(
    ids: Any, *, vocab_size: int, device: torch.device, name: str = "ids", ndim: int = 2
) -> None:
    """Refuse `ids` unless it is an int64/int32 tensor of `ndim` non-empty dims on `device` with
    every id in [0, vocab_size).

    `ndim` 2 is (B, T), as `forward` and `generate` take; 1 is (B,), as `step` takes. The range
    check reads the minimum and maximum (one pass over the ids); it is skipped while
    `torch.compile` traces, where it would break the graph.
    """
    shape_text = "(batch, length)" if ndim == 2 else "(batch,)"
    if not isinstance(ids, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of token ids with shape {shape_text}, got "
            f"{type(ids).__name__}; e.g. torch.tensor([[1, 2, 3]])"
        )
    if ids.dtype not in ID_DTYPES:
        raise TypeError(
            f"{name} must hold integer token ids (torch.int64 or torch.int32), got {ids.dtype}; "
            f"convert with {name}.long() if the values are whole ids"
        )
    if ids.ndim != ndim:
        hint = ""
        if ndim == 2 and ids.ndim == 1:
            hint = f"; for one sequence pass {name}[None] (shape (1, {ids.shape[0]}))"
        raise ValueError(f"{name} must have shape {shape_text}, got shape {tuple(ids.shape)}{hint}")
    if ids.numel() == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(ids.shape)}); give at least one sequence of at least "
            f"one token"
        )
    if ids.device != device:
        raise ValueError(
            f"{name} is on {ids.device} but the model is on {device}; move it with "
            f"{name}.to('{device}')"
        )
    if torch.compiler.is_compiling():
        return
    low, high = (int(v) for v in torch.aminmax(ids))
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        at = tuple(int(i) for i in (ids == bad).nonzero()[0])
        raise ValueError(
            f"{name} must lie in [0, vocab_size) = [0, {vocab_size}), got {bad} at "
            f"{name}[{', '.join(map(str, at))}]"
        )


def check_count(name: str, value: Any, *, minimum: int) -> None:
    """Refuse `value` unless it is an int (not a bool, float or string) ≥ `minimum`."""
    # bool is an int subclass, but `max_new_tokens=True` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a whole number (an int) >= {minimum}, got {value!r} "
            f"({type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_cache_dtype(dtype: Any) -> None:
    """Refuse a cache `dtype` unless it is None (the weights' dtype) or one of `CACHE_DTYPES`."""
    names = ", ".join(str(d) for d in CACHE_DTYPES)
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise TypeError(
            f"dtype must be a torch.dtype ({names}) or None for the weights' dtype, got "
            f"{dtype!r} ({type(dtype).__name__})"
        )
    if dtype is not None and dtype not in CACHE_DTYPES:
        raise ValueError(
            f"dtype must be a floating dtype the kernels compute with ({names}), got {dtype}: a "
            f"cache in it would not hold the keys, values and states"
        )


def check_cache_device(device: Any, model_device: torch.device) -> None:
    """Refuse a cache `device` unless it is None or the model's device (a cache elsewhere could
    only fail inside the first layer that reads it)."""
    if device is None:
        return
    try:
        wanted = torch.device(device)
    except (TypeError, RuntimeError, ValueError):
        raise TypeError(
            f"device must be a torch.device, a device name such as 'cpu', or None for the "
            f"model's device, got {device!r} ({type(device).__name__})"
        ) from None
    same_index = wanted.index is None or wanted.index == model_device.index
    if wanted.type != model_device.type or not same_index:
        raise ValueError(
            f"device={device!r}: the cache must be on the model's device, {model_device} (leave "
            f"device=None), or move the model there first with model.to({str(wanted)!r})"
        )


def check_cache_budget(needed: int, limit: int | None, *, what: str) -> None:
    """Refuse a decode cache of `needed` bytes over `limit` (`max_cache_bytes`; None: none)."""
    if limit is not None:
        check_count("max_cache_bytes", limit, minimum=1)
    if limit is None or needed <= limit:
        return
    raise ValueError(
        f"generate would allocate a {_size(needed)} decode cache ({needed:,} bytes: {what}), "
        f"over max_cache_bytes={limit:,} ({_size(limit)}); pass max_cache_bytes={needed} or "
        f"more (None for no limit), or lower max_new_tokens or the batch"
    )


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:.2f} GiB" if num_bytes >= 2**30 else f"{num_bytes / 2**20:.1f} MiB"

"""The argument checks of every public kernel entry: refuse what no backend computes correctly.

Each public function (`ssd`, `selective_scan`, `selective_state_update`, `causal_conv1d`,
`causal_conv1d_update`, `gated_delta_rule`, `gated_delta_step`) calls these once, before
dispatch, so every backend ("torch", "naive", "triton", a registered one) sees only arguments it
can compute. They read shapes, dtypes and
devices, never values: no reduction, no device synchronisation. What is refused, and why:

    tensor-ness   None or a non-tensor where a tensor goes (TypeError).
    dtypes        float32, bfloat16 and float16 only, mixed freely (A in fp32 with bf16 x is
                  what the layers pass). Every backend computes in fp32: float64 would be
                  rounded to fp32 and handed back as float64, looking more exact than it is, and
                  the Triton kernels have no fp64 path, so float64 is refused everywhere rather
                  than computed differently per backend. Integer, bool and complex tensors were
                  cast and truncated on the way back (an int state lost its fraction; complex its
                  imaginary part): refused (TypeError).
    devices       all tensors on one device; meta tensors hold no data, and torch's conv
                  returned uninitialised memory for one (ValueError).
    in place      a decode state whose elements share memory (expand()ed: the Triton steps
                  raced on it) or a leaf that requires grad (updated behind autograd's back)
                  (ValueError, `check_updatable`).
    zero sizes    a dimension of size 0 (ngroups = 0, d_state = 0, a width-0 conv filter, an
                  empty batch) divided by zero or failed inside torch (ValueError).
    scalars       ints that are ints (not bool, not 2.5), bools that are bools, reals that are
                  reals (not bool, not a tensor), a str backend (TypeError); a chunk size
                  below 1, a non-finite real (ValueError).
Messages name the function, the argument, what is accepted and what was received:

    ssd: B must be a float32/bfloat16/float16 tensor, got torch.int64

Shapes are each op's own business (its `_check`); `check_shapes` is the shared loop. Values are
not refused: every backend is exact for any sign of Δ and A and keeps a NaN or inf from reaching
earlier outputs (ssd/chunk.py and ssd/triton/chunk_scan.py had to learn both).
"""

from __future__ import annotations

import math
import numbers

import torch

FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_DTYPE_NAMES = "float32/bfloat16/float16"


def _received(value: object) -> str:
    """A short description of a wrong argument: its repr (cut) and its type."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = type(value)
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"{text} ({module}{kind.__qualname__})"


def check_tensors(
    fn: str,
    required: dict[str, object],
    optional: dict[str, object] | None = None,
) -> torch.device:
    """Check the tensor arguments of `fn`; returns the one device they share.

    Args:
        fn: the public function's name, for messages.
        required: argument name -> value; each must be a tensor.
        optional: argument name -> value; each must be a tensor or None.

    Every tensor must have a dtype in `FLOAT_DTYPES`, no zero-size dimension, and the same
    device as the others, which must not be "meta". Raises TypeError (not a tensor, dtype) or
    ValueError (size, device) naming `fn` and the argument.
    """
    optional = optional or {}
    device, first = None, ""
    for name, t in [*required.items(), *optional.items()]:
        if t is None and name in optional:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{fn}: {name} must be a tensor, got {_received(t)}")
        if t.dtype not in FLOAT_DTYPES:
            hint = ""
            if t.dtype == torch.float64:
                hint = " (float64 is refused: every backend computes in float32; use .float())"
            raise TypeError(f"{fn}: {name} must be a {_DTYPE_NAMES} tensor, got {t.dtype}{hint}")
        if 0 in t.shape:
            raise ValueError(
                f"{fn}: {name} must have no zero-size dimension, got shape {tuple(t.shape)}"
            )
        if t.is_meta:
            raise ValueError(f"{fn}: {name} is a meta tensor (a shape without data)")
        if device is None:
            device, first = t.device, name
        elif t.device != device:
            raise ValueError(
                f"{fn}: every tensor must be on one device; {first} is on {device}, "
                f"{name} is on {t.device}"
            )
    assert device is not None, "check_tensors needs at least one required tensor"
    return device


def check_updatable(fn: str, name: str, t: torch.Tensor) -> None:
    """`t`, a state the call updates in place, can be: no two of its elements share memory,
    and it is not a leaf that requires grad (with grad mode on).

    An expand()ed state (stride 0) made the Triton steps race, each program writing its own
    update to the one shared element, and the PyTorch steps fail inside torch; a leaf that
    requires grad was updated in place by Triton behind autograd's back, and refused by
    PyTorch with a message naming no argument. Memory is known not to be shared when, with
    the dimensions ordered by stride, each stride is at least the extent of the ones below
    it (what any view made by slicing, permuting or `unflatten` satisfies); a state that
    fails this is refused rather than guessed at.
    """
    extent = 1
    dims = sorted((s, n) for n, s in zip(t.shape, t.stride(), strict=True) if n > 1)
    for stride, size in dims:
        if stride < extent:
            raise ValueError(
                f"{fn}: {name} is updated in place, so its elements must not share memory; "
                f"got strides {tuple(t.stride())} for shape {tuple(t.shape)} (an expand()ed "
                f"or overlapping view): pass {name}.contiguous() or a tensor of its own"
            )
        extent = stride * size
    if t.requires_grad and t.is_leaf and torch.is_grad_enabled():
        raise ValueError(
            f"{fn}: {name} is a leaf tensor that requires grad, and the update is in place "
            f"(not differentiable): pass {name}.detach(), or call under torch.no_grad()"
        )


def check_shapes(fn: str, expected: dict[str, tuple[torch.Tensor | None, tuple[int, ...]]]) -> None:
    """Each given tensor has exactly its expected shape: name -> (tensor or None, shape)."""
    for name, (t, shape) in expected.items():
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{fn}: {name} must have shape {shape}, got {tuple(t.shape)}")


def check_int(fn: str, name: str, value: object, minimum: int = 1) -> None:
    """`value` is an int (a NumPy int too; a bool is not), at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be an int, got {_received(value)}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be an int >= {minimum}, got {value}")


def check_real(fn: str, name: str, value: object) -> None:
    """`value` is a finite real number (an int or a float; a bool, a tensor or a str is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a float, got {_received(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{fn}: {name} must be finite, got {value}")


def check_bool(fn: str, name: str, value: object) -> None:
    """`value` is True or False (not 1, not "yes", not None)."""
    if not isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be a bool, got {_received(value)}")


def check_backend(fn: str, backend: object) -> None:
    """`backend` is a str; whether it names a backend is `_dispatch.resolve`'s check."""
    if not isinstance(backend, str):
        raise TypeError(f"{fn}: backend must be a str, got {_received(backend)}")

"""`itemsize`: bytes per element of a dtype as a user writes it, without importing torch or numpy.

Accepted: a `torch.dtype` (recognised by its type's module and name, compared by `str`), a numpy
dtype (`np.dtype("float16")`) or scalar type (`np.float16`), a name (`"bfloat16"`, `"fp16"`,
`"torch.float32"`, any case), or the bytes per element as an int (1, 2, 4 or 8). A torch or
numpy dtype whose name is not in `ITEMSIZE` (`torch.int8`) gives its own `itemsize`.
"""

from __future__ import annotations

from typing import Any

# Names of the floating dtypes a decoding cache is kept in (torch's and numpy's spellings).
ITEMSIZE = {
    "float64": 8,
    "fp64": 8,
    "double": 8,
    "float32": 4,
    "fp32": 4,
    "float": 4,
    "single": 4,
    "bfloat16": 2,
    "bf16": 2,
    "float16": 2,
    "fp16": 2,
    "half": 2,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "fp8": 1,
}
BYTES_PER_ELEMENT = (1, 2, 4, 8)
ACCEPTED = (
    "a torch.dtype, a numpy dtype or scalar type, a name such as 'bfloat16' or 'fp16', "
    f"or bytes per element as an int ({', '.join(map(str, BYTES_PER_ELEMENT))})"
)


def itemsize(dtype: Any) -> int:
    """Bytes per element of `dtype` (the accepted forms are this module's docstring).

    Raises:
        TypeError: `dtype` is none of the accepted forms (a float, a bool, a list...).
        ValueError: an accepted form naming an unknown dtype or size (`"int3"`, `3`).

    Example:
        >>> itemsize("bf16"), itemsize("torch.float32"), itemsize(8)
        (2, 4, 8)
    """
    if isinstance(dtype, bool):
        raise TypeError(f"dtype must be {ACCEPTED}; got {dtype!r} (bool)")
    if isinstance(dtype, int):
        if dtype not in BYTES_PER_ELEMENT:
            raise ValueError(
                f"dtype as bytes per element must be one of {BYTES_PER_ELEMENT}, got {dtype}"
            )
        return dtype
    name = _dtype_name(dtype)
    if name is None:
        raise TypeError(f"dtype must be {ACCEPTED}; got {dtype!r} ({type(dtype).__name__})")
    key = name.lower().removeprefix("torch.").removeprefix("numpy.")
    if key in ITEMSIZE:
        return ITEMSIZE[key]
    # A dtype object outside the table (torch.int8, np.dtype("int16")) knows its own size; a
    # numpy scalar type's `itemsize` is a descriptor, not an int, and is not used.
    size = getattr(dtype, "itemsize", None)
    if not isinstance(dtype, str | type) and isinstance(size, int) and size > 0:
        return size
    raise ValueError(f"unknown dtype {dtype!r}; use a torch.dtype or one of {sorted(ITEMSIZE)}")


def _dtype_name(dtype: Any) -> str | None:
    """The name of `dtype` if it is a form `itemsize` accepts, else None."""
    if isinstance(dtype, str):
        return dtype
    kind = type(dtype)
    # torch.dtype, without importing torch: str(torch.bfloat16) == "torch.bfloat16".
    if kind.__module__ == "torch" and kind.__name__ == "dtype":
        return str(dtype)
    # np.dtype("float16") is an instance of numpy.dtypes.Float16DType; str() gives "float16".
    numpy = kind.__module__.partition(".")[0] == "numpy"
    if numpy and isinstance(getattr(dtype, "name", None), str):
        return str(dtype.name)
    # np.float16 is a class (a scalar type) whose numpy dtype name is its __name__.
    if isinstance(dtype, type) and dtype.__module__.partition(".")[0] == "numpy":
        return dtype.__name__
    return None


__all__ = ["ITEMSIZE", "itemsize"]

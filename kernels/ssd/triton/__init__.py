"""Triton kernels for SSD (imports Triton: reached only through `backend="triton"`)."""

from .api import ssd_triton

__all__ = ["ssd_triton"]

"""Triton kernels for the selective scan (imports Triton; reached through `backend="triton"`)."""

from .api import selective_scan_triton

__all__ = ["selective_scan_triton"]

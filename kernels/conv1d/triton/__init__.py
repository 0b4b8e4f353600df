"""Triton kernels for the causal conv1d (imports Triton; reached through `backend="triton"`)."""

from .conv import causal_conv1d_triton
from .step import causal_conv1d_update_triton

__all__ = ["causal_conv1d_triton", "causal_conv1d_update_triton"]

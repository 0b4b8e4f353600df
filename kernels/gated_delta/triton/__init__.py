"""Triton kernels for the gated delta rule (imports Triton: reached only through
`backend="triton"`)."""

from .api import gated_delta_rule_triton, gated_delta_step_triton

__all__ = ["gated_delta_rule_triton", "gated_delta_step_triton"]

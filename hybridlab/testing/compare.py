"""The one comparison helper hybridlab's tests share (and a plugin kind's tests may use).

Fast paths are compared against their references as a relative RMS error (FLA's rule):
    err = ||actual - expected||_2 / max(||expected||_2, eps)
which is scale-free and does not blow up on the near-zero entries that elementwise `rtol` trips on.
"""

from __future__ import annotations

import torch


def rel_rms_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Relative RMS error of `actual` against `expected`, computed in float64."""
    a = actual.detach().double()
    e = expected.detach().double()
    return ((a - e).norm() / e.norm().clamp_min(1e-12)).item()


def assert_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    *,
    rel_rms: float = 5e-3,
    name: str = "tensor",
) -> None:
    """Assert `actual` matches `expected`: same shape, all finite, relative RMS error <= `rel_rms`.

    The failure message reports the relative RMS error and the max and mean absolute differences,
    so a failing parity test says how far off it is, not just that it is.

    Example:
        >>> assert_close(torch.ones(3), torch.ones(3) + 1e-4)
    """
    assert actual.shape == expected.shape, (
        f"{name}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}"
    )
    assert torch.isfinite(actual).all(), f"{name}: has non-finite values (unwritten memory?)"
    err = rel_rms_error(actual, expected)
    diff = (actual.detach().double() - expected.detach().double()).abs()
    assert err <= rel_rms, (
        f"{name}: relative RMS error {err:.3e} > {rel_rms:.1e} "
        f"(max abs diff {diff.max().item():.3e}, mean abs diff {diff.mean().item():.3e})"
    )

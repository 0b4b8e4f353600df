"""The one comparison helper the tests share: `hybridlab.testing.compare` (a plugin kind's tests
use it too), re-exported here for the tests' `from helpers import assert_close`.

Fast paths are compared against their references as a relative RMS error (FLA's rule):
    err = ||actual - expected||_2 / max(||expected||_2, eps)
which is scale-free and does not blow up on the near-zero entries that elementwise `rtol` trips on.
"""

from __future__ import annotations

from hybridlab.testing.compare import assert_close, rel_rms_error

__all__ = ["assert_close", "rel_rms_error"]

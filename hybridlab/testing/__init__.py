"""Test helpers for hybridlab and for packages that add layer kinds to it (imports torch).

    from hybridlab.testing import assert_close, check_kind
    check_kind(MyConfig, MyLayer, configs=[MyConfig(), MyConfig(width=3)])

`check_kind` runs the whole layer contract (`hybridlab.testing.kinds`): the same checks
hybridlab's own contract tests run over every built-in kind.
"""

from hybridlab.testing.compare import assert_close, rel_rms_error
from hybridlab.testing.kinds import (
    CONFIG_CHECKS,
    check_causal,
    check_cost_model,
    check_decoding,
    check_gradients,
    check_kind,
    check_num_params,
    check_registered,
    check_shapes,
    check_spec_round_trip,
    check_state_bytes,
    make_layer,
)

__all__ = [
    "CONFIG_CHECKS",
    "assert_close",
    "check_causal",
    "check_cost_model",
    "check_decoding",
    "check_gradients",
    "check_kind",
    "check_num_params",
    "check_registered",
    "check_shapes",
    "check_spec_round_trip",
    "check_state_bytes",
    "make_layer",
    "rel_rms_error",
]

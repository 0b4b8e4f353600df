"""hybridlab.kernels: pure functions on tensors for the SSM layers.

Each op has a naive reference (a sequential recurrence, for tests), a fast PyTorch path (what
CPUs run), a Triton path (what GPUs run) and one public entry taking
`backend="auto"|"torch"|"naive"|"triton"` (see `_dispatch.py`).

Every public entry checks its arguments once, before dispatch, with the shared checks of
`_checks.py`, so that all backends accept the same things: float32/bfloat16/float16 tensors
(float64, integer, bool and complex ones are TypeErrors), all on one device and not meta, no
dimension of size 0, ints and bools where ints and bools go; each error names the function
and the argument. The scans are exact for any sign of Δ and A, and a NaN or inf at position t
never changes an output before t.

    ssd                      Mamba-2 SSD over a sequence          (b, l, h, p)
    selective_scan           Mamba-1 selective scan over a sequence  (b, d, l)
    selective_state_update   one decode step of either, state updated in place
    causal_conv1d            causal depthwise conv1d over a sequence  (b, d, l)
    causal_conv1d_update     one decode step of it, conv state rolled in place
    gated_delta_rule         Gated DeltaNet's gated delta rule over a sequence  (b, l, h, d)
    gated_delta_step         one decode step of it, state updated in place

The re-exported functions `ssd` and `selective_scan` shadow the subpackages of the same name as
attributes of `hybridlab.kernels`: import implementation modules with `from ... import`, e.g.
`from hybridlab.kernels.ssd.chunk import ssd_chunk` (not `import hybridlab.kernels.ssd.chunk`).
"""

from hybridlab.kernels._dispatch import register_backend, valid_backends
from hybridlab.kernels.conv1d import causal_conv1d, causal_conv1d_update
from hybridlab.kernels.gated_delta import gated_delta_rule, gated_delta_step
from hybridlab.kernels.selective_scan import selective_scan
from hybridlab.kernels.ssd import ssd
from hybridlab.kernels.selective_scan.step import selective_state_update

__all__ = [
    "causal_conv1d",
    "causal_conv1d_update",
    "gated_delta_rule",
    "gated_delta_step",
    "register_backend",
    "selective_scan",
    "selective_state_update",
    "ssd",
    "valid_backends",
]

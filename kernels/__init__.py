"""hybridlab.kernels: pure functions on tensors for the SSM layers.

Each op has a naive reference (a sequential recurrence, for tests), a fast PyTorch path (what
CPUs run), a Triton path (what GPUs run) and one public entry taking
`backend="auto"|"torch"|"naive"|"triton"` (see `_dispatch.py`). Each op keeps all of them in its
own folder, as flash-linear-attention's `fla/ops/<op>/` does:

    <op>/__init__.py   the public entries and their argument checks
    <op>/naive.py      the references, for a sequence and for a decode step
    <op>/chunk.py, recurrent.py, taps.py   the fast PyTorch path over a sequence
    <op>/step.py       the fast PyTorch decode step (gated_delta's one serves both: naive.py)
    <op>/triton/       the Triton kernels and their launchers

    ssd/               Mamba-2's SSD
    selective_scan/    Mamba-1's selective scan, and the decode step of both SSMs
    conv1d/            the causal depthwise conv1d and its decode step
    gated_delta/       Gated DeltaNet's gated delta rule and its decode step

`selective_state_update` lives in selective_scan/ and serves SSD too: SSD's recurrence is the
selective scan's with A one scalar per head, shared by the p rows and n columns of its state, so
one step (and one Triton kernel, over a (b, heads, rows, n) view with stride 0 where SSD does not
vary) computes both layouts, told apart by the state's rank; a second, SSD-only step would be a
copy of it.

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
from hybridlab.kernels.selective_scan import selective_scan, selective_state_update
from hybridlab.kernels.ssd import ssd

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

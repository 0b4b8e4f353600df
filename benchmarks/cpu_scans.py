"""CPU benchmark: hybridlab's scans against their naive references and the anchors' torch paths.

    python benchmarks/cpu_scans.py              # the table recorded in benchmarks/README.md
    python benchmarks/cpu_scans.py --quick      # small shapes, a smoke test of this script
    python benchmarks/cpu_scans.py --threads 1  # one thread: steadier on a shared, loaded machine

Both ops are timed at the shapes of the project's speed targets (benchmarks/README.md), fp32,
with every float input requiring grad:
    SSD   b=8 l=1024 h=8 p=32 n=64 g=1 chunk 64, D (h,), dt_bias, dt_softplus=True
    scan  b=8 l=1024 d=256 n=16, B and C (b, n, l), D (d,), delta_bias, delta_softplus=True
What each row times (inputs are built once, outside the timer; softplus(dt + bias) is inside):
    naive        hybridlab's sequential reference (`backend="naive"`), at l=256: at l=1024 its
                 per-step autograd graph takes minutes to differentiate. It is compared with
                 hybridlab's fast path timed at the same l=256 (its own row).
    hybridlab    `hybridlab.kernels.ssd` / `selective_scan` with `backend="torch"`.
    transformers `transformers.models.mamba2.modeling_mamba2.mamba2_chunk_scan`, the scan part of
                 HF's Mamba-2 torch path (what `Mamba2Mixer` calls without mamba_ssm; no
                 projections, conv or norm), with the same arguments.
    mambapy      `mambapy.mamba.MambaBlock.selective_scan` (unbound; it does not use `self`):
                 exp(ΔA), ΔBx, `mambapy.pscan.pscan`, then C and D, on (b, l, d) inputs, its
                 native layout; softplus(delta + bias) is added in front as in its MambaBlock.
Timing: forward under `torch.no_grad()`; forward+backward = forward with grad, then
`y.backward(dy)` for a fixed random dy. Each number is the best of `--repeats` runs (2 for the
naive reference) after one warm-up, implementations interleaved run by run so that machine load
hits all of them alike.
Peak memory: the largest "Total Allocated" of PyTorch's CPU allocator over one forward+backward,
minus its value before (torch.profiler with profile_memory=True, read from the Chrome trace), so
it counts every tensor the call allocates (activations kept for backward, temporaries,
gradients), not the inputs.
Parity first: at a small shape every implementation's output and input gradients are compared
with the naive reference (relative RMS error ≤ 5e-3, tests/helpers.py). If hybridlab's path fails,
the script prints no speedup and exits with status 1; a baseline that fails is reported as such.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import rel_rms_error  # the tests' one comparison rule
from hybridlab.kernels import selective_scan, ssd

PARITY_TOLERANCE = 5e-3

# ---------------------------------------------------------------------------------------------
# Inputs and implementations. Each implementation maps the input dict to y (any layout).


def ssd_inputs(b, l, h, p, n, g, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(b, l, h, p, generator=gen),
        "dt": torch.randn(b, l, h, generator=gen) - 1.0,
        "A": -torch.exp(torch.rand(h, generator=gen) * 2.77),  # A in [-16, -1], as Mamba-2's init
        "B": torch.randn(b, l, g, n, generator=gen),
        "C": torch.randn(b, l, g, n, generator=gen),
        "D": torch.randn(h, generator=gen),
        "dt_bias": torch.randn(h, generator=gen) * 0.5,
    }


def scan_inputs(b, l, d, n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs = {
        "u": torch.randn(b, d, l, generator=gen),
        "delta": torch.randn(b, d, l, generator=gen) - 1.0,
        "A": -torch.arange(1, n + 1).float().repeat(d, 1),  # Mamba-1's S4D-real init
        "B": torch.randn(b, n, l, generator=gen),
        "C": torch.randn(b, n, l, generator=gen),
        "D": torch.randn(d, generator=gen),
        "delta_bias": torch.randn(d, generator=gen) * 0.5,
    }
    # mambapy's native (b, l, d) / (b, l, n) layouts, as separate contiguous leaves.
    for name in ("u", "delta", "B", "C"):
        inputs[f"{name}_bld"] = inputs[name].transpose(1, 2).contiguous()
    return inputs


def ssd_hybridlab(backend, chunk_size=64):
    def run(t):
        return ssd(
            t["x"],
            t["dt"],
            t["A"],
            t["B"],
            t["C"],
            D=t["D"],
            dt_bias=t["dt_bias"],
            dt_softplus=True,
            chunk_size=chunk_size,
            backend=backend,
        )

    return run


def ssd_transformers(chunk_size=64):
    from transformers.models.mamba2.modeling_mamba2 import mamba2_chunk_scan

    def run(t):
        return mamba2_chunk_scan(
            t["x"],
            t["dt"],
            t["A"],
            t["B"],
            t["C"],
            chunk_size,
            D=t["D"],
            dt_bias=t["dt_bias"],
            dt_softplus=True,
        )

    return run


def scan_hybridlab(backend):
    def run(t):
        return selective_scan(
            t["u"],
            t["delta"],
            t["A"],
            t["B"],
            t["C"],
            D=t["D"],
            delta_bias=t["delta_bias"],
            delta_softplus=True,
            backend=backend,
        )

    return run


def scan_mambapy():
    from mambapy.mamba import MambaBlock

    def run(t):
        delta = F.softplus(t["delta_bld"] + t["delta_bias"])
        return MambaBlock.selective_scan(
            None, t["u_bld"], delta, t["A"], t["B_bld"], t["C_bld"], t["D"]
        )  # (b, l, d)

    return run


def scan_to_bdl(y: torch.Tensor) -> torch.Tensor:
    """mambapy returns (b, l, d); compare it in the (b, d, l) layout of the others."""
    return y.transpose(1, 2)


# ---------------------------------------------------------------------------------------------
# Measurement.


def leaves(inputs: dict[str, torch.Tensor], for_grad: bool) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().requires_grad_(for_grad) for k, v in inputs.items()}


def forward(fn, inputs):
    with torch.no_grad():
        fn(inputs)


def forward_backward(fn, inputs, dy):
    for t in inputs.values():
        t.grad = None
    fn(inputs).backward(dy)


def best_times(
    cases: dict[str, Callable[[], None]], repeats: int, caps: dict[str, int]
) -> dict[str, float]:
    """Best wall time (ms) of each thunk over `repeats` interleaved runs (`caps[name]` for the
    slow ones), after one warm-up run of each."""
    for thunk in cases.values():
        thunk()
    best = dict.fromkeys(cases, float("inf"))
    for run in range(repeats):
        for name, thunk in cases.items():
            if run >= caps.get(name, repeats):
                continue
            start = time.perf_counter()
            thunk()
            best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
    return best


def peak_mib(thunk: Callable[[], None]) -> float:
    """Peak bytes allocated by PyTorch's CPU allocator during `thunk`, above the level before."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        thunk()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    memory = [e["args"] for e in events if e.get("name") == "[memory]"]
    if not memory:
        return 0.0
    before = memory[0]["Total Allocated"] - memory[0]["Bytes"]
    return (max(m["Total Allocated"] for m in memory) - before) / 2**20


def parity(impls, inputs, reference: str, to_ref_layout) -> dict[str, str]:
    """'ok' or the failure, per implementation: output and input gradients against reference."""
    results, report = {}, {}
    for name, fn in impls.items():
        t = leaves(inputs, True)
        y = to_ref_layout[name](fn(t))
        gen = torch.Generator().manual_seed(1)
        y.backward(torch.randn(y.shape, generator=gen))
        grads = {k: v.grad for k, v in t.items() if v.grad is not None}
        # mambapy's (b, l, ·) leaves are the same inputs as the (b, ·, l) ones of the others.
        grads = {
            k.removesuffix("_bld"): g.transpose(1, 2) if k.endswith("_bld") else g
            for k, g in grads.items()
        }
        results[name] = {"y": y.detach(), **grads}
    expected = results[reference]
    for name, got in results.items():
        if set(got) != set(expected):
            report[name] = f"gradients for {sorted(got)} instead of {sorted(expected)}"
            continue
        errors = {k: rel_rms_error(got[k], expected[k]) for k in got}
        bad = {k: e for k, e in errors.items() if not e <= PARITY_TOLERANCE}
        report[name] = "ok" if not bad else ", ".join(f"{k} {e:.1e}" for k, e in bad.items())
    return report


# ---------------------------------------------------------------------------------------------
# One table per op.


def bench_op(title, make_inputs, shape, naive_length, impls, layout, repeats):
    """Rows: (label, l, fwd ms, fwd+bwd ms, peak MiB, speedup fwd, speedup fwd+bwd)."""
    rows = []
    # (row label, implementation, length); hybridlab at the naive's length is its comparison.
    plan = [("naive reference", "naive", naive_length), ("hybridlab", "hybridlab", naive_length)]
    plan += [("hybridlab", "hybridlab", shape["l"])]
    plan += [(name, name, shape["l"]) for name in impls if name not in ("naive", "hybridlab")]
    by_length: dict[int, list[tuple[str, str]]] = {}
    for label, name, length in plan:
        by_length.setdefault(length, []).append((label, name))

    for length, entries in by_length.items():
        inputs = make_inputs(**{**shape, "l": length})
        gen = torch.Generator().manual_seed(2)
        probe = impls["hybridlab"](inputs)
        dy = {name: torch.randn(probe.shape, generator=gen) for _, name in entries}
        for _, name in entries:
            if layout[name] is scan_to_bdl:
                dy[name] = dy[name].transpose(1, 2).contiguous()
        fwd_inputs = leaves(inputs, False)
        grad_inputs = {name: leaves(inputs, True) for _, name in entries}
        fwd_cases = {name: partial(forward, impls[name], fwd_inputs) for _, name in entries}
        fwd_bwd_cases = {
            name: partial(forward_backward, impls[name], grad_inputs[name], dy[name])
            for _, name in entries
        }
        # The naive reference takes seconds per call: two timed runs are enough to show it.
        caps = {"naive": 2}
        fwd = best_times(fwd_cases, repeats, caps)
        fwd_bwd = best_times(fwd_bwd_cases, repeats, caps)
        for label, name in entries:
            for t in grad_inputs[name].values():
                t.grad = None
            peak = peak_mib(fwd_bwd_cases[name])
            rows.append((label, name, length, fwd[name], fwd_bwd[name], peak))
    ours = {length: (f, fb) for _, name, length, f, fb, _ in rows if name == "hybridlab"}
    table = [
        (label, length, f, fb, peak, f / ours[length][0], fb / ours[length][1])
        for label, name, length, f, fb, peak in rows
    ]
    print(f"\n{title}")
    print_table(table)
    return table


def print_table(rows):
    columns = ["implementation", "l", "fwd ms", "fwd+bwd ms", "peak MiB (fwd+bwd)"]
    print("| " + " | ".join([*columns, "hybridlab speedup fwd / fwd+bwd"]) + " |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, length, fwd, fwd_bwd, peak, s_fwd, s_fb in rows:
        speedup = "—" if label == "hybridlab" else f"{s_fwd:.2f}× / {s_fb:.2f}×"
        print(f"| {label} | {length} | {fwd:.1f} | {fwd_bwd:.1f} | {peak:.0f} | {speedup} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (best kept)")
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke test")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats

    ssd_shape = {"b": 8, "l": 1024, "h": 8, "p": 32, "n": 64, "g": 1}
    scan_shape = {"b": 8, "l": 1024, "d": 256, "n": 16}
    naive_length = 256
    if args.quick:
        ssd_shape = {"b": 2, "l": 256, "h": 4, "p": 16, "n": 32, "g": 1}
        scan_shape = {"b": 2, "l": 256, "d": 32, "n": 8}
        naive_length = 64

    print(
        f"# CPU scans, {datetime.date.today()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs ({platform.machine()}), "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    ssd_impls = {
        "naive": ssd_hybridlab("naive"),
        "hybridlab": ssd_hybridlab("torch"),
        "transformers": ssd_transformers(),
    }
    scan_impls = {
        "naive": scan_hybridlab("naive"),
        "hybridlab": scan_hybridlab("torch"),
        "mambapy": scan_mambapy(),
    }
    ssd_layout = dict.fromkeys(ssd_impls, lambda y: y)
    scan_layout = {**dict.fromkeys(scan_impls, lambda y: y), "mambapy": scan_to_bdl}

    checks = {
        "SSD": parity(ssd_impls, ssd_inputs(2, 200, 4, 16, 32, 2), "naive", ssd_layout),
        "scan": parity(scan_impls, scan_inputs(2, 200, 32, 8), "naive", scan_layout),
    }
    print("\nparity against the naive reference (b=2, l=200, small widths):")
    for op, report in checks.items():
        print(f"  {op}: " + "; ".join(f"{name} {status}" for name, status in report.items()))
    if checks["SSD"]["hybridlab"] != "ok" or checks["scan"]["hybridlab"] != "ok":
        print("\nhybridlab's fast path fails parity: no speedups reported.")
        return 1
    for op, impls in (("SSD", ssd_impls), ("scan", scan_impls)):
        for name, status in checks[op].items():
            if status != "ok":
                print(f"  (dropping {name} from the {op} table: it does not compute the same op)")
                impls.pop(name)

    bench_op(
        "Mamba-2 SSD, b=8 h=8 p=32 n=64 g=1, chunk 64" if not args.quick else "SSD (quick)",
        ssd_inputs,
        ssd_shape,
        naive_length,
        ssd_impls,
        ssd_layout,
        repeats,
    )
    bench_op(
        "Mamba-1 selective scan, b=8 d=256 n=16" if not args.quick else "scan (quick)",
        scan_inputs,
        scan_shape,
        naive_length,
        scan_impls,
        scan_layout,
        repeats,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

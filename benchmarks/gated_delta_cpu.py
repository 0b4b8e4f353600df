"""The gated delta rule on CPU: our chunked PyTorch path against sequential and FLA references.

    python benchmarks/gated_delta_cpu.py [--repeats 3] [--length 1024]

Shape legend: b batch, l length, h heads, dk key dim, dv value dim.

Forward + backward (a fixed random cotangent on the output and the final state) at b=8, l=1024,
h=8, dk=dv=64, fp32, with torch's default CPU threads, of:
    ours            hybridlab.kernels.gated_delta_rule(backend="torch"): chunked WY form, C = 64,
                    hand-written backward (kernels/gated_delta/chunk.py)
    ours naive      autograd through our sequential reference (backend="naive")
    fla recurrent   flash-linear-attention's `naive_recurrent_gated_delta_rule`, autograd
    fla chunk       flash-linear-attention's `naive_chunk_gated_delta_rule` (its PyTorch chunked
                    reference, C = 64), autograd
(FLA's Triton kernels do not run on CPU; these are the PyTorch references it ships.) Target: ours
at least 1.5x faster than the faster of the three anchors.

1. One run of each implementation in a fresh subprocess (`_run_once`): it builds the inputs, reads
   its resident set size (RSS), resets the kernel's peak-RSS mark (/proc/self/clear_refs), times
   one forward + backward, reads the peak (VmHWM) and saves the outputs and gradients. "Peak MB"
   is peak minus the RSS before the call: the memory one forward + backward needed on top of its
   inputs, as the OS saw it (every tensor, the allocator's caching and first-call one-offs
   included; torch keeps no allocator counters for CPU tensors). Ours is called once before the
   measured call there (its first call pays one-off costs); the references take seconds to
   minutes per call and are measured on their first.
2. Parity: our outputs, final state and every input gradient against each FLA reference and our
   naive one (relative RMS error ≤ 5e-3). If parity fails, no times are reported (exit 1).
3. Times of the fast implementations (ours, fla chunk): median over `--repeats` rounds in this
   one process, each round timing both in turn, so machine load hits them alike. The sequential
   references (minutes per call at l=1024 on 2 cores) are timed once, by step 1.
Exit status: 0 target met, 1 parity failed, 2 target missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

B, H, DK, DV = 8, 8, 64, 64
TARGET = 1.5
TOLERANCE = 5e-3
NAMES = ["ours", "ours naive", "fla recurrent", "fla chunk"]
# Timed side by side in one process; the others are sequential and take minutes per call.
FAST = ["ours", "fla chunk"]
ANCHORS = ["ours naive", "fla recurrent", "fla chunk"]


def make_inputs(length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Gated DeltaNet-like inputs: k L2-normalised, β = sigmoid, g = −softplus-like in (−1, 0)."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "q": torch.randn(B, length, H, DK, generator=gen),
        "k": torch.nn.functional.normalize(torch.randn(B, length, H, DK, generator=gen), dim=-1),
        "v": torch.randn(B, length, H, DV, generator=gen),
        "g": -torch.rand(B, length, H, generator=gen),
        "beta": torch.rand(B, length, H, generator=gen).sigmoid(),
    }


def implementation(name: str):
    """`name`'s function of (q, k, v, g, beta) -> (o, final state), scale dk^-0.5."""
    from hybridlab.kernels import gated_delta_rule

    scale = DK**-0.5
    if name in ("ours", "ours naive"):
        backend = "torch" if name == "ours" else "naive"

        def ours(q, k, v, g, beta):
            return gated_delta_rule(q, k, v, g, beta, scale=scale, return_final_state=True,
                                    backend=backend)  # fmt: skip

        return ours
    with warnings.catch_warnings():
        # FLA warns that Triton has no CPU backend here; its PyTorch references need none.
        warnings.simplefilter("ignore")
        from fla.ops.gated_delta_rule.naive import (
            naive_chunk_gated_delta_rule,
            naive_recurrent_gated_delta_rule,
        )
    if name == "fla recurrent":

        def fla_recurrent(q, k, v, g, beta):
            # FLA's recurrent reference takes beta before g.
            return naive_recurrent_gated_delta_rule(q, k, v, beta, g, scale=scale,
                                                    output_final_state=True)  # fmt: skip

        return fla_recurrent

    def fla_chunk(q, k, v, g, beta):
        return naive_chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=64, scale=scale,
                                            output_final_state=True)  # fmt: skip

    return fla_chunk


def forward_backward(fn, inputs: dict, cotangent_seed: int = 1):
    """One forward + backward; the outputs and the input gradients, by name."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    o, final = fn(**leaves)
    gen = torch.Generator().manual_seed(cotangent_seed)
    torch.autograd.backward(
        (o, final), (torch.randn(o.shape, generator=gen), torch.randn(final.shape, generator=gen))
    )
    out = {"o": o.detach(), "final_state": final.detach()}
    out.update({f"d{k}": v.grad for k, v in leaves.items()})
    return out


def rel_rms(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def _proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status ("VmRSS", "VmHWM"), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _run_once(name: str, length: int, out_path: str) -> str:
    """Step 1 inside the subprocess: one timed forward + backward; JSON of seconds and peak MB."""
    fn = implementation(name)
    inputs = make_inputs(length)
    if name == "ours":
        forward_backward(fn, inputs)
    before = _proc_status_mb("VmRSS")
    # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0), so that neither the
    # peak of importing torch and FLA nor a warm-up call counts.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = time.perf_counter()
    results = forward_backward(fn, inputs)
    seconds = time.perf_counter() - start
    peak = _proc_status_mb("VmHWM")
    torch.save(results, out_path)
    return json.dumps({"seconds": seconds, "peak_mb": peak - before})


def run_in_subprocess(name: str, length: int, out_path: str) -> dict:
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import gated_delta_cpu as m; "
        f"print(m._run_once({name!r}, {length}, {out_path!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--length", type=int, default=1024)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.length < 1:
        parser.error("--repeats and --length must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"b={B} l={args.length} h={H} dk={DK} dv={DV}, fp32, forward+backward",
        flush=True,
    )

    # 1. One run each in a fresh subprocess: time, peak memory, outputs.
    once, results = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            path = str(Path(tmp) / f"{name.replace(' ', '_')}.pt")
            once[name] = run_in_subprocess(name, args.length, path)
            results[name] = torch.load(path)
            print(f"  {name}: {once[name]['seconds']:.1f} s", flush=True)

    # 2. Parity.
    failed = []
    print("\nParity of ours against each reference (relative RMS error):")
    for ref in ANCHORS:
        errors = {t: rel_rms(results["ours"][t], results[ref][t]) for t in results[ref]}
        worst = max(errors, key=errors.get)
        details = " ".join(f"{t}={e:.0e}" for t, e in errors.items())
        print(f"  vs {ref:<14} worst {worst} {errors[worst]:.1e}  {details}")
        failed += [f"{ref} {t}" for t, e in errors.items() if not e <= TOLERANCE]
    if failed:
        print(f"parity failed ({', '.join(failed)}): no times reported.")
        return 1
    del results

    # 3. The fast ones side by side in this process, interleaved rounds.
    inputs = make_inputs(args.length)
    fast = {name: implementation(name) for name in FAST}
    forward_backward(fast["ours"], inputs)
    times: dict[str, list[float]] = {name: [] for name in FAST}
    for _ in range(args.repeats):
        for name, fn in fast.items():
            start = time.perf_counter()
            forward_backward(fn, inputs)
            times[name].append(time.perf_counter() - start)
    seconds = {name: once[name]["seconds"] for name in NAMES}
    seconds.update({name: statistics.median(ts) for name, ts in times.items()})

    ours = seconds["ours"]
    header = "implementation | fwd+bwd (ms) | timed | ours is faster by | peak MB above inputs"
    print(f"\n| {header} |\n|---|---|---|---|---|")
    for name in NAMES:
        how = f"median of {args.repeats}, interleaved" if name in FAST else "once"
        ratio = "-" if name == "ours" else f"{seconds[name] / ours:.1f}x"
        peak = once[name]["peak_mb"]
        print(f"| {name} | {1e3 * seconds[name]:.0f} | {how} | {ratio} | {peak:.0f} |")
    best = min(ANCHORS, key=seconds.get)
    speedup = seconds[best] / ours
    verdict = "met" if speedup >= TARGET else "MISSED"
    print(f"\nfaster anchor: {best}; ours is {speedup:.1f}x faster (target {TARGET}x): {verdict}")
    print(json.dumps({"seconds": seconds, "once": once, "speedup": speedup}))
    return 0 if speedup >= TARGET else 2


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

"""Triton kernels against the PyTorch paths on one CUDA GPU: parity first, then time and rooflines.

    python benchmarks/gpu_kernels.py [--ops ssd scan conv gated_delta] [--quick] [--json out.json]

Shape legend:
    b  batch     l  sequence length     h  heads     p  head dim     g  groups     n  state size
    d  channels  w  conv width          q  SSD chunk length    dk, dv  gated delta key/value dims

1. Ceilings, measured in this run: device-to-device copy bandwidth (bytes read + written per
   second) and a bf16 matrix product's FLOP/s (H200 references: about 4.3 TB/s, 790 TFLOP/s).
2. Parity at the benchmark shapes, bf16: Triton against the PyTorch path on the same inputs
   (outputs and every input gradient, relative RMS error). If any check fails the script prints
   the failures and no speedup, and exits with status 1 (a speedup of a wrong kernel means nothing).
3. Forward and forward+backward time of each op, Triton next to the PyTorch path, on the same GPU
   in the same process (`triton.testing.do_bench`, median), with achieved bytes/s and FLOP/s and
   the fraction of the binding roofline: max(bytes / bandwidth, FLOPs / matmul peak) over time.
   Bytes count each input read once and each output written once (the I/O any implementation
   needs); FLOPs count the matrix products of the chunked algorithm (SSD) or the elementwise work
   of the recurrence (scan, conv, gated delta rule), so for those the matmul peak is not a
   meaningful ceiling.
Targets (forward+backward against the PyTorch path, b=8, l=4096, bf16): SSD (h=32, p=64, n=128)
at least 5x, selective scan (d=2048, n=16) at least 20x, and the SSD forward at least 40% of its
binding roofline. The gated delta rule (h=16, dk=dv=128) has no target yet: its Triton kernels
are recurrent (kernels/gated_delta/triton/api.py) against the chunked PyTorch path, and this
table is where their first GPU numbers will come from.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

TARGETS = {
    ("ssd", "fwd+bwd", "speedup"): 5.0,
    ("scan", "fwd+bwd", "speedup"): 20.0,
    ("ssd", "fwd", "roofline"): 0.40,
}
H200_REFERENCE = {"bandwidth": 4.3e12, "flops": 790e12}
BF16_TOLERANCE = {"output": 1e-2, "grad": 3e-2}


@dataclass(frozen=True)
class Cost:
    """Work of one call: FLOPs and bytes of the forward, and of forward + backward together."""

    flops_fwd: float
    bytes_fwd: float
    flops_fwd_bwd: float
    bytes_fwd_bwd: float


@dataclass
class Timing:
    op: str
    variant: str  # e.g. "q=256"
    mode: str  # "fwd" or "fwd+bwd"
    triton_ms: float
    torch_ms: float
    flops: float
    bytes: float

    @property
    def speedup(self) -> float:
        return self.torch_ms / self.triton_ms


@dataclass
class Parity:
    op: str
    tensor: str
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.error == self.error and self.error <= self.tolerance  # NaN fails


@dataclass
class Report:
    bandwidth: float  # bytes/s
    flops: float  # FLOP/s
    parity: list[Parity] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Pure arithmetic and formatting (tested on CPU in tests/test_gpu_benchmark_logic.py).


def ssd_cost(b, l, h, p, g, n, q, elem_bytes=2, dt_bytes=2) -> Cost:
    """Chunked SSD (Dao & Gu 2024, §6): per head, the chunk states and the carried-in term are
    2·l·p·n FLOPs each, the causal intra-chunk product l·q·p, and C·Bᵀ 2·l·q·n per group.
    The backward (this repo's kernels) does 10·l·p·n + 3·l·q·p per head and 2·l·q·n per group."""
    lhpn, lqhp, lqgn = b * l * h * p * n, b * l * q * h * p, b * l * q * g * n
    flops_fwd = 4 * lhpn + lqhp + 2 * lqgn
    flops_bwd = 10 * lhpn + 3 * lqhp + 2 * lqgn
    x = b * l * h * p * elem_bytes  # x, y, dy, dx each
    bc = b * l * g * n * elem_bytes  # B, C, dB, dC each
    dt = b * l * h * dt_bytes  # dt, ddt each
    bytes_fwd = 2 * x + 2 * bc + dt  # read x, B, C, dt; write y
    bytes_bwd = 3 * x + 4 * bc + 2 * dt  # read x, dy, B, C, dt; write dx, dB, dC, ddt
    return Cost(flops_fwd, bytes_fwd, flops_fwd + flops_bwd, bytes_fwd + bytes_bwd)


def scan_cost(b, d, l, n, elem_bytes=2, with_z=True) -> Cost:
    """Selective scan: per (b, d, l, n) element about 7 FLOPs forward (ΔA, exp, Δu·B, the affine
    step, C·h) and 20 backward; bytes are u, Δ, z, y (b·d·l) and B, C (b·n·l) read or written."""
    elems = b * d * l * n
    seq = b * d * l * elem_bytes
    bc = b * n * l * elem_bytes
    zs = seq if with_z else 0
    bytes_fwd = 3 * seq + zs + 2 * bc  # read u, Δ, (z), B, C; write y
    bytes_bwd = 6 * seq + 2 * zs + 4 * bc  # read u, Δ, dy, (z), B, C; write du, dΔ, (dz), dB, dC
    return Cost(7 * elems, bytes_fwd, 27 * elems, bytes_fwd + bytes_bwd)


def conv_cost(b, d, l, w, elem_bytes=2) -> Cost:
    """Depthwise causal conv: 2·w FLOPs per output (+ SiLU), x read and y written once."""
    seq = b * d * l * elem_bytes
    flops = (2 * w + 4) * b * d * l
    return Cost(flops, 2 * seq, 3 * flops, 2 * seq + 3 * seq)


def gated_delta_cost(b, l, h, dk, dv, elem_bytes=2) -> Cost:
    """Gated delta rule, recurrent (kernels/gated_delta/triton): per step and head about 7·dk·dv
    FLOPs forward (decay, recall Sᵀk, rank-1 write, output Sᵀq) and 25·dk·dv backward (the
    stretch replayed, then the adjoint). Bytes: q, k, v, g, β read and o written forward; q, k,
    v, g, β, do read and dq, dk, dv, dg, dβ written backward (g and β one element per head)."""
    steps = b * l * h
    qk, vo, gb = steps * dk * elem_bytes, steps * dv * elem_bytes, steps * elem_bytes
    bytes_fwd = 2 * qk + 2 * vo + 2 * gb  # read q, k, v, g, β; write o
    bytes_bwd = 4 * qk + 3 * vo + 4 * gb  # read q, k, v, g, β, do; write dq, dk, dv, dg, dβ
    flops_fwd = 7 * steps * dk * dv
    return Cost(flops_fwd, bytes_fwd, flops_fwd + 25 * steps * dk * dv, bytes_fwd + bytes_bwd)


def roofline_fraction(
    seconds: float, flops: float, nbytes: float, peak_flops: float, bandwidth: float
) -> tuple[float, str]:
    """Fraction of the binding roofline reached, and which bound binds ("memory"/"compute")."""
    t_mem, t_compute = nbytes / bandwidth, flops / peak_flops
    bound = "memory" if t_mem >= t_compute else "compute"
    return max(t_mem, t_compute) / seconds, bound


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.2f} {unit}"


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-markdown table with columns padded to their widest cell."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])


def render(report: Report) -> tuple[str, int]:
    """The report as text, and the exit status: 1 when parity failed (then no speedups at all),
    2 when a target was missed, 0 otherwise."""
    out = [
        f"Ceilings measured: copy {_si(report.bandwidth, 'B/s')} "
        f"(H200 ref {_si(H200_REFERENCE['bandwidth'], 'B/s')}), bf16 matmul "
        f"{_si(report.flops, 'FLOP/s')} (H200 ref {_si(H200_REFERENCE['flops'], 'FLOP/s')})",
        "",
        "Parity (Triton vs PyTorch path, relative RMS error):",
        format_table(
            ["op", "tensor", "error", "tolerance", "ok"],
            [
                [p.op, p.tensor, f"{p.error:.2e}", f"{p.tolerance:.0e}", "yes" if p.ok else "NO"]
                for p in report.parity
            ],
        ),
        "",
    ]
    failed = [p for p in report.parity if not p.ok]
    if failed or not report.parity:
        what = f"{len(failed)} parity check(s) failed" if failed else "no parity checks ran"
        out.append(f"{what}: speedups are not reported.")
        return "\n".join(out), 1

    rows, missed = [], []
    for t in report.timings:
        seconds = t.triton_ms / 1e3
        fraction, bound = roofline_fraction(
            seconds, t.flops, t.bytes, report.flops, report.bandwidth
        )
        rows.append(
            [
                t.op,
                t.variant,
                t.mode,
                f"{t.triton_ms:.3f}",
                f"{t.torch_ms:.3f}",
                f"{t.speedup:.1f}x",
                _si(t.bytes / seconds, "B/s"),
                _si(t.flops / seconds, "FLOP/s"),
                f"{100 * fraction:.0f}% ({bound})",
            ]
        )
        speed_target = TARGETS.get((t.op, t.mode, "speedup"))
        if speed_target is not None and t.speedup < speed_target:
            missed.append(f"{t.op} {t.variant} {t.mode}: {t.speedup:.1f}x < {speed_target:.0f}x")
        roof_target = TARGETS.get((t.op, t.mode, "roofline"))
        if roof_target is not None and fraction < roof_target:
            missed.append(
                f"{t.op} {t.variant} {t.mode}: {100 * fraction:.0f}% of roofline "
                f"< {100 * roof_target:.0f}%"
            )
    out += [
        "Timings (median ms; speedup = PyTorch / Triton; roofline = bound time / Triton time):",
        format_table(
            [
                "op",
                "shape",
                "mode",
                "triton ms",
                "torch ms",
                "speedup",
                "bytes/s",
                "FLOP/s",
                "roofline",
            ],
            rows,
        ),
        "",
    ]
    if missed:
        out.append("Targets missed:\n  " + "\n  ".join(missed))
        return "\n".join(out), 2
    out.append("All targets met.")
    return "\n".join(out), 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Triton kernels vs PyTorch paths on one GPU.")
    parser.add_argument(
        "--ops",
        nargs="+",
        default=["ssd", "scan", "conv", "gated_delta"],
        choices=["ssd", "scan", "conv", "gated_delta"],
        help="which ops to check and time",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter timings; PyTorch SSD baseline at chunk 256 only",
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seqlen", type=int, default=4096)
    parser.add_argument("--json", type=Path, help="also write the raw report here")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.seqlen < 1:
        parser.error("--batch and --seqlen must be positive")
    return args


# ------------------------------------------------------------------------------------------------
# GPU measurements.


def _bench(fn, quick: bool, grad_to_none=None) -> float:
    from triton.testing import do_bench

    ms = do_bench(
        fn,
        warmup=10 if quick else 25,
        rep=40 if quick else 100,
        grad_to_none=grad_to_none,
        quantiles=[0.5],
    )
    return float(ms[0] if isinstance(ms, (list, tuple)) else ms)


def measure_ceilings(quick: bool) -> tuple[float, float]:
    import torch

    nbytes = 2**30  # 1 GiB, copied: read once and written once
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = _bench(lambda: dst.copy_(src), quick)
    bandwidth = 2 * nbytes / (ms / 1e3)
    src = dst = None
    m = 8192
    a = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    ms = _bench(lambda: a @ b, quick)
    return bandwidth, 2 * m**3 / (ms / 1e3)


def _rel_rms(a, b) -> float:
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def _check_and_time(report, op, variant, make_inputs, calls, cost, quick):
    """Parity of Triton vs PyTorch (bf16 inputs; outputs and every input gradient), then times.

    `calls` maps "triton" and one or more PyTorch variants ("torch", "torch q=64", ...) to
    functions of the input dict. Parity compares "triton" with the first PyTorch variant; the
    timing compares it with the fastest PyTorch variant (the best the PyTorch path can do).
    """
    import torch

    inputs = make_inputs()
    names = list(calls)
    torch_names = [name for name in names if name != "triton"]

    def run(name):
        leaves = {k: v.detach().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}
        out = calls[name](leaves)
        return (out if isinstance(out, tuple) else (out,)), leaves

    gen = torch.Generator(device="cuda").manual_seed(1)
    results = {}
    for name in ("triton", torch_names[0]):
        outs, leaves = run(name)
        if name == "triton":
            cot = [torch.randn(o.shape, device="cuda", generator=gen).to(o.dtype) for o in outs]
        torch.autograd.backward(outs, cot)
        results[name] = ([o.float() for o in outs], {k: v.grad.float() for k, v in leaves.items()})
    (outs, grads), (outs_ref, grads_ref) = results["triton"], results[torch_names[0]]
    tag = f"{op} {variant}"
    for i, (o, r) in enumerate(zip(outs, outs_ref, strict=True)):
        report.parity.append(Parity(tag, f"output {i}", _rel_rms(o, r), BF16_TOLERANCE["output"]))
    for name in grads:
        error = _rel_rms(grads[name], grads_ref[name])
        report.parity.append(Parity(tag, f"d{name}", error, BF16_TOLERANCE["grad"]))
    del results, outs, grads, outs_ref, grads_ref

    times = {}
    for name in names:
        with torch.no_grad():
            fwd = _bench(lambda name=name: calls[name](inputs), quick)
        outs, leaves = run(name)
        ones = [torch.ones_like(o) for o in outs]

        def step(name=name, leaves=leaves, ones=ones):
            out = calls[name](leaves)
            torch.autograd.backward(out if isinstance(out, tuple) else (out,), ones)

        times[name] = (fwd, _bench(step, quick, grad_to_none=list(leaves.values())))
        del outs, leaves
    for mode, k, flops, nbytes in (
        ("fwd", 0, cost.flops_fwd, cost.bytes_fwd),
        ("fwd+bwd", 1, cost.flops_fwd_bwd, cost.bytes_fwd_bwd),
    ):
        best = min(torch_names, key=lambda name, k=k: times[name][k])
        label = variant if len(torch_names) == 1 else f"{variant} (vs {best})"
        report.timings.append(
            Timing(op, label, mode, times["triton"][k], times[best][k], flops, nbytes)
        )


def run_ssd(report, args, h=32, p=64, g=1, n=128):
    import torch
    from hybridlab.kernels import ssd

    b, l = args.batch, args.seqlen

    def make_inputs():
        gen = torch.Generator(device="cuda").manual_seed(0)

        def r(*s, dtype=torch.bfloat16):
            return torch.randn(*s, device="cuda", generator=gen).to(dtype)

        return {
            "x": r(b, l, h, p),
            "dt": r(b, l, h) * 0.5 - 2,
            "B": r(b, l, g, n),
            "C": r(b, l, g, n),
            "A": -torch.rand(h, device="cuda", generator=gen) * 15 - 1,
            "D": r(h, dtype=torch.float32),
            "dt_bias": r(h, dtype=torch.float32) * 0.3,
        }

    # Mamba-2's call (hybridlab/layers/ssd.py): D, dt_bias, softplus; the gate is in the norm.
    # Triton runs mamba_ssm's GPU chunk length (256); the PyTorch path its best of 64 and 256.
    def call(backend, q):
        def fn(t):
            return ssd(
                t["x"],
                t["dt"],
                t["A"],
                t["B"],
                t["C"],
                D=t["D"],
                dt_bias=t["dt_bias"],
                dt_softplus=True,
                chunk_size=q,
                backend=backend,
            )

        return fn

    calls = {"triton": call("triton", 256), "torch q=256": call("torch", 256)}
    if not args.quick:
        calls["torch q=64"] = call("torch", 64)
    variant = f"b{b} l{l} h{h} p{p} n{n} q=256"
    _check_and_time(
        report, "ssd", variant, make_inputs, calls, ssd_cost(b, l, h, p, g, n, 256), args.quick
    )


def run_scan(report, args, d=2048, n=16):
    import torch
    from hybridlab.kernels import selective_scan

    b, l = args.batch, args.seqlen

    def make_inputs():
        gen = torch.Generator(device="cuda").manual_seed(0)

        def r(*s, dtype=torch.bfloat16):
            return torch.randn(*s, device="cuda", generator=gen).to(dtype)

        return {
            "u": r(b, d, l),
            "delta": r(b, d, l) * 0.5 - 3,
            "B": r(b, n, l),
            "C": r(b, n, l),
            "z": r(b, d, l),
            "A": -torch.arange(1, n + 1, device="cuda", dtype=torch.float32).repeat(d, 1),
            "D": r(d, dtype=torch.float32),
            "delta_bias": r(d, dtype=torch.float32) * 0.3,
        }

    # Mamba-1's call (mamba_ssm's selective_scan_fn in Mamba.forward): D, z, delta_bias, softplus.
    def call(backend):
        def fn(t):
            return selective_scan(
                t["u"],
                t["delta"],
                t["A"],
                t["B"],
                t["C"],
                D=t["D"],
                z=t["z"],
                delta_bias=t["delta_bias"],
                delta_softplus=True,
                backend=backend,
            )

        return fn

    calls = {"triton": call("triton"), "torch": call("torch")}
    variant = f"b{b} l{l} d{d} n{n}"
    _check_and_time(report, "scan", variant, make_inputs, calls, scan_cost(b, d, l, n), args.quick)


def run_conv(report, args, d=4352, w=4):
    import torch
    from hybridlab.kernels import causal_conv1d

    b, l = args.batch, args.seqlen

    def make_inputs():
        gen = torch.Generator(device="cuda").manual_seed(0)
        return {
            "x": torch.randn(b, d, l, device="cuda", generator=gen).bfloat16(),
            "weight": torch.randn(d, w, device="cuda", generator=gen).bfloat16(),
            "bias": torch.randn(d, device="cuda", generator=gen).bfloat16(),
        }

    def call(backend):
        def fn(t):
            return causal_conv1d(t["x"], t["weight"], t["bias"], activation="silu", backend=backend)

        return fn

    calls = {"triton": call("triton"), "torch": call("torch")}
    variant = f"b{b} l{l} d{d} w{w}"
    _check_and_time(report, "conv", variant, make_inputs, calls, conv_cost(b, d, l, w), args.quick)


def run_gated_delta(report, args, h=16, dk=128, dv=128):
    import torch
    from hybridlab.kernels import gated_delta_rule

    b, l = args.batch, args.seqlen

    def make_inputs():
        gen = torch.Generator(device="cuda").manual_seed(0)

        def r(*s):
            return torch.randn(*s, device="cuda", generator=gen)

        return {
            "q": r(b, l, h, dk).bfloat16(),
            "k": torch.nn.functional.normalize(r(b, l, h, dk), dim=-1).bfloat16(),
            "v": r(b, l, h, dv).bfloat16(),
            # Gated DeltaNet's g = −exp(A)·softplus(·) in fp32, β = sigmoid(·).
            "g": -torch.nn.functional.softplus(r(b, l, h) - 3.0),
            "beta": r(b, l, h).sigmoid().bfloat16(),
        }

    def call(backend):
        def fn(t):
            return gated_delta_rule(t["q"], t["k"], t["v"], t["g"], t["beta"], backend=backend)

        return fn

    calls = {"triton": call("triton"), "torch": call("torch")}
    variant = f"b{b} l{l} h{h} dk{dk} dv{dv}"
    cost = gated_delta_cost(b, l, h, dk, dv)
    _check_and_time(report, "gated_delta", variant, make_inputs, calls, cost, args.quick)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_kernels.py needs a CUDA device; none is visible here.", file=sys.stderr)
        return 3
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    import triton

    print(f"triton {triton.__version__}", flush=True)
    bandwidth, flops = measure_ceilings(args.quick)
    report = Report(bandwidth=bandwidth, flops=flops)
    runners = {"ssd": run_ssd, "scan": run_scan, "conv": run_conv, "gated_delta": run_gated_delta}
    for op in args.ops:
        print(f"running {op} ...", flush=True)
        runners[op](report, args)
        torch.cuda.empty_cache()
    text, status = render(report)
    print(text)
    if args.json:
        payload = asdict(report)
        payload["status"] = status
        args.json.write_text(json.dumps(payload, indent=2))
    return status


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

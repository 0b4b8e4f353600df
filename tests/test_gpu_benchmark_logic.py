"""The CPU-side logic of benchmarks/gpu_kernels.py: arguments, cost models, rooflines, the report.

The GPU measurements themselves run only under `make gpu-check`; what decides what the report
says (and whether it may show speedups at all) is plain arithmetic, checked here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_kernels.py"
spec = importlib.util.spec_from_file_location("gpu_kernels", PATH)
bench = importlib.util.module_from_spec(spec)
sys.modules["gpu_kernels"] = bench  # dataclasses look their module up there
spec.loader.exec_module(bench)


def test_parse_args_defaults_and_errors():
    args = bench.parse_args([])
    assert args.ops == ["ssd", "scan", "conv", "gated_delta"]
    assert (args.batch, args.seqlen, args.quick, args.json) == (8, 4096, False, None)
    assert bench.parse_args(["--ops", "scan", "--quick"]).ops == ["scan"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--ops", "attention"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--seqlen", "0"])


def test_ssd_cost_counts_each_term():
    b, l, h, p, g, n, q = 1, 8, 2, 4, 1, 4, 4
    cost = bench.ssd_cost(b, l, h, p, g, n, q, elem_bytes=2, dt_bytes=4)
    lhpn, lqhp, lqgn = 8 * 2 * 4 * 4, 8 * 4 * 2 * 4, 8 * 4 * 1 * 4
    assert cost.flops_fwd == 4 * lhpn + lqhp + 2 * lqgn
    assert cost.flops_fwd_bwd == cost.flops_fwd + 10 * lhpn + 3 * lqhp + 2 * lqgn
    x, bc, dt = 8 * 2 * 4 * 2, 8 * 1 * 4 * 2, 8 * 2 * 4
    assert cost.bytes_fwd == 2 * x + 2 * bc + dt
    assert cost.bytes_fwd_bwd == cost.bytes_fwd + 3 * x + 4 * bc + 2 * dt


def test_benchmark_shape_ssd_forward_is_compute_bound_on_an_h200():
    cost = bench.ssd_cost(8, 4096, 32, 64, 1, 128, 256)
    fraction, bound = bench.roofline_fraction(
        1e-3, cost.flops_fwd, cost.bytes_fwd, **{"peak_flops": 790e12, "bandwidth": 4.3e12}
    )
    assert bound == "compute"
    assert fraction == pytest.approx(cost.flops_fwd / 790e12 / 1e-3)


def test_scan_and_conv_costs_are_memory_bound():
    for cost in (bench.scan_cost(8, 2048, 4096, 16), bench.conv_cost(8, 4352, 4096, 4)):
        _, bound = bench.roofline_fraction(1e-3, cost.flops_fwd, cost.bytes_fwd, 790e12, 4.3e12)
        assert bound == "memory"
    cost = bench.scan_cost(1, 1, 10, 2, elem_bytes=2, with_z=False)
    assert cost.bytes_fwd == 3 * 20 + 2 * 40
    assert cost.flops_fwd == 7 * 20


def test_gated_delta_cost_counts_each_term():
    b, l, h, dk, dv = 1, 8, 2, 4, 6
    cost = bench.gated_delta_cost(b, l, h, dk, dv, elem_bytes=2)
    steps = 8 * 2
    assert cost.flops_fwd == 7 * steps * dk * dv
    assert cost.flops_fwd_bwd == cost.flops_fwd + 25 * steps * dk * dv
    qk, vo, gb = steps * dk * 2, steps * dv * 2, steps * 2
    assert cost.bytes_fwd == 2 * qk + 2 * vo + 2 * gb
    assert cost.bytes_fwd_bwd == cost.bytes_fwd + 4 * qk + 3 * vo + 4 * gb
    # Elementwise work per byte like the scan's: memory-bound on an H200.
    big = bench.gated_delta_cost(8, 4096, 16, 128, 128)
    assert bench.roofline_fraction(1e-3, big.flops_fwd, big.bytes_fwd, 790e12, 4.3e12)[1] == (
        "memory"
    )


def test_roofline_fraction():
    # 1 GB at 1 TB/s is 1 ms; 1 GFLOP at 1 TFLOP/s is 1 ms: whichever is larger binds.
    assert bench.roofline_fraction(2e-3, 1e9, 1e9, 1e12, 1e12)[0] == pytest.approx(0.5)
    assert bench.roofline_fraction(2e-3, 1e9, 4e9, 1e12, 1e12) == (pytest.approx(2.0), "memory")
    assert bench.roofline_fraction(2e-3, 3e9, 1e9, 1e12, 1e12)[1] == "compute"


def test_format_table_pads_columns():
    text = bench.format_table(["op", "ms"], [["ssd", "1.5"], ["scan", "12.25"]])
    lines = text.splitlines()
    assert lines[0] == "| op   | ms    |"
    assert lines[1] == "|------|-------|"
    assert lines[3] == "| scan | 12.25 |"
    assert len({len(line) for line in lines}) == 1


def _report(parity_errors, ssd_speedup=10.0, scan_speedup=30.0, ssd_fwd_ms=0.1):
    report = bench.Report(bandwidth=4e12, flops=700e12)
    report.parity = [bench.Parity("ssd", f"t{i}", e, 1e-2) for i, e in enumerate(parity_errors)]
    cost = bench.ssd_cost(8, 4096, 32, 64, 1, 128, 256)
    report.timings = [
        bench.Timing("ssd", "q=256", "fwd", ssd_fwd_ms, 1.0, cost.flops_fwd, cost.bytes_fwd),
        bench.Timing(
            "ssd", "q=256", "fwd+bwd", 1.0, ssd_speedup, cost.flops_fwd_bwd, cost.bytes_fwd_bwd
        ),
        bench.Timing("scan", "d2048", "fwd+bwd", 1.0, scan_speedup, 1e9, 1e9),
    ]
    return report


def test_render_refuses_speedups_when_parity_fails():
    for errors in ([1e-3, 0.5], [float("nan")], []):
        text, status = bench.render(_report(errors))
        assert status == 1
        assert "speedups are not reported" in text
        assert "Timings" not in text
        assert "10.0x" not in text and "30.0x" not in text


def test_render_reports_speedups_and_targets():
    text, status = bench.render(_report([1e-3, 2e-3]))
    assert status == 0, text
    assert "All targets met." in text
    assert "10.0x" in text and "30.0x" in text
    assert "% (compute)" in text

    text, status = bench.render(_report([1e-3], ssd_speedup=3.0, scan_speedup=25.0))
    assert status == 2
    assert "ssd q=256 fwd+bwd: 3.0x < 5x" in text

    # A slow forward misses the 40 % roofline target even when every speedup is met.
    text, status = bench.render(_report([1e-3], ssd_fwd_ms=5.0))
    assert status == 2
    assert "of roofline < 40%" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_main_without_cuda_says_so(capsys):
    assert bench.main(["--ops", "ssd"]) == 3
    assert "needs a CUDA device" in capsys.readouterr().err

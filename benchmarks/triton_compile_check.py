"""Compile every Triton kernel of hybridlab for a GPU target, on a machine without a GPU.

    python benchmarks/triton_compile_check.py [--arch 90] [--dtypes float32 bfloat16] [--launches F]
                                              [--jobs N]

`make lint` runs it, so that a kernel that cannot compile for a real GPU (an unsupported op, a dot
smaller than 16, too much shared memory, ...) fails there, on the CPU machine, not on the GPU one.

What it does: runs every op (forward and backward; the decode steps) once under Triton's
interpreter on small CPU tensors, in a subprocess, recording every kernel launch (its argument
types and constexprs), with the launchers choosing their block sizes as on a GPU; then compiles
ahead of time for `sm_<arch>`, through Triton's own compiler and the ptxas shipped in the Triton
wheel, every kernel with every one of its autotune configs, at each dtype, and prints registers,
spills (local memory) and shared memory per variant. Launches that differ only in their boolean
constexprs (HAS_D, HAS_Z, ...) are compiled once, with the most features on: the largest code and
the most registers of the kernel. Variants compile in `--jobs` processes (default: every
core), the interpreter phase in one process per dtype. On 2 cores shared with other jobs (load
average 6), 100 variants of 20 kernels took 5.5 minutes (3 CPU-minutes) with Triton's cache cold
and 2.3 minutes (1.3 CPU-minutes, the interpreter phase) with it warm. Run it with each Triton
version the GPU machines carry (e.g. 3.6 and the newest) by pointing PYTHONPATH at that version.
Compilation, not correctness: numbers come from tests/kernels/triton (interpreter) and
`make gpu-check` (GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _record_launches(dtypes):
    """Run every op forward and backward under the interpreter; return the kernel launches."""
    import torch
    from triton.runtime import interpreter

    launches = []
    original_run = interpreter.InterpretedFunction.run

    def recording_run(self, *args, grid, warmup, **kwargs):
        names = list(self.arg_names)
        bound = dict(zip(names, args, strict=False)) | kwargs
        spec = {k: _type_of(v) if isinstance(v, torch.Tensor) else v for k, v in bound.items()}
        launches.append({"module": self.fn.__module__, "name": self.fn.__name__, "args": spec})
        return original_run(self, *args, grid=grid, warmup=warmup, **kwargs)

    interpreter.InterpretedFunction.run = recording_run
    from hybridlab.kernels import (
        causal_conv1d,
        causal_conv1d_update,
        gated_delta_rule,
        gated_delta_step,
        selective_scan,
        selective_state_update,
        ssd,
    )
    from hybridlab.kernels.gated_delta.triton import api as gated_delta_api

    # The gated delta launchers pick smaller dv blocks on GPUs than under the interpreter.
    gated_delta_api.INTERPRET = False

    try:
        for dtype in dtypes:
            torch.manual_seed(0)

            def leaf(*shape, scale=1.0, dtype=dtype):
                return (torch.randn(*shape) * scale).to(dtype).requires_grad_()

            def keys(*shape, dtype=dtype):
                """L2-normalised keys, as Gated DeltaNet's."""
                return torch.nn.functional.normalize(torch.randn(*shape), dim=-1).to(dtype)

            b, l, h, p, g, n = 1, 70, 4, 64, 2, 64
            for extras in (
                {},
                dict(D=leaf(h), dt_bias=leaf(h), dt_softplus=True),
                dict(D=leaf(h, p), z=leaf(b, l, h, p), initial_state=leaf(b, h, p, n)),
            ):
                y, final = ssd(
                    leaf(b, l, h, p), leaf(b, l, h, scale=0.1).abs().detach().requires_grad_(),
                    -leaf(h).abs().detach().requires_grad_(), leaf(b, l, g, n), leaf(b, l, g, n),
                    chunk_size=64, return_final_state=True, backend="triton", **extras,
                )  # fmt: skip
                (y.float().sum() + final.float().sum()).backward()
            d, n = 32, 16
            for extras in (
                {},
                dict(D=leaf(d), z=leaf(b, d, l), delta_bias=leaf(d), delta_softplus=True,
                     initial_state=leaf(b, d, n)),
            ):  # fmt: skip
                y, final = selective_scan(
                    leaf(b, d, l), leaf(b, d, l, scale=0.1), -leaf(d, n).abs().detach(),
                    leaf(b, 2, n, l), leaf(b, 2, n, l),
                    return_final_state=True, backend="triton", **extras,
                )  # fmt: skip
                (y.float().sum() + final.float().sum()).backward()
            for init in (None, leaf(b, d, 3)):
                y = causal_conv1d(
                    leaf(b, d, l), leaf(d, 4), leaf(d), init, "silu", backend="triton"
                )
                y.float().sum().backward()
            with torch.no_grad():
                selective_state_update(
                    leaf(b, h, p, 128), leaf(b, h, p), leaf(b, h), -leaf(h).abs(),
                    leaf(b, g, 128), leaf(b, g, 128), D=leaf(h), z=leaf(b, h, p),
                    dt_bias=leaf(h), dt_softplus=True, backend="triton",
                )  # fmt: skip
                selective_state_update(
                    leaf(b, d, n), leaf(b, d), leaf(b, d), -leaf(d, n).abs(), leaf(b, n),
                    leaf(b, n), D=leaf(d), backend="triton",
                )  # fmt: skip
                causal_conv1d_update(leaf(b, d), leaf(b, d, 4), leaf(d, 4), leaf(d), "silu",
                                     backend="triton")  # fmt: skip
            # Gated DeltaNet's heads: dk = 64 or 128, dv = 2 dk (expand_v = 2).
            for dk in (64, 128):
                dv, h, length = 2 * dk, 2, 9
                for h0 in (None, leaf(b, h, dk, dv)):
                    o, final = gated_delta_rule(
                        leaf(b, length, h, dk), keys(b, length, h, dk).requires_grad_(),
                        leaf(b, length, h, dv), -leaf(b, length, h).abs().detach(),
                        leaf(b, length, h).sigmoid().detach(), initial_state=h0,
                        return_final_state=True, backend="triton",
                    )  # fmt: skip
                    (o.float().sum() + final.float().sum()).backward()
                with torch.no_grad():
                    gated_delta_step(
                        leaf(b, h, dk, dv), leaf(b, h, dk), keys(b, h, dk), leaf(b, h, dv),
                        -leaf(b, h).abs(), leaf(b, h).sigmoid(), backend="triton",
                    )  # fmt: skip
    finally:
        interpreter.InterpretedFunction.run = original_run
        gated_delta_api.INTERPRET = True
    return launches


def _kernel(module: str, name: str):
    """The compiled-mode kernel object (an Autotuner or a JITFunction) of a recorded launch."""
    import importlib

    return getattr(importlib.import_module(module), name)


def _type_of(value) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        names = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        return "*" + names[value.dtype]
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32" if -(2**31) <= value < 2**31 else "i64"
    if isinstance(value, float):
        return "fp32"
    raise TypeError(f"unsupported kernel argument {type(value)}")


def _resource_usage(cubin: bytes, cuobjdump: Path) -> dict[str, int]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        text = subprocess.run(
            [str(cuobjdump), "--dump-resource-usage", f.name], capture_output=True, text=True
        ).stdout
    return {k: int(v) for k, v in re.findall(r"\b(REG|STACK|SHARED|LOCAL):(\d+)", text)}


def _variants(launches) -> list[dict]:
    """What to compile: each kernel × autotune config × argument types × non-boolean
    constexprs once, from the launch with the most boolean constexprs (features) on."""
    from triton.runtime.autotuner import Autotuner

    best: dict[str, tuple[int, dict]] = {}
    for launch in launches:
        kernel = _kernel(launch["module"], launch["name"])
        configs = kernel.all_configs if isinstance(kernel, Autotuner) else [None]
        jit = kernel.fn if isinstance(kernel, Autotuner) else kernel
        bound = launch["args"]
        signature = {
            p.name: "constexpr" if p.is_constexpr else _spec_type(bound[p.name]) for p in jit.params
        }
        constexprs = {p.name: bound[p.name] for p in jit.params if p.is_constexpr}
        flags = {k: v for k, v in constexprs.items() if isinstance(v, bool)}
        for config in configs:
            options = {
                "num_warps": bound.get("num_warps", 4),
                "num_stages": bound.get("num_stages", 3),
            }
            chosen = dict(constexprs)
            if config is not None:
                chosen.update(config.kwargs)
                options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
            shape = {k: v for k, v in chosen.items() if k not in flags}
            key = json.dumps([launch["name"], signature, shape, options], sort_keys=True)
            variant = {
                "module": launch["module"],
                "name": launch["name"],
                "signature": signature,
                "constexprs": chosen,
                "options": options,
            }
            if key not in best or sum(flags.values()) > best[key][0]:
                best[key] = (sum(flags.values()), variant)
    return [variant for _, variant in best.values()]


def _compile_one(variant: dict, arch: int) -> str:
    """Compile one variant for sm_<arch>; its report line, or "FAIL ..." with the error."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.runtime.autotuner import Autotuner

    kernel = _kernel(variant["module"], variant["name"])
    jit = kernel.fn if isinstance(kernel, Autotuner) else kernel
    constexprs, options = variant["constexprs"], variant["options"]
    src = triton.compiler.ASTSource(fn=jit, signature=variant["signature"], constexprs=constexprs)
    start = time.perf_counter()
    try:
        compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
    except Exception as e:  # every failure is reported, then the run exits non-zero
        return f"FAIL {variant['name']} {constexprs} {options}: {type(e).__name__}: {e}"[:3000]
    cuobjdump = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    usage = _resource_usage(compiled.asm["cubin"], cuobjdump)
    types = variant["signature"].values()
    dtype = next((t for t in types if t in ("*bf16", "*fp16")), "*fp32")[1:]
    tuned = {k: v for k, v in constexprs.items() if k.startswith("B")}
    spill = usage.get("LOCAL", 0) + usage.get("STACK", 0)
    return (
        f"{variant['name']:32s} {dtype:4s} {json.dumps(tuned):58s} "
        f"w{options['num_warps']} s{options['num_stages']} reg {usage.get('REG', -1):3d} "
        f"stack+local {spill:5d} smem {compiled.metadata.shared:6d} "
        f"{time.perf_counter() - start:4.1f}s{'  SPILLS' if spill else ''}"
    )


def _compile_all(launches, arch: int, jobs: int) -> int:
    import triton

    variants = _variants(launches)
    kernels = len({v["name"] for v in variants})
    print(
        f"triton {triton.__version__}, target sm_{arch}, {len(launches)} launches recorded, "
        f"{len(variants)} variants of {kernels} kernels, {jobs} processes",
        flush=True,
    )
    failures = 0
    with ProcessPoolExecutor(jobs) as pool:
        for line in pool.map(_compile_one, variants, [arch] * len(variants)):
            failures += line.startswith("FAIL")
            print(line, flush=True)
    print(f"\n{len(variants) - failures} variants compiled, {failures} failed")
    return 1 if failures else 0


def _spec_type(value) -> str:
    """Signature type of a recorded argument: tensors were recorded as their pointer type."""
    if isinstance(value, str) and value.startswith("*"):
        return value
    return _type_of(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 80, 90")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument(
        "--launches",
        type=Path,
        help="read the recorded launches from this JSON file if it exists, else record and save "
        "them there (Triton 3.6's interpreter fails with NumPy >= 2.4: record with a newer Triton, "
        "then compile with 3.6 from the file)",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="compiling processes (all cores)"
    )
    parser.add_argument("--record", help=argparse.SUPPRESS)  # internal: the interpreter phase
    args = parser.parse_args(argv)

    if args.record:
        import torch

        launches = _record_launches([getattr(torch, name) for name in args.dtypes])
        Path(args.record).write_text(json.dumps(launches))
        return 0

    if args.launches is not None and args.launches.exists():
        launches = json.loads(args.launches.read_text())
    else:
        launches = _record_in_subprocesses(args.dtypes)
        if args.launches is not None:
            args.launches.write_text(json.dumps(launches))
    return _compile_all(launches, args.arch, args.jobs)


def _record_in_subprocesses(dtypes: list[str]) -> list[dict]:
    """The interpreter phase, one subprocess per dtype, side by side (each is one core's work)."""
    env = dict(os.environ, TRITON_INTERPRET="1")
    with tempfile.TemporaryDirectory() as tmp:
        records = [Path(tmp) / f"{dtype}.json" for dtype in dtypes]
        running = [
            subprocess.Popen([sys.executable, __file__, "--record", str(record), "--dtypes", dtype],
                             env=env)
            for dtype, record in zip(dtypes, records, strict=True)
        ]  # fmt: skip
        if any(process.wait() != 0 for process in running):
            raise SystemExit("recording the kernel launches under the interpreter failed")
        return [launch for record in records for launch in json.loads(record.read_text())]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

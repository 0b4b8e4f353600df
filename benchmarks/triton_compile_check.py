"""Compile every Triton kernel of hybridlab for a GPU target, on a machine without a GPU.

    python benchmarks/triton_compile_check.py [--arch 90] [--dtypes float32 bfloat16] [--launches F]

What it does: runs each op (forward and backward) once under Triton's interpreter on small CPU
tensors, in a subprocess, recording every kernel launch (its argument types and constexprs); then,
in this process (the interpreter leaves `triton.language` patched), compiles each
recorded launch ahead of time for `sm_<arch>` with every autotune config of the kernel, through
Triton's own compiler and the ptxas shipped in the Triton wheel, and prints registers, spills
(local memory) and shared memory per kernel and config. A kernel that does not compile for real
GPUs (an unsupported op, a dot smaller than 16, too much shared memory, ...) fails here instead
of on the GPU machine. Run it with each Triton version the GPU machines carry (e.g. 3.6 and the
newest) by pointing PYTHONPATH at that version. Compilation, not correctness: numbers come from
tests/kernels/triton (interpreter) and `make gpu-check` (GPU).
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
        selective_scan,
        selective_state_update,
        ssd,
    )

    try:
        for dtype in dtypes:
            torch.manual_seed(0)

            def leaf(*shape, scale=1.0, dtype=dtype):
                return (torch.randn(*shape) * scale).to(dtype).requires_grad_()

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
    finally:
        interpreter.InterpretedFunction.run = original_run
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


def _compile_all(launches, arch: int) -> int:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.runtime.autotuner import Autotuner

    cuobjdump = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    target = GPUTarget("cuda", arch, 32)
    print(f"triton {triton.__version__}, target sm_{arch}, {len(launches)} launches recorded")
    seen, failures = set(), 0
    for launch in launches:
        kernel = _kernel(launch["module"], launch["name"])
        configs = kernel.all_configs if isinstance(kernel, Autotuner) else [None]
        jit = kernel.fn if isinstance(kernel, Autotuner) else kernel
        bound = launch["args"]
        for config in configs:
            constexprs = {
                p.name: bound[p.name] for p in jit.params if p.is_constexpr and p.name in bound
            }
            options = {
                "num_warps": bound.get("num_warps", 4),
                "num_stages": bound.get("num_stages", 3),
            }
            if config is not None:
                constexprs.update(config.kwargs)
                options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
            signature = {
                p.name: "constexpr" if p.is_constexpr else _spec_type(bound[p.name])
                for p in jit.params
            }
            key = json.dumps([launch["name"], signature, constexprs, options], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            src = triton.compiler.ASTSource(fn=jit, signature=signature, constexprs=constexprs)
            start = time.perf_counter()
            try:
                compiled = triton.compile(src, target=target, options=options)
            except Exception as e:  # report every failure, then exit non-zero
                failures += 1
                print(
                    f"FAIL {launch['name']} {constexprs} {options}: {type(e).__name__}: {e}"[:3000]
                )
                continue
            usage = _resource_usage(compiled.asm["cubin"], cuobjdump)
            dtype = next((t for t in signature.values() if t in ("*bf16", "*fp16")), "*fp32")[1:]
            tuned = {k: v for k, v in constexprs.items() if k.startswith("BLOCK")}
            spill = usage.get("LOCAL", 0) + usage.get("STACK", 0)
            flag = "  SPILLS" if spill else ""
            print(
                f"{launch['name']:32s} {dtype:4s} {json.dumps(tuned):58s} "
                f"w{options['num_warps']} s{options['num_stages']} reg {usage.get('REG', -1):3d} "
                f"stack+local {spill:5d} smem {compiled.metadata.shared:6d} "
                f"{time.perf_counter() - start:4.1f}s{flag}",
                flush=True,
            )
    print(f"\n{len(seen) - failures} variants compiled, {failures} failed")
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
        with tempfile.TemporaryDirectory() as tmp:
            record = Path(tmp) / "launches.json"
            env = dict(os.environ, TRITON_INTERPRET="1")
            cmd = [sys.executable, __file__, "--record", str(record), "--dtypes", *args.dtypes]
            subprocess.run(cmd, env=env, check=True)
            launches = json.loads(record.read_text())
        if args.launches is not None:
            args.launches.write_text(json.dumps(launches))
    return _compile_all(launches, args.arch)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

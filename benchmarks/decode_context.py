"""Decode tokens/s and decoding-state memory against the context for attention, SSD, the
selective scan and a hybrid: the figure docs/decode_vs_context.png.

Run:  .venv/bin/python benchmarks/decode_context.py [--contexts 256 1024 4096 16384] [--batch 1]
Needs: matplotlib. CPU, fp32, one thread, `hybridlab bench`'s protocol (hybridlab/bench): decode
after a prompt of each length (`measure(..., phases=["decode"])`), the median of 11 runs of 8
greedy steps; state bytes analytic (`hybridlab.state_bytes`), for the batch.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import date
from pathlib import Path

import torch

import hybridlab
from hybridlab.bench import Protocol, measure

STACKS = {
    "attention": "attn(heads=4)*4",
    "SSD (Mamba-2)": "ssd(d_state=64, headdim=64)*4",
    "scan (Mamba-1)": "scan(d_state=16)*4",
    "hybrid (3 SSD : 1 attn)": "[ssd(d_state=64, headdim=64)]*2, attn(heads=4), ssd(d_state=64, "
    "headdim=64)",
}
OUT = Path(__file__).resolve().parents[1] / "docs" / "decode_vs_context.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    protocol = Protocol(memory=False, threads=1)
    print(
        f"{date.today()}  {platform.machine()}, 1 thread, torch {torch.__version__}, fp32, "
        f"d_model {args.d_model}, batch {args.batch}"
    )
    rows: dict[str, list[tuple[int, float, int]]] = {}
    for name, text in STACKS.items():
        spec = hybridlab.parse(text, d_model=args.d_model, vocab_size=256)
        rows[name] = []
        for context in args.contexts:
            m = measure(spec, context, protocol, batch=args.batch, phases=["decode"])
            rows[name].append((context, m.tokens_per_s["decode"], m.state_bytes))
            print(
                f"{name:<24} context {context:>6}: decode {m.tokens_per_s['decode']:8,.0f} tok/s "
                f"(noise {100 * m.spread['decode']:.0f}%), state {m.state_bytes / 2**20:8.2f} MiB",
                flush=True,
            )
    print(json.dumps(rows))
    plot(rows, args)


def plot(rows, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, points in rows.items():
        contexts = [c for c, _, _ in points]
        speed.plot(contexts, [t for _, t, _ in points], marker="o", label=name)
        memory.plot(contexts, [b / 2**20 for _, _, b in points], marker="o", label=name)
    for ax, title, unit in (
        (speed, "greedy decode throughput", "decode tokens/s"),
        (memory, "decoding state (analytic)", "state MiB"),
    ):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context (tokens of prompt before decoding)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    speed.legend(fontsize=8)
    fig.suptitle(
        f"4 mixers, d_model {args.d_model}, batch {args.batch}, fp32, CPU 1 thread "
        f"(hybridlab bench protocol), {date.today()}",
        fontsize=9,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

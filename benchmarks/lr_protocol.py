"""Does a per-architecture learning rate change what a proxy says? Fixed rate against the race.

Run:  .venv/bin/python benchmarks/lr_protocol.py [--steps 1000] [--seeds 0 1] [--workers 2]

Each architecture of ARCHS is trained on MQAR (the quickstart's task: length 64, 4 key-value
pairs, vocabulary 80, 4,000 training examples) at the fixed rate of the old quickstart (3e-3)
and with `train.lr_race` over RATES (each candidate trains `lr_race_fraction` of the steps from
the same start; the lowest training loss continues). It prints one markdown table: accuracy per
protocol and seed, the rate the race chose, and the compute each protocol spent (steps trained,
wall time). One torch thread per run, `--workers` runs at a time.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date

from hybridlab.results import Status

ARCHS = {
    "attn×2": "attn(heads=2)*2",
    "ssd×2": "ssd(d_state=8, headdim=16)*2",
    "ssd, attn": "ssd(d_state=8, headdim=16), attn(heads=2)",
}
# scan×2 is left out: at ~3x the step time of attention it would double the benchmark's time.
FIXED = 3e-3
RATES = [1e-3, 3e-3, 1e-2]
TASK = {
    "vocab_size": 80,
    "seq_len": 64,
    "num_kv_pairs": 4,
    "num_train_examples": 4000,
    "num_eval_examples": 256,
}


def train_one(job: tuple[str, str, int, int, bool, float]) -> dict[str, object]:
    import torch

    from hybridlab.spec import parse
    from hybridlab.tasks import make_task
    from hybridlab.train import TrainConfig, train_proxy

    name, text, steps, seed, race, fraction = job
    torch.set_num_threads(1)
    config = TrainConfig(
        steps=steps,
        batch_size=64,
        lr=FIXED,
        lr_race=RATES if race else [],
        lr_race_fraction=fraction,
        weight_decay=0.0,
        eval_every=None,
        seed=seed,
        device="cpu",
        num_threads=1,
    )
    result = train_proxy(parse(text, d_model=64), make_task("mqar", TASK), config)
    return {
        "name": name,
        "seed": seed,
        "race": race,
        "accuracy": result.accuracy,
        "lr": result.lr,
        "steps": result.steps_done + result.race_steps,
        "wall": result.wall_time_s,
        "status": result.status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    jobs = [
        (name, text, args.steps, seed, race, args.fraction)
        for name, text in ARCHS.items()
        for race in (False, True)
        for seed in args.seeds
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(train_one, jobs))
    print(
        f"MQAR (length 64, 4 pairs, vocab 80, 4,000 examples), d_model 64, batch 64, "
        f"{args.steps} steps, seeds {args.seeds}; fixed lr {FIXED:g} vs race over {RATES} on "
        f"{args.fraction:.0%} of the steps; {platform.processor() or platform.machine()}, "
        f"1 thread per run, {date.today()}, {time.perf_counter() - start:.0f} s in all\n"
    )
    print(
        "| architecture | fixed 3e-3: accuracy per seed | race: accuracy per seed | race chose "
        "| steps fixed / race | wall s fixed / race |"
    )
    print("|---|---|---|---|---|---|")
    for name in ARCHS:
        fixed = [r for r in rows if r["name"] == name and not r["race"]]
        raced = [r for r in rows if r["name"] == name and r["race"]]

        def accs(runs: list[dict[str, object]]) -> str:
            return ", ".join(
                f"{r['accuracy']:.3f}" if r["status"] == Status.OK else "failed" for r in runs
            )

        chose = ", ".join(f"{r['lr']:g}" for r in raced)
        wall = (
            f"{statistics.fmean(float(r['wall']) for r in fixed):.0f} / "
            f"{statistics.fmean(float(r['wall']) for r in raced):.0f}"
        )
        print(
            f"| `{ARCHS[name]}` | {accs(fixed)} | {accs(raced)} | {chose} | "
            f"{fixed[0]['steps']} / {raced[0]['steps']} | {wall} |"
        )


if __name__ == "__main__":
    main()

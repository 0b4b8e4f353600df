"""What the study machinery costs: the same small study with 1 and 2 trials at a time on Ray.

    .venv/bin/python benchmarks/study_overhead.py               # ~60 s trials, ~14 minutes
    .venv/bin/python benchmarks/study_overhead.py --steps 150   # a quick look (~10 s trials)

The study (benchmarks/studies/overhead.yaml) trains eight attention+MLP models of nearly the same
cost on MQAR, one per grid point, with MLflow tracking on, through `run_study` exactly as
`hybridlab study run` does: the executor starts local Ray, Tune runs the trials, the driver asks
and tells Optuna and logs to MLflow. Each configuration runs in a fresh study folder and a fresh
local Ray, so Ray's start is paid (and counted) every time.

Printed per configuration: wall time, trials/hour, the time inside training (the sum of the
trials' `wall_time_s`, measured by `train_proxy` around its training loop and evaluation), and
the overhead: the share of the executor's capacity (wall time x concurrent trials) not spent
inside training; Ray's and Tune's start, Optuna, MLflow, process start and idle slots all count
against it. The anchor is the ideal: trials x mean training time / concurrency.

Targets (issue "Distributed studies on Ray"): 2 concurrent trials give >= 1.6x the trials/hour of
1, and the overhead is <= 10% of wall time for trials of about 60 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

STUDY = Path(__file__).parent / "studies" / "overhead.yaml"


def run(concurrency: int, steps: int, folder: Path) -> dict[str, float]:
    from hybridlab.study import load_plan, run_study
    from hybridlab.study.storage import open_study

    overrides = [
        f"executor.max_concurrent={concurrency}",
        f"train.steps={steps}",
        f"output={folder}",
    ]
    plan = load_plan(STUDY, overrides)
    start = time.perf_counter()
    summary = run_study(plan)
    wall = time.perf_counter() - start
    trials = [t for t in open_study(plan, create=False).trials if t.values is not None]
    inside = [t.user_attrs["wall_time_s"] for t in trials]
    assert summary.complete == len(trials) == plan.budget.trials, summary
    return {
        "concurrency": concurrency,
        "trials": len(trials),
        "wall_s": wall,
        "trials_per_hour": 3600 * len(trials) / wall,
        "train_s_mean": statistics.mean(inside),
        "ideal_s": sum(inside) / concurrency,
        "overhead": 1 - sum(inside) / (wall * concurrency),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps per trial")
    args = parser.parse_args()
    import torch

    from hybridlab.study import load_plan

    steps = args.steps or load_plan(STUDY).train.steps
    rows = []
    with tempfile.TemporaryDirectory(prefix="hl-overhead-") as tmp:
        for concurrency in (1, 2):
            rows.append(run(concurrency, steps, Path(tmp) / f"c{concurrency}"))
    print(
        f"\nstudy_overhead: {STUDY.name}, {rows[0]['trials']} trials of {steps} steps, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, 1 CPU (1 thread) per trial, "
        f"MLflow sqlite tracking\n"
    )
    print("| concurrent | wall s | trials/hour | training s per trial | ideal s | overhead |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['wall_s']:.1f} | {r['trials_per_hour']:.1f} | "
            f"{r['train_s_mean']:.1f} | {r['ideal_s']:.1f} | {100 * r['overhead']:.1f}% |"
        )
    scaling = rows[1]["trials_per_hour"] / rows[0]["trials_per_hour"]
    print(f"\nscaling 2 vs 1 concurrent trials: {scaling:.2f}x (target >= 1.6x)")
    worst = max(r["overhead"] for r in rows)
    print(f"largest overhead: {100 * worst:.1f}% of wall time (target <= 10%)")


if __name__ == "__main__":
    main()

"""Is a study's front the architectures' or the seed's? Train every architecture under k seed sets.

Run:  .venv/bin/python benchmarks/front_stability.py STUDY.yaml [--seed-sets 3] [--seeds-per-set 1]
          [--first-seed 1000] [--workers 2] [--only 0 2] [--json] [key=value ...]

The architectures are the study space's grid (every combination of its finite knobs, as
`sampler: grid` enumerates them; an architecture two grid points share is trained once). A seed
set is one whole run of the study's training over every architecture, with training seeds no
other set uses: `train.seed` fixes the initialisation, the order (or stream) of training
examples and whatever the learning-rate choice depends on. With `--seeds-per-set r` each set
trains every architecture under r seeds and reports their mean, as a study whose trials train
r members each would. The task's data seed, and so its test split, stays the study's.

For each set the script computes the front the study would report (`hybridlab.pareto`) from the
measured objectives and the analytic costs (`hybridlab.cost`, exact), then prints markdown
tables: per architecture the mean ± std over sets of every measured objective; per measured
objective the Kendall τ-b between every pair of sets (mean and worst); how often two sets give
the same front and the Jaccard overlap of their fronts; the compute spent. The test loss is
reported beside the measured objectives (a continuous measure; on MQAR the loss on the recall
positions), though only the study's objectives make the front. `key=value` are the
study's own overrides (`train.steps=600`), so a candidate protocol is measured without editing
the file. Runs go through `hybridlab.execution.worker.run_trial` (the function a study's workers
run) in a process pool of `--workers`, one torch thread each, not through `hybridlab study run`.
With `train.seeds: n` the `--json` report keeps every member's seed, rate, test and validation
scores (`runs[i].members`), which `benchmarks/seed_statistics.py` resamples.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

# A seed set's measured values: {architecture: {objective label: value}}; an architecture whose
# runs failed in a set is missing from that set.
SetValues = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Agreement:
    """How much a statistic agrees between seed sets: its mean and worst over every pair."""

    mean: float | None
    worst: float | None
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "worst": self.worst, "pairs": self.pairs}


@dataclass
class Report:
    """Everything the script measured, as plain data (the `--json` output)."""

    study: str
    overrides: list[str]
    architectures: list[str]
    seeds: list[list[int]]
    per_set: dict[str, dict[str, list[float | None]]]
    summary: dict[str, dict[str, dict[str, float | int]]]
    kendall_tau: dict[str, dict[str, Any]]
    fronts: list[list[str]]
    same_front: dict[str, Any]
    jaccard: dict[str, Any]
    compute: dict[str, float | int]
    runs: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    members: int = 1  # train.seeds: a run of seed s trains the members s … s + members − 1


def spread_over_sets(sets: Sequence[SetValues], labels: Sequence[str]) -> dict[str, Any]:
    """Per architecture and objective: mean, std (sample, 0 for one set) and n over the sets
    where the architecture has a value."""
    names = sorted({name for values in sets for name in values})
    summary: dict[str, dict[str, dict[str, float | int]]] = {}
    for name in names:
        summary[name] = {}
        for label in labels:
            xs = [v[name][label] for v in sets if name in v and label in v[name]]
            if xs:
                std = statistics.stdev(xs) if len(xs) > 1 else 0.0
                summary[name][label] = {"mean": statistics.fmean(xs), "std": std, "n": len(xs)}
    return summary


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's τ-b of two rankings of the same items (`hybridlab.validation.ranking`, as
    scipy computes it); None when undefined (fewer than two items, or all tied in one)."""
    from hybridlab.validation.ranking import kendall_tau_b

    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs rankings of equal length, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return None
    tau = float(kendall_tau_b(np.asarray([x], np.float64), np.asarray([y], np.float64))[0])
    return None if math.isnan(tau) else tau


def tau_between_sets(sets: Sequence[SetValues], label: str) -> Agreement:
    """Kendall τ-b of `label` between every pair of sets, over the architectures both measured;
    `worst` is the lowest. A pair whose τ is undefined is left out of both."""
    taus = []
    for a, b in itertools.combinations(sets, 2):
        common = sorted(n for n in a.keys() & b.keys() if label in a[n] and label in b[n])
        tau = kendall_tau([a[n][label] for n in common], [b[n][label] for n in common])
        if tau is not None:
            taus.append(tau)
    if not taus:
        return Agreement(None, None, 0)
    return Agreement(statistics.fmean(taus), min(taus), len(taus))


def front_of(
    values: SetValues,
    costs: Mapping[str, Mapping[str, float]],
    labels: Sequence[str],
    directions: Sequence[str],
) -> frozenset[str]:
    """The architectures no other one dominates, on the objectives `labels` in that order: the
    measured ones from `values`, the analytic ones from `costs`. An architecture without a
    measured value (its runs failed) is on no front."""
    from hybridlab.pareto import nondominated

    names = sorted(values)
    vectors = [[{**costs.get(n, {}), **values[n]}[label] for label in labels] for n in names]
    return frozenset(names[i] for i in nondominated(vectors, directions))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; two empty fronts agree (1.0)."""
    union = a | b
    return 1.0 if not union else len(a & b) / len(union)


def front_agreement(fronts: Sequence[frozenset[str]]) -> tuple[Agreement, Agreement]:
    """(the share of pairs of sets whose fronts are the same, as mean with worst 0 or 1; the
    Jaccard overlap of the fronts, mean and worst over pairs)."""
    pairs = list(itertools.combinations(fronts, 2))
    if not pairs:
        return Agreement(None, None, 0), Agreement(None, None, 0)
    same = [float(a == b) for a, b in pairs]
    overlap = [jaccard(a, b) for a, b in pairs]
    return (
        Agreement(statistics.fmean(same), min(same), len(pairs)),
        Agreement(statistics.fmean(overlap), min(overlap), len(pairs)),
    )


def mean_of_seeds(runs: Sequence[Mapping[str, float] | None]) -> dict[str, float] | None:
    """A set's value of one architecture: the mean over its seeds of every measured objective;
    None when any seed failed (a study trial whose member fails is a failed trial)."""
    if not runs or any(r is None for r in runs):
        return None
    labels = set.intersection(*(set(r) for r in runs if r is not None))
    return {label: statistics.fmean(r[label] for r in runs if r is not None) for label in labels}


class _GridPoint:
    """A suggester that answers each knob from one grid point (`sample_knobs` asks only the
    active ones)."""

    def __init__(self, point: Mapping[str, Any]) -> None:
        self.point = point

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.point[name]

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> Any:
        return self.point[name]

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> Any:
        return self.point[name]


def architectures(plan: Any) -> dict[str, Any]:
    """The study space's grid as {stack text: ModelSpec}, in grid order, each once; infeasible
    points are left out."""
    from hybridlab.space import InfeasibleSample
    from hybridlab.study.samplers import grid_space

    grid = grid_space(plan.space)
    specs: dict[str, Any] = {}
    for combination in itertools.product(*grid.values()):
        point = dict(zip(grid, combination, strict=True))
        try:
            proposal = plan.space.propose(_GridPoint(point), plan.task.vocab_size)
        except InfeasibleSample:
            continue
        specs.setdefault(proposal.spec.format(), proposal.spec)
    return specs


def _values(plan: Any, result: dict[str, Any]) -> dict[str, float] | None:
    """A run's measured objectives by label, and its test loss as "loss"; None if it failed."""
    from hybridlab.study.requests import measured_values

    values = measured_values(plan, result)
    if values is not None and result.get("loss") is not None:
        values.setdefault("loss", float(result["loss"]))
    return values


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _train(request: dict[str, Any]) -> dict[str, Any]:
    from hybridlab.execution.worker import run_trial

    return run_trial(request)


def measure(
    study: Path,
    overrides: list[str],
    seed_sets: int,
    seeds_per_set: int,
    first_seed: int,
    workers: int,
    only: list[int] | None,
) -> Report:
    """Train every architecture under every seed of every set; summarise (see the module)."""
    from hybridlab.study.config import load_plan
    from hybridlab.study.requests import trial_request

    plan = load_plan(study, overrides)
    specs = architectures(plan)
    names = list(specs)
    if only:
        names = [names[i] for i in only]
    # With `train.seeds: k` a run trains the members seed … seed + k − 1: runs step by k, so
    # that no two runs, and no two sets, share a member's seed.
    stride = plan.train.seeds
    seeds = [
        [first_seed + (s * seeds_per_set + r) * stride for r in range(seeds_per_set)]
        for s in range(seed_sets)
    ]
    jobs = [
        (name, s, seed) for s, set_seeds in enumerate(seeds) for seed in set_seeds for name in names
    ]
    requests = [
        trial_request(plan, number, specs[name].to_dict(), seed).to_dict()
        for number, (name, _, seed) in enumerate(jobs)
    ]
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        for (name, s, seed), result in zip(jobs, pool.map(_train, requests), strict=True):
            results.append(result)
            print(
                f"[{time.perf_counter() - start:6.0f} s] set {s}, seed {seed}, {name}: "
                f"accuracy {result.get('accuracy')}, lr {result.get('lr')}, "
                f"{float(result.get('wall_time_s') or 0):.0f} s",
                file=sys.stderr,
                flush=True,
            )
    wall = time.perf_counter() - start

    # The test loss (on MQAR: on the recall positions alone) is reported beside the study's
    # measured objectives even when it is none of them: a continuous measure of the same runs.
    measured = [*plan.measured_labels, *(["loss"] if "loss" not in plan.labels else [])]
    per_run: dict[tuple[str, int], list[dict[str, float] | None]] = {}
    failures = []
    for (name, s, seed), result in zip(jobs, results, strict=True):
        values = _values(plan, result)
        if values is None:
            failures.append(f"{name}, seed {seed}: {result.get('failure_reason')}")
        per_run.setdefault((name, s), []).append(values)
    sets: list[SetValues] = []
    for s in range(seed_sets):
        set_values = {}
        for name in names:
            value = mean_of_seeds(per_run[(name, s)])
            if value is not None:
                set_values[name] = value
        sets.append(set_values)

    costs = {
        name: {o.label: o.value(None, specs[name]) for o in plan.objectives if not o.measured}
        for name in names
    }
    fronts = [front_of(v, costs, plan.labels, plan.directions) for v in sets]
    same, overlap = front_agreement(fronts)
    # Member steps: a run of k members (train.seeds × its rates) trains k models a step.
    steps = sum(
        (int(r.get("steps_done") or 0) + int(r.get("race_steps") or 0))
        * max(1, len(r.get("members") or ()))
        for r in results
    )
    return Report(
        study=str(study),
        overrides=overrides,
        architectures=names,
        seeds=seeds,
        members=stride,
        per_set={
            name: {label: [v.get(name, {}).get(label) for v in sets] for label in measured}
            for name in names
        },
        summary=spread_over_sets(sets, measured),
        kendall_tau={label: tau_between_sets(sets, label).to_dict() for label in measured},
        fronts=[sorted(f, key=names.index) for f in fronts],
        same_front=same.to_dict(),
        jaccard=overlap.to_dict(),
        compute={
            "runs": len(jobs),
            "wall_s": wall,
            "run_s": sum(float(r.get("wall_time_s") or 0.0) for r in results),
            "steps": steps,
            "workers": workers,
        },
        runs=[
            {
                "architecture": name,
                "set": s,
                "seed": seed,
                "values": _values(plan, result),
                "lr": result.get("lr"),
                "steps": int(result.get("steps_done") or 0) + int(result.get("race_steps") or 0),
                "wall_s": result.get("wall_time_s"),
                # With train.seeds > 1: every member's seed, rate and outcome.
                "members": result.get("members") or [],
            }
            for (name, s, seed), result in zip(jobs, results, strict=True)
        ],
        failures=failures,
    )


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(report: Report) -> str:
    """The report as the markdown tables of benchmarks/README.md."""
    measured = list(report.kendall_tau)

    def _members(seed: int) -> str:  # a run's member seeds, "1000+1001" with train.seeds 2
        return "+".join(str(seed + m) for m in range(report.members))

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    lines = [
        f"`{report.study}` {' '.join(report.overrides)}: {len(report.architectures)} "
        f"architectures, {len(report.seeds)} seed sets of {len(report.seeds[0])} seed(s) "
        f"({', '.join('/'.join(map(_members, s)) for s in report.seeds)}); "
        f"{platform.processor() or platform.machine()}, {date.today()}, "
        f"{report.compute['runs']} runs, {report.compute['workers']} at a time, "
        f"{report.compute['wall_s']:.0f} s wall, {report.compute['steps']:,} steps"
        + (f", load average {load[0]:.1f} at the end" if load else ""),
        "",
        "| architecture | "
        + " | ".join(f"{label}: per set" for label in measured)
        + " | "
        + " | ".join(f"{label}: mean ± std" for label in measured)
        + " | on the front |",
        "|---|" + "---|" * (2 * len(measured) + 1),
    ]
    for name in report.architectures:
        per_set = []
        for label in measured:
            values = report.per_set.get(name, {}).get(label, [])
            per_set.append(" / ".join(_number(v) for v in values))
        stats = report.summary.get(name, {})
        spreads = [
            f"{stats[label]['mean']:.3f} ± {stats[label]['std']:.3f}"
            if label in stats
            else "failed"
            for label in measured
        ]
        on_front = sum(name in front for front in report.fronts)
        lines.append(
            f"| `{name}` | {' | '.join(per_set)} | {' | '.join(spreads)} | "
            f"{on_front} of {len(report.fronts)} |"
        )
    lines += ["", "| measured objective | Kendall τ between sets: mean | worst | pairs |"]
    lines.append("|---|---|---|---|")
    for label, tau in report.kendall_tau.items():
        lines.append(
            f"| {label} | {_number(tau['mean'])} | {_number(tau['worst'])} | {tau['pairs']} |"
        )
    lines += [
        "",
        f"Same front in {_number(report.same_front['mean'], 2)} of the pairs of sets "
        f"({report.same_front['pairs']} pairs); Jaccard overlap of the fronts "
        f"{_number(report.jaccard['mean'], 2)} (worst {_number(report.jaccard['worst'], 2)}). "
        "Fronts: " + "; ".join("{" + ", ".join(f"`{n}`" for n in f) + "}" for f in report.fronts),
        f"Compute: {report.compute['runs']} runs, {report.compute['steps']:,} steps, "
        f"{report.compute['run_s']:.0f} s of training summed over runs, "
        f"{report.compute['wall_s']:.0f} s wall.",
    ]
    if report.failures:
        lines += ["", "Failed runs: " + "; ".join(report.failures)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a study file, e.g. studies/quickstart.yaml")
    parser.add_argument("overrides", nargs="*", help="study overrides, key=value")
    parser.add_argument("--seed-sets", type=int, default=3)
    parser.add_argument("--seeds-per-set", type=int, default=1)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=1000,
        help="set s, seed r trains with train.seed = first_seed + (s * seeds_per_set + r) * k "
        "(k = train.seeds, the members of a run)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--only", type=int, nargs="+", help="train only these architectures (grid order, from 0)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_intermixed_args(argv)
    if args.seed_sets < 2 or args.seeds_per_set < 1 or args.workers < 1:
        parser.error("need --seed-sets ≥ 2, --seeds-per-set ≥ 1 and --workers ≥ 1")
    report = measure(
        args.study,
        args.overrides,
        args.seed_sets,
        args.seeds_per_set,
        args.first_seed,
        args.workers,
        args.only,
    )
    print(json.dumps(report.__dict__, indent=1) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

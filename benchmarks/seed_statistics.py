"""How many seeds, and which statistic of them, make a front the architectures'? Resampled from
measured members.

Run:  .venv/bin/python benchmarks/seed_statistics.py REPORT.json [REPORT.json ...]
          [--k 1 2 4] [--partitions 2000] [--seed 0] [--json]

Each REPORT is the `--json` output of `benchmarks/front_stability.py` run with `train.seeds: n`
(every run trains n members; the reports' members are pooled per architecture, so that two
reports of the same protocol on different seeds, or on different architectures, add up). From
the pooled member outcomes the script estimates, without training anything, what
`front_stability.py` would measure if every trial trained k members and reported one statistic
of them:

- `mean`: the mean test accuracy of the k members (what `train.seeds: k` reports);
- `best`: the test accuracy of the member with the lowest validation loss (restarts: the test
  split never chooses).

A trial whose outcome is a transition that happens by the budget's end or does not is a
Bernoulli draw: its mean over k seeds narrows as 1/√k, while the validation-chosen best of k
misses only when all k miss (probability (1 − p)^k). The tables show which of the two the
measured outcomes follow.

Per architecture: its members' accuracies, and the standard deviation of each statistic over
every k-subset of its seeds (the spread of that statistic between independent trials). Per
(statistic, k): the pooled seeds are split at random into disjoint groups of k, one group per
"seed set", `--partitions` times (with the same number of sets for every architecture, the
smallest pool's); over those splits the script reports the mean and worst Kendall τ-b of
accuracy between sets, how often two sets give the same front (the study's objectives: accuracy
from the members, the costs analytic), the largest standard deviation of an architecture's
accuracy across sets, and the share of splits in which the issue's targets hold together (the
same front and τ ≥ 0.8 in every pair of sets, every std ≤ 0.05). With few seeds per architecture
these are estimates with few independent sets behind them (8 seeds give 2 sets of 4): the
tables say how many.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from front_stability import front_agreement, front_of, spread_over_sets, tau_between_sets

# One member's outcome: {"seed", "lr", "accuracy", "valid_loss", ...} as `train_seeded` records.
Member = Mapping[str, Any]


def mean_accuracy(members: Sequence[Member]) -> float:
    """The mean test accuracy of `members`."""
    return statistics.fmean(float(m["accuracy"]) for m in members)


def best_on_validation(members: Sequence[Member]) -> float:
    """The test accuracy of the member with the lowest validation loss (ties: the lower seed)."""
    chosen = min(members, key=lambda m: (float(m["valid_loss"]), int(m["seed"])))
    return float(chosen["accuracy"])


STATISTICS: dict[str, Callable[[Sequence[Member]], float]] = {
    "mean": mean_accuracy,
    "best": best_on_validation,
}


def pooled_members(reports: Sequence[Mapping[str, Any]]) -> dict[str, list[Member]]:
    """Every architecture's members over every run of `reports`, by seed (a seed measured twice
    is kept once); members that failed or have no validation loss are left out."""
    pools: dict[str, dict[int, Member]] = {}
    for report in reports:
        for run in report["runs"]:
            for member in run.get("members") or []:
                if member.get("status") != "ok" or member.get("valid_loss") is None:
                    continue
                pools.setdefault(run["architecture"], {})[int(member["seed"])] = member
    return {name: [pool[s] for s in sorted(pool)] for name, pool in pools.items()}


def subset_std(members: Sequence[Member], k: int, statistic: str) -> float | None:
    """The standard deviation of `statistic` over every k-subset of `members` (None when there
    are fewer than k members, 0 with exactly k)."""
    if len(members) < k:
        return None
    values = [STATISTICS[statistic](s) for s in itertools.combinations(members, k)]
    return statistics.pstdev(values)


def resample(
    pools: Mapping[str, Sequence[Member]],
    costs: Mapping[str, Mapping[str, float]],
    labels: Sequence[str],
    directions: Sequence[str],
    k: int,
    statistic: str,
    partitions: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Split every architecture's seeds into disjoint groups of k (one per set), `partitions`
    times; summarise the agreement between the sets as `front_stability.py` does."""
    names = sorted(pools)
    n_sets = min(len(pools[n]) for n in names) // k
    if n_sets < 2:
        return {"sets": n_sets}
    taus, worst_taus, same, stds, met = [], [], [], [], 0
    for _ in range(partitions):
        sets: list[dict[str, dict[str, float]]] = [{} for _ in range(n_sets)]
        for name in names:
            order = rng.permutation(len(pools[name]))
            for s in range(n_sets):
                group = [pools[name][i] for i in order[s * k : (s + 1) * k]]
                sets[s][name] = {"accuracy": STATISTICS[statistic](group)}
        tau = tau_between_sets(sets, "accuracy")
        fronts = [front_of(v, costs, labels, directions) for v in sets]
        agree, _ = front_agreement(fronts)
        worst_std = max(
            spread["accuracy"]["std"] for spread in spread_over_sets(sets, ["accuracy"]).values()
        )
        taus.append(tau.mean)
        worst_taus.append(tau.worst)
        same.append(agree.mean)
        stds.append(worst_std)
        met += agree.worst == 1.0 and tau.worst >= 0.8 and worst_std <= 0.05
    return {
        "sets": n_sets,
        "tau_mean": statistics.fmean(taus),
        "tau_worst": statistics.fmean(worst_taus),
        "same_front": statistics.fmean(same),
        "largest_std": statistics.fmean(stds),
        "targets_met": met / partitions,
    }


def plan_costs(study: str, overrides: Sequence[str], names: Sequence[str]) -> Any:
    """(the analytic costs of `names`, the study's objective labels, their directions)."""
    from front_stability import architectures

    from hybridlab.study.config import load_plan

    plan = load_plan(Path(study), list(overrides))
    specs = architectures(plan)
    costs = {
        name: {o.label: o.value(None, specs[name]) for o in plan.objectives if not o.measured}
        for name in names
    }
    return costs, plan.labels, plan.directions


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown(
    pools: Mapping[str, Sequence[Member]],
    ks: Sequence[int],
    per_arch: Mapping[str, Mapping[str, float | None]],
    resampled: Mapping[str, Mapping[str, Any]],
    partitions: int,
) -> str:
    columns = [f"{s} of {k}" for k in ks for s in STATISTICS if not (k == 1 and s == "best")]
    lines = [
        "| architecture | seeds | member accuracies (by seed) | "
        + " | ".join(f"std, {c}" for c in columns)
        + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    for name, members in pools.items():
        accs = " ".join(f"{float(m['accuracy']):.2f}" for m in members)
        cells = " | ".join(_cell(per_arch[name].get(c)) for c in columns)
        lines.append(f"| `{name}` | {len(members)} | {accs} | {cells} |")
    lines += [
        "",
        f"Resampled over {partitions} random splits of the seeds into disjoint groups:",
        "",
        "| statistic | sets per split | τ of accuracy: mean | worst pair (mean over splits) "
        "| same front | largest std | splits meeting every target |",
        "|---|---|---|---|---|---|---|",
    ]
    for column, row in resampled.items():
        if row["sets"] < 2:
            lines.append(f"| {column} | {row['sets']} | too few seeds | | | | |")
            continue
        lines.append(
            f"| {column} | {row['sets']} | {row['tau_mean']:.3f} | {row['tau_worst']:.3f} | "
            f"{row['same_front']:.2f} | {row['largest_std']:.3f} | {row['targets_met']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="front_stability.py --json output")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partitions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if any(k < 1 for k in args.k) or args.partitions < 1:
        parser.error("need every --k ≥ 1 and --partitions ≥ 1")
    reports = []
    for path in args.reports:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            print(f"seed_statistics: cannot read {path}: {err}", file=sys.stderr)
            return 2
    pools = pooled_members(reports)
    if not pools:
        print(
            "seed_statistics: no members in the reports (run front_stability.py with "
            "train.seeds ≥ 2 and task.num_valid_examples ≥ 1)",
            file=sys.stderr,
        )
        return 2
    costs, labels, directions = plan_costs(reports[0]["study"], reports[0]["overrides"], pools)
    rng = np.random.default_rng(args.seed)
    per_arch: dict[str, dict[str, float | None]] = {name: {} for name in pools}
    resampled: dict[str, dict[str, Any]] = {}
    for k in args.k:
        for stat in STATISTICS:
            if k == 1 and stat == "best":
                continue  # the best of one seed is the seed
            column = f"{stat} of {k}"
            for name, members in pools.items():
                per_arch[name][column] = subset_std(members, k, stat)
            resampled[column] = resample(
                pools, costs, labels, directions, k, stat, args.partitions, rng
            )
    if args.json:
        print(json.dumps({"per_architecture": per_arch, "resampled": resampled}, indent=1))
    else:
        print(markdown(pools, args.k, per_arch, resampled, args.partitions))
    return 0


if __name__ == "__main__":
    sys.exit(main())

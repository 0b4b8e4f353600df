"""Does cost-aware ASHA buy the front for less training? Full training against `pruner: asha`.

Run:  .venv/bin/python benchmarks/pruning.py [--seeds 0 1 2] [--wall 240] [--late 200] [--reuse]

One fixed study (`benchmarks/studies/pruning.yaml`: the quickstart's MQAR task and training at 600
steps, a space of 2- and 3-mixer SSD/attention proxies at two widths and four state sizes, three
objectives, a seeded random sampler so that both arms meet the same architectures in the same order,
local Ray with 2 trials at a time) is run per seed twice under the same wall-clock budget: every
trial trained to the end ("full"), and with `pruner.name=asha` (rungs at 66, 198 and 594 steps, η =
3); `--late N` adds an arm "asha-late" whose first rung is at step N. `--reuse` reads a run that has
finished in `--out` instead of running it again. For each run it records, trial by trial as they
finish, the steps trained so far (every step of every trial, the learning-rate race's included) and
the hypervolume of the complete trials (the full arm's reference point for both arms).

It prints a markdown table and the two targets of issue 15:
- steps: the share of the full arm's training steps after which ASHA's hypervolume first comes
  within 2% of the full arm's final hypervolume (target ≤ 40%, median over seeds);
- wall clock: the hypervolume each arm has when the budget ends (target: ASHA higher in at
  least 2 of 3 seeds).
It draws `benchmarks/pruning.png` (hypervolume against steps and against time) and logs the
figure to the MLflow parent run of each ASHA study.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent
STUDY = ROOT / "studies" / "pruning.yaml"


@dataclass
class Run:
    seed: int
    arm: str
    # (seconds since the first trial started, steps trained so far, hypervolume so far), one
    # point per finished trial in the order they finished.
    points: list[tuple[float, int, float]] = field(default_factory=list)
    complete: int = 0
    pruned: int = 0
    folder: Path | None = None

    @property
    def steps(self) -> int:
        return self.points[-1][1] if self.points else 0

    def hv_at_time(self, seconds: float) -> float:
        return max([hv for t, _, hv in self.points if t <= seconds], default=0.0)

    def steps_to(self, target: float) -> int | None:
        return next((steps for _, steps, hv in self.points if hv >= target), None)


def run_arm(seed: int, arm: str, args: argparse.Namespace, refs: list[float] | None) -> Run:
    from optuna.trial import TrialState

    from hybridlab.pareto import study_hypervolume
    from hybridlab.study import load_plan, run_study
    from hybridlab.study.storage import open_study, stored_refs

    folder = args.out / f"{arm}-s{seed}"
    overrides = [f"sampler.seed={seed}", f"budget.wall_time_s={args.wall}", f"output={folder}"]
    if arm != "full":
        overrides.append("pruner.name=asha")
    if arm == "asha-late":
        overrides.append(f"pruner.min_steps={args.late}")
    plan = load_plan(STUDY, overrides)
    if not (args.reuse and (plan.folder / "study.journal").exists()):
        shutil.rmtree(plan.folder, ignore_errors=True)
        run_study(plan)
    study = open_study(plan, create=False)
    refs = refs or stored_refs(study, plan)
    race_extra = plan.train.race_steps * max(0, len(plan.train.lr_race) - 1)
    finished = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        and "steps_done" in t.user_attrs
        and "duplicate_of" not in t.user_attrs
    ]
    duplicates = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if "duplicate_of" in t.user_attrs
    ]
    events = sorted([*finished, *duplicates], key=lambda t: t.datetime_complete)
    start = min(t.datetime_start for t in events)
    run = Run(seed, arm, folder=plan.folder)
    steps, values = 0, []
    for trial in events:
        if "duplicate_of" not in trial.user_attrs:
            steps += int(trial.user_attrs["steps_done"]) + race_extra
        if trial.state == TrialState.COMPLETE:
            values.append(list(trial.values))
            run.complete += 1
        run.pruned += trial.state == TrialState.PRUNED
        hv = study_hypervolume(values, plan.directions, refs) if values else 0.0
        run.points.append(((trial.datetime_complete - start).total_seconds(), steps, hv))
    run.refs = refs  # type: ignore[attr-defined]
    return run


def plot(runs: list[Run], path: Path) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_steps, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    colours = {0: "tab:blue", 1: "tab:orange", 2: "tab:green"}
    for run in runs:
        style = {"full": "-", "asha": "--"}.get(run.arm, ":")
        colour = colours.get(run.seed % 3, "tab:gray")
        label = f"{run.arm}, seed {run.seed}"
        t, s, hv = zip(*run.points, strict=True) if run.points else ((), (), ())
        by_steps.step(s, hv, style, where="post", color=colour, label=label)
        by_time.step(t, hv, style, where="post", color=colour, label=label)
    by_steps.set(xlabel="training steps so far (all trials)", ylabel="hypervolume")
    by_time.set(xlabel="wall clock (s)", ylabel="hypervolume")
    by_steps.legend(fontsize=7)
    figure.suptitle(
        "full training (solid), cost-aware ASHA (dashed), ASHA from a late rung (dotted)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return figure


def log_to_mlflow(run: Run, figure: object) -> None:
    import mlflow

    assert run.folder is not None
    client = mlflow.MlflowClient(f"sqlite:///{run.folder.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("bench-pruning")
    if experiment is None:
        return
    (parent,) = client.search_runs(
        [experiment.experiment_id], "tags.`hybridlab.role` = 'study'", max_results=1
    )
    client.log_figure(parent.info.run_id, figure, "pruning_benchmark.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--wall", type=float, default=240.0, help="budget.wall_time_s per run")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-pruning"))
    parser.add_argument("--late", type=int, default=None, help="add an ASHA arm from this step")
    parser.add_argument("--reuse", action="store_true", help="read finished runs in --out")
    args = parser.parse_args()
    arms = ["asha", *(["asha-late"] if args.late else [])]

    runs: list[Run] = []
    for seed in args.seeds:
        full = run_arm(seed, "full", args, None)
        runs.append(full)
        for arm in arms:
            runs.append(run_arm(seed, arm, args, full.refs))  # type: ignore[attr-defined]

    print(f"\n{date.today()}, {platform.processor() or platform.machine()}, "
          f"wall budget {args.wall:.0f} s per run, local Ray, 2 trials at a time\n")  # fmt: skip
    print("| seed | arm | trials (complete / pruned) | steps trained | HV at the budget "
          "| steps to 98% of full's final HV |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    summary = []
    for arm in arms:
        fractions, wins = [], 0
        for seed in args.seeds:
            full = next(r for r in runs if r.seed == seed and r.arm == "full")
            pruned = next(r for r in runs if r.seed == seed and r.arm == arm)
            target = 0.98 * full.points[-1][2]
            reached = pruned.steps_to(target)
            fractions.append(None if reached is None else reached / full.steps)
            wins += pruned.hv_at_time(args.wall) > full.hv_at_time(args.wall)
        known = sorted(f for f in fractions if f is not None)
        median = statistics.median([f if f is not None else float("inf") for f in fractions])
        shown = "not reached in most seeds" if median == float("inf") else f"{median:.0%}"
        summary.append(
            f"{arm}: steps to within 2% of full's final HV, median over seeds: {shown} "
            f"({len(known)}/{len(fractions)} seeds reached it; target ≤ 40%); HV higher than "
            f"full's at the wall-clock budget in {wins} of {len(args.seeds)} seeds (target ≥ 2 "
            f"of 3)"
        )
    for seed in args.seeds:
        full = next(r for r in runs if r.seed == seed and r.arm == "full")
        target = 0.98 * full.points[-1][2]
        for run in (r for r in runs if r.seed == seed):
            reached = run.steps_to(target)
            to = "not reached" if reached is None else f"{reached:,} ({reached / full.steps:.0%})"
            print(
                f"| {seed} | {run.arm} | {run.complete + run.pruned} ({run.complete} / "
                f"{run.pruned}) | {run.steps:,} | {run.hv_at_time(args.wall):.4f} | {to} |"
            )
    print()
    for line in summary:
        print(line)
    figure = plot(runs, ROOT / "pruning.png")
    for run in runs:
        if run.arm != "full":
            log_to_mlflow(run, figure)
    print(f"figure: {ROOT / 'pruning.png'} (also on each ASHA study's MLflow parent run)")


if __name__ == "__main__":
    main()

"""`hybridlab study run|pareto STUDY.yaml [key=value ...]`: multi-objective studies.

`run` validates the whole study (file, space, task, settings; nothing is written on an error,
exit 2), then runs or resumes it in its study folder with a live view on stderr (trials done,
running, failed, infeasible, the hypervolume, the current front) and prints the front as a table
on stdout. `pareto` prints the front of a study that has run: a table, one JSON object
(`--json`), and with `--export DIR` one spec YAML file per front trial, which
`hybridlab train --spec FILE` reads (into a new or empty folder, or one an earlier export wrote;
`--force` writes beside other files). `validate` (`hybridlab.cli.validate_cmd`) trains the front
and a sample of the other trials again at a higher fidelity and reports whether the ranking holds.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hybridlab.cli.errors import fail
from hybridlab.cli.serve import exit_code, terminate_like_ctrl_c
from hybridlab.cli.validate_cmd import validate
from hybridlab.config.files import unwritable_folder
from hybridlab.results import Metric
from hybridlab.tracking import (
    FrontPoint,
    FrontUpdate,
    Outcome,
    StudyStart,
    Tracker,
    TrialRecord,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hybridlab.pareto import SeedSummary, Spread
    from hybridlab.study import StudyPlan

study_app = typer.Typer(
    help="Multi-objective architecture studies: run (or resume) one, show its Pareto front, "
    "validate it at a higher fidelity.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Overrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="Settings as key=value over the study file (e.g. train.steps=50 sampler.seed=3 "
        "budget.trials=4 output=runs/x).",
        show_default=False,
    ),
]


@study_app.command("run")
def run(
    study: Annotated[Path, typer.Argument(help="The study YAML file.")],
    overrides: Overrides = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Join this Ray cluster ('auto' or host:port; same as executor.address=...). "
            "Default: the study file's executor, local Ray unless it says otherwise.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a study, or resume it: finished trials are kept, interrupted ones rerun.

    Trials run on Ray (local Ray by default; executor.backend=inline runs them in this
    process). Exit 1 when this run trained nothing it should have: every trial failed, or
    budget.wall_time_s ran out before the first trial started.
    Example: hybridlab study run studies/quickstart.yaml budget.trials=6
    """
    from hybridlab.execution import ExecutorFailed
    from hybridlab.study import StudyConfigError, StudyFailed, load_plan, run_study

    extra = [f"executor.address={address}"] if address is not None else []
    try:
        plan = load_plan(study, [*(overrides or []), *extra], writing=True)
    except StudyConfigError as err:
        fail(str(err))
    console = Console(stderr=True)
    view = LiveView(console, plan.budget.trials, plan.train.steps)
    try:
        with (
            terminate_like_ctrl_c(),
            Live(view, console=console, refresh_per_second=4, transient=True),
        ):
            summary = run_study(plan, trackers=[view])
    except StudyConfigError as err:
        fail(str(err))
    except (StudyFailed, ExecutorFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as interrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        raise typer.Exit(exit_code(interrupt)) from None
    retried = f"{summary.retried} retried after a fault, " if summary.retried else ""
    pruned = f", {summary.pruned} stopped early by the pruner" if plan.pruner.enabled else ""
    console.print(
        f"[bold]{escape(plan.name)}[/]: {summary.trained} trained ({summary.complete} complete, "
        f"{summary.failed} failed{pruned}), {summary.infeasible} infeasible this run, "
        f"{len(summary.interrupted)} interrupted trial(s) re-enqueued, {retried}"
        f"{summary.wall_time_s:.0f} s; study folder {escape(summary.folder)}",
        highlight=False,
    )
    Console().print(front_table(view.front, plan.labels, view.hypervolume))
    budget = plan.budget
    unspent = budget.trials is None or view.trained_before < budget.trials
    if summary.trained == 0 and summary.stopped_by == "wall_time" and unspent:
        print(
            f"error: budget.wall_time_s ({budget.wall_time_s:g} s) ran out before the first "
            f"trial of this run started: nothing was trained; give a wall time longer than a "
            f"trial takes",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    if summary.failures and not summary.complete:
        reasons = sorted(summary.failures.items(), key=lambda kv: -kv[1])
        listed = "; ".join(f"{reason} ({n}×)" for reason, n in reasons[:3])
        print(f"error: every trial of this run failed: {listed}", file=sys.stderr)
        raise typer.Exit(1)


@study_app.command("pareto")
def pareto(
    study: Annotated[Path, typer.Argument(help="The study YAML file.")],
    overrides: Overrides = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            help="Write each front trial's spec YAML here (trial_<number>.yaml), into a new or "
            "empty folder or one that holds only such files.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into an --export folder that holds other files as well."
        ),
    ] = False,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="What --export writes per front trial: spec (hybridlab's spec YAML), hf (a "
            "transformers model folder, with the trial's weights when the study kept them: "
            "train.keep_weights=true) or megatron (Megatron-LM's argument block).",
        ),
    ] = "spec",
) -> None:
    """Show the Pareto front of a study that has run.

    Example: hybridlab study pareto studies/quickstart.yaml --export runs/quickstart/front
    Example: hybridlab study pareto studies/quickstart.yaml --export runs/hf --to hf
    """
    from hybridlab.spec import parse
    from hybridlab.study import StudyConfigError, load_plan
    from hybridlab.study.front import outcome_counts, seed_summary, study_front
    from hybridlab.study.storage import open_study, storage_label

    if to not in EXPORT_TARGETS:
        fail(f"--to: {to!r} is not a target; valid: {', '.join(EXPORT_TARGETS)}")
    if to != "spec" and export is None:
        fail(f"--to {to} says what --export writes: give --export FOLDER too")
    folder = None if export is None else _export_folder(export, force)
    try:
        plan = load_plan(study, overrides or [])
        optuna_study = open_study(plan, create=False)
    except StudyConfigError as err:
        fail(str(err))
    front = study_front(optuna_study, plan.labels)
    names = {o.label: o.name for o in plan.objectives}
    noise = seed_summary(
        optuna_study, front, plan.labels, plan.directions, plan.measured_labels, names
    )
    hv = optuna_study.user_attrs.get("hypervolume")
    counts = outcome_counts(optuna_study)
    written: list[Any] = []
    if folder is not None and to != "spec":
        written = _hand_off(plan, optuna_study, front, folder, to)
    elif folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for point in front:
                path = folder / f"trial_{point.number:04d}.yaml"
                path.write_text(parse(point.spec).to_yaml())
                written.append(str(path))
        except OSError as err:
            fail(f"--export: cannot write {str(err.filename or folder)!r}: {err.strerror or err}")
    # A front none of whose trials the target can express: exit 1, after saying why for each.
    nothing_exported = to != "spec" and bool(written) and all(i["refused"] for i in written)
    if as_json:
        objectives = [
            {"label": o.label, "name": o.name, "direction": o.direction} for o in plan.objectives
        ]
        data: dict[str, Any] = {
            "study": plan.name,
            "storage": storage_label(plan),
            "objectives": objectives,
            "hypervolume": hv,
            "trials": counts,
            "front": [p.to_dict() for p in front],
        }
        for point in data["front"]:
            spread = noise.spread.get(point["number"])
            if spread is not None:
                point["seeds"] = {label: s.to_dict() for label, s in spread.items()}
                point["within_noise_of"] = noise.within_noise_of.get(point["number"])
        if export is not None:
            data["exported"] = written
        typer.echo(json.dumps(data))
        if nothing_exported:
            raise typer.Exit(1)
        return
    print("trials: " + ", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
    Console().print(front_table(front, plan.labels, hv, noise))
    if written and to == "spec":
        Console(stderr=True).print(f"wrote {len(written)} spec files to {escape(str(export))}")
    if folder is not None and to != "spec":
        console = Console(stderr=True, highlight=False)
        for item in written:
            if item["refused"]:
                console.print(f"trial {item['number']}: not exported: {escape(item['refused'])}")
            else:
                weights = "with its weights" if item["with_weights"] else "config only"
                console.print(
                    f"trial {item['number']}: {item['family'] or to} at "
                    f"{escape(str(item['out']))} ({weights})"
                )
    if nothing_exported:
        raise typer.Exit(1)


study_app.command("validate")(validate)

# What `pareto --export` writes: spec files (trial_0007.yaml) or folders (trial_0007/).
_EXPORTED = re.compile(r"trial_[0-9]{4,}\.yaml")
_EXPORTED_FOLDER = re.compile(r"trial_[0-9]{4,}")
EXPORT_TARGETS = ("spec", "hf", "megatron")


def _hand_off(
    plan: StudyPlan, optuna_study: Any, front: list[FrontPoint], folder: Path, to: str
) -> list[dict[str, Any]]:
    """Export every front trial to `to` (`hybridlab.study.handoff`); one dict per trial."""
    from hybridlab.study.handoff import export_front

    by_number = {t.number: t for t in optuna_study.get_trials(deepcopy=False)}
    weights = {
        p.number: by_number[p.number].user_attrs["weights_path"]
        for p in front
        if "weights_path" in by_number[p.number].user_attrs
    }
    try:
        done = export_front(plan, front, weights, folder, to=to, force=True)
    except ImportError as err:
        fail(f"--to {to}: {err}")
    except OSError as err:
        fail(f"--export: cannot write {str(err.filename or folder)!r}: {err.strerror or err}")
    return [
        {
            "number": h.number,
            "stack": h.stack,
            "out": None if h.out is None else str(h.out),
            "family": h.family,
            "with_weights": h.with_weights,
            "refused": h.refused,
        }
        for h in done
    ]


def _export_folder(export: str, force: bool) -> Path:
    """The `--export` folder, checked before anything is read or written: a path, a folder (or
    none yet) that can be written, and, unless `force`, holding only spec files an earlier
    export wrote (they are replaced): a user's own files are never overwritten by surprise."""
    if not export.strip():
        fail("--export needs a folder for the spec files, got an empty path")
    folder = Path(export)
    if folder.exists() and not folder.is_dir():
        fail(f"--export: {folder} is a file; give a folder for the spec files")
    problem = unwritable_folder(folder)
    if problem is not None:
        fail(f"--export: cannot write the folder {str(folder)!r}: {problem}")
    others = sorted(p.name for p in folder.iterdir() if not _exported(p)) if folder.is_dir() else []
    if others and not force:
        listed = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        fail(
            f"--export: {str(folder)!r} holds files that are not spec files of an earlier export "
            f"({listed}); give a new or empty folder, or --force to write beside them"
        )
    return folder


def _exported(path: Path) -> bool:
    """Whether `path` is a spec file `pareto --export` wrote: its name and a spec inside."""
    from hybridlab.spec import parse

    if path.is_dir() and _EXPORTED_FOLDER.fullmatch(path.name):
        return any((path / name).is_file() for name in ("config.json", "megatron_args.sh"))
    if not _EXPORTED.fullmatch(path.name) or not path.is_file():
        return False
    try:
        parse(path)
    except (ValueError, OSError):
        return False
    return True


def front_table(
    front: list[FrontPoint],
    labels: list[str],
    hypervolume: float | None,
    noise: SeedSummary | None = None,
) -> Table:
    """The front as a rich table: trial, objective values, pattern, canonical stack (trials of
    the same architecture share a row); with seed runs (`budget.front_seeds`), measured values
    as mean ± std over the seeds, and which trial each is within noise of."""
    title = f"Pareto front: {len(front)} trial(s)"
    if hypervolume is not None:
        title += f", hypervolume {hypervolume:.4g}"
    table = Table(title=title, title_justify="left")
    table.add_column("trial", justify="right")
    for label in labels:
        table.add_column(label, justify="right")
    seeded = noise is not None and bool(noise.spread)
    if seeded:
        table.add_column("within noise of", justify="right")
    table.add_column("pattern")
    table.add_column("stack", overflow="fold")
    # A repeated architecture reused its twin's result (user attr duplicate_of): one row.
    rows: dict[str, list[FrontPoint]] = {}
    for point in front:
        rows.setdefault(point.stack, []).append(point)
    for twins in rows.values():
        point = twins[0]
        spread = noise.spread.get(point.number, {}) if noise is not None else {}
        cells = [_seeds_cell(spread[label]) if label in spread else _fmt(point.values[label])
                 for label in labels]  # fmt: skip
        if noise is not None and seeded:
            other = noise.within_noise_of.get(point.number)
            cells.append("" if other is None else f"trial {other}")
        numbers = ", ".join(str(p.number) for p in twins)
        table.add_row(numbers, *cells, point.pattern, escape(point.stack))
    return table


def _fmt(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _seeds_cell(spread: Spread) -> str:
    """A front-table cell of a trial trained under several seeds (a `Spread`): the mean ± std
    it reports, or the best of its seeds it reports, with their mean ± std."""
    if spread.best is not None:
        seeds = f"seeds {_fmt(spread.mean)} ± {spread.std:.2g}"
        return f"{_fmt(spread.best)} best of {spread.n} ({seeds})"
    return f"{_fmt(spread.mean)} ± {spread.std:.2g} (n={spread.n})"


def _seeds_note(spread: Mapping[str, Any]) -> str:
    """What the live view adds after a finished trial's value: its seeds' std, or with the best
    of the seeds reported, their mean ± std."""
    if spread.get("best") is not None:
        return f" (best of {spread['n']}; seeds {_fmt(spread['mean'])} ± {_fmt(spread['std'])})"
    return f" ± {_fmt(spread['std'])}"


class LiveView(Tracker):
    """The live progress view: a tracker (see `hybridlab.tracking.base`) that rich renders."""

    def __init__(self, console: Console, budget: int | None, steps: int) -> None:
        self.console, self.budget, self.steps = console, budget, steps
        self.counts = {o: 0 for o in (Outcome.COMPLETE, Outcome.FAILED, Outcome.PRUNED)}
        self.counts[Outcome.INFEASIBLE] = 0
        self.running: dict[int, dict[str, Any]] = {}
        self.front: list[FrontPoint] = []
        self.labels: list[str] = []
        self.hypervolume: float | None = None
        self.resumed = 0
        self.trained_before = 0
        self.last = ""

    # Tracker methods
    def start_study(self, info: StudyStart) -> None:
        self.labels = info.labels
        self.resumed = info.resumed_trials
        self.trained_before = info.trained_before
        resumed = f", resuming {self.resumed} trial(s)" if self.resumed else ""
        self.console.print(
            f"study [bold]{escape(info.name)}[/] in {escape(str(info.folder))} (storage "
            f"{escape(info.storage)}){resumed}",
            highlight=False,
        )

    def log_trial_started(self, trial: TrialRecord) -> None:
        self.running[trial.number] = {"stack": trial.stack, "step": 0, "loss": None}

    def log_metrics(self, number: int, step: int, metrics: dict[str, float]) -> None:
        if number in self.running:
            self.running[number]["step"] = step
            if Metric.TRAIN_LOSS in metrics:
                self.running[number]["loss"] = metrics[Metric.TRAIN_LOSS]

    def log_trial_finished(self, record: TrialRecord) -> None:
        self.running.pop(record.number, None)
        self.counts[record.outcome] = self.counts.get(record.outcome, 0) + 1
        if record.outcome == Outcome.COMPLETE:
            spread = (record.result or {}).get("spread") or {}
            values = ", ".join(
                f"{k} {_fmt(v)}" + (_seeds_note(spread[k]) if k in spread else "")
                for k, v in record.values.items()
            )
            self.last = f"trial {record.number}: {values}"
        elif record.outcome == Outcome.PRUNED:
            self.last = f"trial {record.number} stopped at step {record.pruned_at_step}"
        else:
            self.last = f"trial {record.number} {record.outcome}: {record.reason}"

    def update_front(self, update: FrontUpdate) -> None:
        self.front, self.hypervolume = list(update.front), update.hypervolume

    def __rich__(self) -> Group:
        c = self.counts
        trained = self.trained_before + c[Outcome.COMPLETE] + c[Outcome.FAILED] + c[Outcome.PRUNED]
        budget = f"/{self.budget}" if self.budget else ""
        head = Text.assemble(
            ("trials ", "bold"),
            f"{trained}{budget} trained · {len(self.running)} running · "
            f"this run: {c[Outcome.COMPLETE]} complete · {c[Outcome.FAILED]} failed · "
            f"{c[Outcome.PRUNED]} pruned · {c[Outcome.INFEASIBLE]} infeasible",
        )
        if self.hypervolume is not None:
            head.append(f" · hypervolume {self.hypervolume:.4g}")
        parts: list[Any] = [head]
        for number, info in self.running.items():
            loss = "" if info["loss"] is None else f" loss {info['loss']:.3f}"
            parts.append(
                Text(
                    f"  trial {number}: step {info['step']}/{self.steps}{loss} {info['stack']}",
                    overflow="ellipsis",
                    no_wrap=True,
                )
            )
        if self.last:
            parts.append(Text(f"  last: {self.last}", overflow="ellipsis", no_wrap=True))
        if self.front:
            parts.append(front_table(self.front, self.labels, self.hypervolume))
        return Group(*parts)

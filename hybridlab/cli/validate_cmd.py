"""`hybridlab study validate STUDY.yaml [key=value ...] --fidelity key=value ...`: train the
front and a sample of the other trials again at a higher fidelity and report whether the
proxy's ranking holds (`hybridlab.validation`).

Everything is checked first (the study file and its overrides, every fidelity override, the
options): a bad one is one line on stderr and exit 2, with nothing written. Progress goes to
stderr; the per-trial table and the summary (or one JSON object, `--json`) to stdout. Exit 1
when no trial could be trained at the fidelity (every scaled run failed or no architecture
could be built there); 130 after Ctrl-C, which keeps every run that finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hybridlab.cli.errors import fail
from hybridlab.cli.serve import exit_code, terminate_like_ctrl_c
from hybridlab.validation.records import Retraining, ValidationStart
from hybridlab.validation.trackers import ValidationTracker


def validate(
    study: Annotated[Path, typer.Argument(help="The study YAML file (a study that has run).")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Settings of the study itself as key=value, the ones `study run` was given "
            "(e.g. budget.trials=4 output=runs/x).",
            show_default=False,
        ),
    ] = None,
    fidelity: Annotated[
        list[str] | None,
        typer.Option(
            "--fidelity",
            "-f",
            help="One setting at the higher fidelity, key=value; repeat it. The value is a "
            "multiple of the study's (4x, 1.5x) or a plain value. Keys: train.<setting> "
            "(train.steps=4x), task.<setting> (task.seq_len=2x, task.num_kv_pairs=2x), "
            "model.d_model (2x: every trial twice as wide, its stack's arguments kept).",
            show_default=False,
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            "--top",
            help="Validate K front trials, chosen greedily by hypervolume (default: the "
            "whole front).",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            help="Also validate M dominated trials, spread over the non-dominated ranks "
            "(default: as many as the front trials validated).",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Runs per trial at each fidelity (seed noise).")
    ] = 2,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the sample and of the bootstrap intervals.")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Join this Ray cluster ('auto' or host:port; same as executor.address=...).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train the front and a sample of dominated trials again at a higher fidelity; report
    how well the proxy's ranking holds (Kendall's tau, Spearman's rho with bootstrap 95%
    intervals), the seed noise at both fidelities and the share of the front that stays
    non-dominated.

    Runs go through the study's executor (Ray unless the study says otherwise) and are
    recorded in the study's storage as they end: the same command again continues where it
    stopped, and more seeds or trials add only the runs missing.

    Example: hybridlab study validate studies/quickstart.yaml --fidelity train.steps=4x
    --fidelity model.d_model=2x --top 4 --sample 4 --seeds 2
    """
    from hybridlab.config import SettingError
    from hybridlab.execution import ExecutorFailed
    from hybridlab.study import StudyConfigError, load_plan
    from hybridlab.validation import ValidateOptions, resolve_fidelity, validate_study

    study_overrides = [*(overrides or [])]
    _refuse_fidelity_as_study_override(study_overrides)
    if address is not None:
        study_overrides.append(f"executor.address={address}")
    options = ValidateOptions(top=top, sample=sample, seeds=seeds, seed=seed)
    try:
        options.validate()
        plan = load_plan(study, study_overrides, writing=True)
        scaled = resolve_fidelity(study, study_overrides, fidelity or [], plan)
    except (StudyConfigError, SettingError) as err:
        fail(str(err))
    view = ProgressView(Console(stderr=True))
    try:
        with terminate_like_ctrl_c():
            report = validate_study(plan, scaled, options, trackers=[view])
    except StudyConfigError as err:
        fail(str(err))
    except ExecutorFailed as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as interrupt:
        print(
            "interrupted: the runs that finished are kept; run the same command again to continue",
            file=sys.stderr,
        )
        raise typer.Exit(exit_code(interrupt)) from None
    if as_json:
        typer.echo(json.dumps(report))
    else:
        out = Console()
        out.print(trial_table(report))
        for line in summary_lines(report):
            out.print(line, highlight=False)
    runs = report["runs"]
    if runs["scaled"]["complete"] == 0:
        trials = report["trials"]
        reasons = sorted(
            {f["reason"] for t in trials for f in t["failures"] if f["fidelity"] == "scaled"}
            | {t["error"] for t in trials if t["error"]}
        )
        listed = "; ".join(str(r) for r in reasons[:3]) or "nothing was trained"
        print(f"error: no trial could be trained at this fidelity: {listed}", file=sys.stderr)
        raise typer.Exit(1)


def _refuse_fidelity_as_study_override(items: list[str]) -> None:
    """A multiplier or a model setting among the study's overrides is a fidelity in the wrong
    place: say where it goes rather than let the study file refuse it."""
    from hybridlab.validation.fidelity import is_multiplier

    for item in items:
        key, _, value = item.partition("=")
        if is_multiplier(value) or key.strip().startswith("model."):
            fail(
                f"{item!r} is a fidelity: give it as --fidelity {item} (the settings after the "
                f"study file are the study's own, as given to `study run`)"
            )


class ProgressView(ValidationTracker):
    """One line on stderr per run that ends, after a line saying what will run."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.total = 0
        self.done = 0

    def start(self, info: ValidationStart) -> None:
        self.total = info.todo
        fidelity = " ".join(f"{k}={v}" for k, v in info.fidelity.items())
        self.console.print(
            f"validating [bold]{escape(info.name)}[/] at {escape(fidelity)} (fingerprint "
            f"{info.fingerprint}): {info.trials} trial(s), {info.front} on the front; "
            f"{self.total} run(s) to train",
            highlight=False,
        )

    def run_finished(self, run: Retraining) -> None:
        self.done += 1
        if run.values is not None:
            what = ", ".join(f"{k} {v:.4g}" for k, v in run.values.items())
        else:
            what = f"failed: {run.reason}"
        self.console.print(
            f"  [{self.done}/{self.total}] trial {run.number} {run.fidelity} seed {run.seed}: "
            f"{escape(what)}",
            highlight=False,
        )


def trial_table(report: dict[str, Any]) -> Table:
    """One row per validated trial: its rank, mean ± std over seeds at the proxy and at scale
    for each measured objective, what became of it at scale, its stack."""
    labels = report["objectives"]
    fidelity = " ".join(f"{k}={v}" for k, v in report["fidelity"].items())
    table = Table(
        title=f"{report['study']} at {fidelity}: {len(report['trials'])} trial(s), "
        f"{report['seeds']} seed(s) per fidelity",
        title_justify="left",
    )
    table.add_column("trial", justify="right")
    table.add_column("rank", justify="right")
    for label in labels:
        table.add_column(f"{label} proxy", justify="right")
        table.add_column(f"{label} scaled", justify="right")
    table.add_column("at scale")
    table.add_column("stack", overflow="fold")
    for trial in report["trials"]:
        cells = []
        for label in labels:
            cells += [_mean_std(trial["proxy"].get(label)), _mean_std(trial["scaled"].get(label))]
        if trial["error"]:
            fate = "not built"
        elif trial["front_at_scale"] is None:
            fate = "failed" if trial["failures"] else "–"
        elif trial["front"]:
            fate = "kept on front" if trial["retained"] else "dominated"
        else:
            fate = "on front" if trial["front_at_scale"] else "dominated"
        table.add_row(
            str(trial["number"]), str(trial["rank"]), *cells, fate, escape(trial["stack"])
        )
    return table


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The rank correlations, seed noise and front retention in words."""
    lines = []
    for label, c in report["rank_correlation"].items():
        noise = report["seed_noise"][label]
        head = f"[bold]{escape(label)}[/]: "
        if c["kendall_tau"] is None:
            lines.append(head + f"no rank correlation ({escape(c['reason'])})")
        else:
            lines.append(
                head + f"Kendall τ {c['kendall_tau']:.2f} {_interval(c['ci95'])}, Spearman ρ "
                f"{c['spearman']:.2f} {_interval(c['spearman_ci95'])} over {c['n']} trials"
            )
        lines.append(
            f"  seed noise (mean std over seeds): {_number(noise['proxy'])} at the proxy, "
            f"{_number(noise['scaled'])} at scale; spread of the trials' means "
            f"{_number(noise['proxy_between_trials'])} and "
            f"{_number(noise['scaled_between_trials'])}"
        )
    front = report["front"]
    retention = report["front_retention"]
    judged = len(front["retained"]) + len(front["lost"])
    if retention is None:
        lines.append("front retention: no front trial could be judged at scale")
    else:
        lost = ", ".join(map(str, front["lost"]))
        lost = f" (dominated at scale: {lost})" if lost else ""
        lines.append(
            f"front retention: {len(front['retained'])} of {judged} proxy-front trial(s) "
            f"non-dominated at scale ({retention:.0%}){lost}"
        )
    runs = report["runs"]
    lines.append(
        f"runs: {runs['trained']} trained now; at scale {runs['scaled']['complete']} complete, "
        f"{runs['scaled']['failed']} failed, {runs['unbuildable']} not buildable; records in the "
        f"study's user attr validation/{report['fingerprint']}"
    )
    return lines


def _mean_std(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "–"
    if entry["n"] < 2:
        return f"{entry['mean']:.4g}"
    return f"{entry['mean']:.4g} ± {entry['std']:.2g}"


def _interval(ci: list[float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"

"""`hybridlab train --spec SPEC --task NAME [key=value ...] [--json]`: train one proxy model.

Settings are dotted overrides, as in Hydra: `task.<field>` for the task's config,
`train.<field>` for `TrainConfig`, `model.d_model` / `model.vocab_size` for the spec. They are
merged into the typed configs through OmegaConf, so misspelt keys and wrong types are caught
before training. Exit codes: 0 trained, 1 the run failed (non-finite loss, out of memory),
2 a usage error (one line on stderr).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hybridlab.bench.limits import check_training_memory
from hybridlab.cli.errors import fail
from hybridlab.config import merge_dataclass, split_overrides
from hybridlab.results import Metric
from hybridlab.tasks import get_task_class
from hybridlab.train import TrainConfig, TrainResult, fit_spec, train_proxy

MODEL_KEYS = ("d_model", "vocab_size")
SECTIONS = ("task", "train", "model")


def train(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Settings as key=value: task.<field>, train.<field>, model.d_model, "
            "model.vocab_size (e.g. task.num_kv_pairs=4 train.steps=500 train.lr=1e-3).",
            show_default=False,
        ),
    ] = None,
    spec: Annotated[
        str, typer.Option("--spec", help="Stack text, a pattern string, or a spec YAML file.")
    ] = "",
    task: Annotated[str, typer.Option("--task", help="Task name, e.g. mqar or bytes.")] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Train one proxy model on one task and print its accuracy, loss and costs.

    Example: hybridlab train --spec "attn*2" --task mqar task.num_kv_pairs=4 train.steps=500
    """
    if not spec:
        fail("--spec is required (stack text, a pattern string or a spec YAML file)")
    if not task:
        fail("--task is required (e.g. mqar, bytes, in-context-recall)")
    try:
        task_cls = get_task_class(task)
        sections = split_overrides(overrides or [], SECTIONS)
        task_config = merge_dataclass(task_cls.config_class, sections["task"], "task")
        train_config = merge_dataclass(TrainConfig, sections["train"], "train")
        train_config.validate()
        if str(train_config.device) == "cuda" and not torch.cuda.is_available():
            raise ValueError("train.device=cuda but CUDA is not available; use auto or cpu")
        cpus = os.cpu_count() or 1
        if train_config.num_threads is not None and train_config.num_threads > cpus:
            raise ValueError(
                f"train.num_threads={train_config.num_threads} but this machine has {cpus} CPUs "
                f"(more threads than cores run several times slower); use at most {cpus}"
            )
        the_task = task_cls(task_config)
        model = _model_settings(sections["model"])
        model_spec = fit_spec(spec, the_task, **model)
        check_training_memory(model_spec, the_task, train_config)
    except ValueError as err:  # SpecError is a ValueError; its text carries its own caret lines
        fail(str(err))

    if as_json:
        result = train_proxy(model_spec, the_task, train_config)
        typer.echo(json.dumps(result.to_dict()))
    else:
        console = Console(stderr=True)
        console.print(
            f"[bold]training[/] {escape(model_spec.format())} (d_model {model_spec.d_model}) "
            f"on {escape(the_task.describe())} for {train_config.steps} steps",
            highlight=False,
        )
        result = _train_with_progress(model_spec, the_task, train_config, console)
        _print_summary(result, Console())
    if not result.ok:
        raise typer.Exit(1)


def _model_settings(dotlist: list[str]) -> dict[str, int]:
    out = {}
    for item in dotlist:
        key, _, value = item.partition("=")
        if key not in MODEL_KEYS:
            raise ValueError(f"unknown setting model.{key}; valid: {', '.join(MODEL_KEYS)}")
        try:
            out[key] = int(value)
        except ValueError:
            raise ValueError(f"model.{key} must be an integer, got {value!r}") from None
    return out


def _train_with_progress(spec, task, config: TrainConfig, console: Console) -> TrainResult:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("acc {task.fields[acc]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        bar = progress.add_task("train", total=config.steps, loss="  -   ", acc="  -  ")
        if config.race_steps:
            progress.update(bar, description=f"lr race ({len(config.lr_race)} rates)")

        label = ["train"]

        def report(step: int, metrics: dict[str, float]) -> None:
            if Metric.RACE_LR in metrics:
                label[0] = f"train (lr {metrics[Metric.RACE_LR]:.3g})"
            updates: dict[str, Any] = {"completed": step, "description": label[0]}
            if Metric.TRAIN_LOSS in metrics:
                updates["loss"] = f"{metrics[Metric.TRAIN_LOSS]:.4f}"
            if Metric.EVAL_ACCURACY in metrics:
                updates["acc"] = f"{metrics[Metric.EVAL_ACCURACY]:.3f}"
            progress.update(bar, **updates)

        return train_proxy(spec, task, config, report=report)


def _print_summary(result: TrainResult, console: Console) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    status = (
        "[green]ok[/]" if result.ok else f"[red]failed[/]: {escape(result.failure_reason or '')}"
    )
    rows = [
        ("status", status + (f" ({result.stop_reason})" if result.stop_reason else "")),
        ("accuracy", _fmt(result.accuracy, "{:.4f}")),
        ("loss", _fmt(result.loss, "{:.4f}")),
    ]
    if result.bits_per_byte is not None:
        rows.append(("bits/byte", f"{result.bits_per_byte:.4f}"))
    rows.append(("lr", f"{result.lr:.3g}"))
    if result.lr_race:
        race = ", ".join(
            f"{lr:.3g}: {'diverged' if score is None else f'{score:.4f}'}"
            for lr, score in result.lr_race
        )
        rows.append(("lr race", f"{race} (training loss; +{result.race_steps} steps)"))
    rows += [
        ("steps", str(result.steps_done)),
        ("tokens/s", f"{result.tokens_per_s:,.0f}"),
        ("params", f"{result.params:,}"),
        ("state bytes", f"{result.state_bytes:,}"),
        ("peak memory", f"{result.peak_memory_bytes / 2**20:,.0f} MiB ({result.peak_memory_kind})"),
        ("wall time", f"{result.wall_time_s:.1f} s on {result.device}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table, highlight=False)
    sys.stdout.flush()


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)

"""`hybridlab bench --spec TEXT --context 256,4096`: prefill, decode and training throughput,
peak memory and state bytes of one model at each context, under `hybridlab.bench`'s protocol."""

from __future__ import annotations

import json
import platform
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hybridlab.bench import PHASES, Measurement, Protocol, measure, torch_dtype
from hybridlab.bench.limits import check_measurable
from hybridlab.cli.errors import fail
from hybridlab.cost import count_params
from hybridlab.spec import ModelSpec, parse

# Wide enough that the KV cache, not per-op overhead, decides attention's decode time at 4k.
DEFAULT_D_MODEL = 256
# The settings `check_measurable` names, as this command calls them.
FLAGS = {"context": "--context", "batch": "--batch", "decode_steps": "--decode-steps"}


def bench(
    spec: Annotated[
        str, typer.Option("--spec", help="Stack text, a pattern string, or a spec YAML file.")
    ] = "",
    d_model: Annotated[
        int, typer.Option("--d-model", help="Model width (overrides a spec file's).")
    ] = DEFAULT_D_MODEL,
    vocab_size: Annotated[
        int | None, typer.Option("--vocab-size", help="Vocabulary size (default 256).")
    ] = None,
    context: Annotated[
        str, typer.Option("--context", help="Comma-separated context lengths, e.g. 256,4096.")
    ] = "256,4096",
    batch: Annotated[int, typer.Option("--batch", help="Sequences per batch.")] = 1,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, or auto.")] = "auto",
    dtype: Annotated[str, typer.Option("--dtype", help="fp32, bf16 or fp16.")] = "fp32",
    threads: Annotated[int, typer.Option("--threads", help="torch CPU threads.")] = 1,
    repeats: Annotated[
        int, typer.Option("--repeats", help="Timed runs of prefill and training (median).")
    ] = 3,
    decode_steps: Annotated[
        int, typer.Option("--decode-steps", help="Cached steps per timed decode run.")
    ] = 8,
    skip_train: Annotated[
        bool, typer.Option("--skip-train", help="Measure prefill and decode only.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure prefill, decode and training tokens/s, peak memory and state bytes per context.

    Protocol (hybridlab/bench/protocol.py): threads fixed, one warm-up, the median of the
    repeats (decode: 11 runs of --decode-steps steps), the same device throughout.

    Example: hybridlab bench --spec "[attn, mlp]*2" --context 256,4096
    """
    if not spec:
        fail("--spec is required (stack text, a pattern string or a spec YAML file)")
    try:
        model_spec = parse(spec, d_model=d_model, vocab_size=vocab_size)
        contexts = _contexts(context)
        the_dtype = torch_dtype(dtype)
        if batch < 1:
            raise ValueError(f"--batch must be >= 1, got {batch}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"--device must be cpu, cuda or auto, got {device!r}")
        resolved = "cuda" if device == "auto" and torch.cuda.is_available() else device
        protocol = Protocol(
            repeats=repeats,
            decode_steps=decode_steps,
            threads=threads,
            device="cpu" if resolved == "auto" else resolved,
        )
        protocol.validate()
        phases = [p for p in PHASES if not (skip_train and p == "train")]
        # Every context is checked before the first is measured: its memory and work fit.
        for ctx in contexts:
            check_measurable(
                model_spec, ctx, protocol, batch=batch, dtype=the_dtype, phases=phases, names=FLAGS
            )
    except ValueError as err:  # SpecError is a ValueError; its text carries its own caret lines
        fail(str(err))
    stderr = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=as_json,
    )
    results: list[Measurement] = []
    with progress:
        bar = progress.add_task("bench", total=len(contexts) * len(phases))
        for ctx in contexts:
            progress.update(bar, description=f"context {ctx:,}")
            results.append(
                measure(
                    model_spec,
                    ctx,
                    protocol,
                    batch=batch,
                    dtype=dtype,
                    phases=phases,
                    on_phase=lambda _phase: progress.advance(bar),
                )
            )
    if as_json:
        payload = {
            "spec": model_spec.format(),
            "pattern": model_spec.pattern(),
            "d_model": model_spec.d_model,
            "vocab_size": model_spec.vocab_size,
            "params": count_params(model_spec),
            "batch": batch,
            "dtype": dtype,
            "torch": torch.__version__,
            "machine": platform.machine(),
            "protocol": protocol.describe(),
            "contexts": [m.to_dict() for m in results],
        }
        typer.echo(json.dumps(payload))
        return
    # A pipe gets the whole table rather than one wrapped to 80 columns.
    console = Console(width=None if Console().is_terminal else 160)
    console.print(_header(model_spec, protocol, batch, dtype), highlight=False, soft_wrap=True)
    _print_table(results, phases, console)


def _contexts(text: str) -> list[int]:
    """The lengths of `--context`: integers >= 1 separated by single commas."""
    if not text.strip():
        raise ValueError("--context needs at least one length, e.g. 256,4096")
    items = [item.strip() for item in text.split(",")]
    out = []
    for number, item in enumerate(items, start=1):
        if not item:
            raise ValueError(
                f"--context: length {number} of {text!r} is empty; separate the lengths with "
                f"single commas, e.g. 256,4096"
            )
        try:
            value = int(item)
        except ValueError:
            raise ValueError(f"--context: {item!r} is not an integer (e.g. 256,4096)") from None
        if value < 1:
            raise ValueError(f"--context lengths must be >= 1, got {value}")
        out.append(value)
    return out


def _header(spec: ModelSpec, protocol: Protocol, batch: int, dtype: str) -> str:
    return (
        f"[bold]bench[/] {escape(spec.format())} (d_model {spec.d_model}, vocab "
        f"{spec.vocab_size}, {count_params(spec):,} params), batch {batch}, {dtype}, on "
        f"{protocol.device} with {protocol.threads} thread(s); torch {torch.__version__}; "
        f"warm-up {protocol.warmup}, median of {protocol.repeats} (decode: "
        f"{protocol.decode_repeats} runs of {protocol.decode_steps} steps)"
    )


def _print_table(results: list[Measurement], phases: list[str], console: Console) -> None:
    table = Table()
    table.add_column("context", justify="right")
    for phase in phases:
        table.add_column(f"{phase}\ntok/s", justify="right")
    table.add_column("decode\nms/step", justify="right")
    for phase in phases:
        table.add_column(f"peak MiB\n{phase}", justify="right")
    table.add_column("state\nMiB", justify="right")
    table.add_column("noise\n" + "/".join(p[0] for p in phases), justify="right")
    for m in results:
        row = [f"{m.context:,}"]
        row += [f"{m.tokens_per_s[p]:,.0f}" for p in phases]
        decode = m.tokens_per_s.get("decode")
        row.append(f"{1e3 * m.batch / decode:.2f}" if decode else "-")
        for phase in phases:
            peak = m.peak_memory_bytes.get(phase)
            row.append("-" if peak is None else f"{peak / 2**20:,.1f}")
        row.append(f"{m.state_bytes / 2**20:,.2f}")
        row.append("/".join(f"{100 * m.spread[p]:.0f}%" for p in phases))
        table.add_row(*row)
    console.print(table)
    console.print(
        "peak: weights + cache (+ AdamW state) + PyTorch's allocator high-water mark above them "
        "(CUDA: max_memory_allocated); state: analytic, for the batch; noise: (max - min) / "
        "median of the repeats",
        highlight=False,
    )

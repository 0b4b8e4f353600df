"""`hybridlab spec TEXT`: the canonical stack, its pattern, and per-layer costs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hybridlab.cli.errors import fail
from hybridlab.cost import count_params, flops_per_token, itemsize, layer_costs, state_bytes
from hybridlab.spec import SpecError, parse


def spec(
    text: Annotated[str, typer.Argument(help="Stack text, a pattern string, or a spec YAML file.")],
    d_model: Annotated[
        int | None, typer.Option("--d-model", help="Model width (default 128).")
    ] = None,
    vocab_size: Annotated[
        int | None, typer.Option("--vocab-size", help="Vocabulary size (default 256).")
    ] = None,
    context: Annotated[
        int, typer.Option("--context", help="Context length for state bytes and FLOPs.")
    ] = 2048,
    dtype: Annotated[str, typer.Option("--dtype", help="Dtype of the decoding state.")] = "float32",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Parse a layer spec and print its canonical form, pattern, and per-layer costs.

    Example: hybridlab spec "[ssd(d_state=64), mlp]*3, attn(heads=4), mlp" --d-model 128
    """
    try:
        model_spec = parse(text, d_model=d_model, vocab_size=vocab_size)
        if context < 1:
            raise ValueError(f"--context must be >= 1, got {context}")
        itemsize(dtype)
    except SpecError as err:
        fail(str(err))
    except ValueError as err:
        fail(str(err))
    rows = layer_costs(model_spec, context, dtype)
    totals = {
        "params": count_params(model_spec),
        "state_bytes": state_bytes(model_spec, context, dtype),
        "flops_per_token": flops_per_token(model_spec, context),
    }
    if as_json:
        payload = {
            "canonical": model_spec.format(),
            "pattern": model_spec.pattern(),
            "d_model": model_spec.d_model,
            "vocab_size": model_spec.vocab_size,
            "context": context,
            "dtype": dtype,
            **totals,
            "layers": [
                {
                    "index": r.index,
                    "kind": r.kind,
                    "spec": r.text,
                    "params": r.params,
                    "state_bytes": r.state_bytes,
                    "flops_per_token": r.flops_per_token,
                }
                for r in rows
            ],
        }
        typer.echo(json.dumps(payload))
        return
    console = Console()
    console.print(
        f"[bold]canonical[/]  {escape(model_spec.format())}", highlight=False, soft_wrap=True
    )
    console.print(f"[bold]pattern[/]    {model_spec.pattern()}", highlight=False)
    console.print(
        f"[bold]model[/]      d_model={model_spec.d_model} vocab_size={model_spec.vocab_size} "
        f"layers={model_spec.num_layers}; state at context={context} in {dtype}",
        highlight=False,
    )
    table = Table(show_footer=True)
    table.add_column("#", justify="right", footer="")
    table.add_column("layer", footer="total (with embedding, final norm)")
    table.add_column("params", justify="right", footer=f"{totals['params']:,}")
    table.add_column("state bytes", justify="right", footer=_bytes(totals["state_bytes"]))
    table.add_column("FLOPs/token", justify="right", footer=f"{totals['flops_per_token']:,}")
    for r in rows:
        table.add_row(
            str(r.index),
            escape(r.text),
            f"{r.params:,}",
            _bytes(r.state_bytes),
            f"{r.flops_per_token:,}",
        )
    console.print(table)


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"

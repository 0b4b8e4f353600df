"""`hybridlab export SPEC --to hf|megatron --out DIR`: a design as another framework's model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridlab.cli.errors import fail
from hybridlab.spec import SpecError, parse


def export(
    text: Annotated[str, typer.Argument(help="Stack text, a pattern string, or a spec YAML file.")],
    to: Annotated[str, typer.Option("--to", help="hf (transformers) or megatron.")],
    out: Annotated[Path, typer.Option("--out", help="The directory to write.")],
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="A HybridLM state_dict (torch.save) or .safetensors file; without it only "
            "config.json is written.",
        ),
    ] = None,
    family: Annotated[
        str | None,
        typer.Option(
            "--family",
            help="hf: llama, mamba2, nemotron_h or jamba instead of the one chosen from the stack.",
        ),
    ] = None,
    d_model: Annotated[
        int | None, typer.Option("--d-model", help="Model width (default 128).")
    ] = None,
    vocab_size: Annotated[
        int | None, typer.Option("--vocab-size", help="Vocabulary size (default 256).")
    ] = None,
    context: Annotated[
        int,
        typer.Option("--context", help="Longest sequence: max_position_embeddings, --seq-length."),
    ] = 4096,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out.")] = False,
) -> None:
    """Write a stack as a Hugging Face transformers model directory or Megatron-LM's arguments.

    Example: hybridlab export "[ssd, mlp(activation=relu2)]*2, attn(rope=false)" --to hf --out nh
    """
    from hybridlab.export import ExportError
    from hybridlab.export import export as run_export

    try:
        spec = parse(text, d_model=d_model, vocab_size=vocab_size)
        result = run_export(
            spec, to=to, out=out, weights=weights, family=family, context=context, force=force
        )
    except (SpecError, ExportError, FileExistsError, ImportError, ValueError) as err:
        fail(str(err))
    if result.target == "megatron":
        typer.echo(result.files[0].read_text(), nl=False)
        typer.echo(f"wrote {result.files[0]}")
        return
    what = "config.json and model.safetensors" if result.with_weights else "config.json, no weights"
    typer.echo(f"wrote {result.out}: {result.family} ({what})")
    for note in result.notes:
        typer.echo(f"note: {note}")

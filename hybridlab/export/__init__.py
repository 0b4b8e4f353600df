"""`hybridlab.export`: a design leaves the lab as a model another framework loads.

`export(spec_or_model, to="hf", out=DIR, weights=...)` writes a directory that
`transformers.AutoModelForCausalLM.from_pretrained(DIR)` loads (the family chosen from the stack:
Llama, Mamba-2, Nemotron-H or Jamba; `hybridlab.export.families`), with equal logits; `to=
"megatron"` writes the argument block of a Megatron-LM hybrid run (`hybridlab.export.megatron`).
A stack the target cannot express exactly is refused with an `ExportError` naming the layer.
transformers is an optional dependency (`pip install "hybridlab[export]"`), imported only by a
Hugging Face export.

The directory appears whole or not at all: it is written into a temporary sibling and moved into
place at the end, so a refusal or a crash leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from hybridlab.export.errors import ExportError
from hybridlab.export.families import FAMILIES, HFPlan, choose_family, plan_hf
from hybridlab.export.megatron import MEGATRON_FLAGS, format_args, megatron_args
from hybridlab.export.weights import StateDict, check_checkpoint, read_checkpoint
from hybridlab.model import HybridLM
from hybridlab.spec import ModelSpec, SpecSource, parse

TARGETS = ("hf", "megatron")
MEGATRON_FILE = "megatron_args.sh"


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote.

    Attributes:
        out: the directory.
        target: "hf" or "megatron".
        family: the transformers family ("llama", "mamba2", "nemotron_h", "jamba"); None for
            Megatron-LM.
        files: the files written, in `out`.
        with_weights: whether the weights were written (`model.safetensors`).
        notes: what a reader should know about the export (e.g. an untied copy of the head).
    """

    out: Path
    target: str
    family: str | None
    files: tuple[Path, ...]
    with_weights: bool
    notes: tuple[str, ...] = ()


def export(
    spec_or_model: HybridLM | ModelSpec | SpecSource,
    *,
    to: str = "hf",
    out: str | Path,
    weights: StateDict | str | Path | None = None,
    family: str | None = None,
    context: int = 4096,
    force: bool = False,
) -> ExportResult:
    """Write `spec_or_model` as a transformers model directory (`to="hf"`) or as Megatron-LM's
    argument block (`to="megatron"`) into the directory `out`.

    Args:
        spec_or_model: a `HybridLM` (its spec and, unless `weights` is given, its weights), or
            anything `hybridlab.parse` takes (a `ModelSpec`, stack text, a spec YAML path).
        to: "hf" or "megatron".
        out: the directory to write; it must not exist or be empty, unless `force`.
        weights: a HybridLM state_dict, or a checkpoint file of one (`torch.save` or
            `.safetensors`); checked against the spec. None: `config.json` only (transformers
            then builds a randomly initialised model of that shape). Megatron takes no weights.
        family: for "hf", a key of `FAMILIES` to ask for a family instead of the one chosen
            from the stack (e.g. "nemotron_h" for a pure Mamba-2 stack).
        context: the longest sequence the model is meant for (`max_position_embeddings`,
            Megatron's `--seq-length`).
        force: replace an `out` that is not empty.

    Raises:
        ExportError: the target cannot express the stack (naming the layer), or the weights do
            not fit it.
        FileExistsError: `out` exists, is not empty, and `force` is not set.
        ValueError, TypeError: an unknown target or family, a bad spec (`SpecError`).

    Example:
        >>> export("[ssd(d_state=16), attn(rope=false), mlp(activation=relu2)]*2", out="nh")
        ExportResult(out=PosixPath('nh'), target='hf', family='nemotron_h', ...)
    """
    if to not in TARGETS:
        raise ValueError(f"to must be one of {', '.join(TARGETS)}, got {to!r}")
    if isinstance(spec_or_model, HybridLM):
        spec = spec_or_model.spec
        if weights is None and to == "hf":
            weights = spec_or_model.state_dict()
    else:
        spec = parse(spec_or_model)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise FileExistsError(f"{out} exists and is not empty; force=True (--force) replaces it")
    if to == "megatron":
        if weights is not None:
            raise ValueError("a Megatron-LM export writes no weights; leave weights out")
        text = format_args(spec, megatron_args(spec, context))
        return _publish(out, "megatron", None, {MEGATRON_FILE: text}, None, None, ())
    plan = plan_hf(spec, family, context)
    tensors = None
    if weights is not None:
        from hybridlab.export.hf import hf_state_dict

        state = check_checkpoint(read_checkpoint(weights), spec)
        tensors = hf_state_dict(plan, spec, state)
    notes = (
        (
            f"{plan.title} ties no output head: lm_head.weight is written as a copy of the "
            "embedding (equal logits; the two train apart from here on)",
        )
        if plan.head_copied and tensors is not None
        else ()
    )
    return _publish(out, "hf", plan, {}, tensors, plan.family, notes)


def _publish(
    out: Path,
    target: str,
    plan: HFPlan | None,
    texts: Mapping[str, str],
    tensors: dict[str, torch.Tensor] | None,
    family: str | None,
    notes: tuple[str, ...],
) -> ExportResult:
    """Write into a temporary sibling of `out`, then move it into place (replacing `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = []
        for name, text in texts.items():
            (staging / name).write_text(text)
            names.append(name)
        if plan is not None:
            from hybridlab.export.hf import write_hf

            names += [path.name for path in write_hf(plan, tensors, staging)]
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(
        out=out,
        target=target,
        family=family,
        files=tuple(out / name for name in names),
        with_weights=tensors is not None,
        notes=notes,
    )


__all__ = [
    "FAMILIES",
    "MEGATRON_FILE",
    "MEGATRON_FLAGS",
    "TARGETS",
    "ExportError",
    "ExportResult",
    "choose_family",
    "export",
    "megatron_args",
    "plan_hf",
]

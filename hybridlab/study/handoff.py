"""A study's front handed to the frameworks people train in: `study pareto --export DIR --to hf`.

Each front trial (a repeated architecture once, as the trial it repeats) is exported by
`hybridlab.export` into `DIR/trial_<number>` with the trial's trained proxy weights when the
study kept them (`train.keep_weights: true`; else `config.json` alone, a model of the right
shape for transformers to initialise), or as Megatron-LM's argument block (`--to megatron`). A
trial whose stack the family cannot express exactly is not exported, and the reason is kept.
With MLflow tracking, each exported trial's run gets its files under the artifact folder
`export/<target>`, so the front in the UI links to loadable models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hybridlab.export import ExportError, export
from hybridlab.study.config import StudyPlan
from hybridlab.tracking import FrontPoint


@dataclass(frozen=True)
class Handoff:
    """What became of one front trial: `out` and its files, or `refused` and why."""

    number: int
    stack: str
    out: Path | None = None
    family: str | None = None
    files: tuple[Path, ...] = ()
    with_weights: bool = False
    refused: str | None = None


def export_front(
    plan: StudyPlan,
    front: Sequence[FrontPoint],
    weights: dict[int, str],
    out: Path,
    *,
    to: str,
    force: bool = False,
) -> list[Handoff]:
    """Export every front trial of the study of `plan` into `out/trial_<number>` (`weights`:
    trial number → its kept weights file). Refusals are results, not errors."""
    done = []
    for point in front:
        if point.duplicate_of is not None:
            continue
        path = weights.get(point.number)
        kept = path if path is not None and Path(path).is_file() else None
        try:
            result = export(
                point.spec,
                to=to,
                out=out / f"trial_{point.number:04d}",
                weights=kept if to == "hf" else None,
                force=force,
            )
        except ExportError as err:
            done.append(Handoff(point.number, point.stack, refused=str(err)))
            continue
        done.append(
            Handoff(
                point.number,
                point.stack,
                out=result.out,
                family=result.family,
                files=result.files,
                with_weights=result.with_weights,
            )
        )
    if plan.tracking.backend == "mlflow":
        from hybridlab.tracking.mlflow_artifacts import attach_to_trials

        files = {h.number: [f for f in h.files if f.suffix != ".safetensors"] for h in done}
        attach_to_trials(
            plan.tracking.uri,
            plan.folder,
            plan.name,
            {n: f for n, f in files.items() if f},
            f"export/{to}",
        )
    return done

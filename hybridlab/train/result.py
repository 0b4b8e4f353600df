"""`TrainResult`: what one proxy training run produced, as plain data."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hybridlab.results import Status


@dataclass(kw_only=True)
class TrainResult:
    """The outcome of `train_proxy`.

    Attributes:
        status: `Status.OK`, or `Status.FAILED` (non-finite loss, out of memory); never raised
            to the caller. A `StrEnum`: `to_dict()` and JSON carry it as "ok" or "failed", and a
            string given for it is read into a `Status`.
        failure_reason: why a run failed, one line; None when ok.
        stop_reason: why an ok run ended: "completed", "target_accuracy", "max_wall_time" or
            "report" (the report callback raised `StopTraining`).
        task, spec, pattern: the task name and the trained model's canonical stack and pattern.
        accuracy: fraction of labelled held-out positions predicted right (argmax), at the last
            evaluation; None if the run failed before one.
        loss: mean cross-entropy (nats) over those positions.
        seeds: the seeds the result is the mean (or, with `seeds_statistic: best`, the best)
            of (`TrainConfig.seeds`).
        spread: with several seeds, per averaged value (accuracy, loss, ...) its {"mean",
            "std", "n"} over the seeds that trained ok at the chosen rate, and with
            `seeds_statistic: best` the reported value as "best"; empty for one run.
        members: with several seeds, every member's {seed, lr, status, accuracy, loss,
            valid_loss, valid_accuracy, failure_reason}; empty for one run.
        valid_accuracy, valid_loss: the same on the task's validation split after training
            (what may choose among runs, e.g. a learning rate; the test split never does); None
            when the task has none.
        bits_per_byte: loss / ln 2 for byte-level tasks; None otherwise.
        tokens_per_s: training tokens (batch · length per step) per second of training, evaluation
            time excluded.
        wall_time_s: the whole call, model building and evaluations included.
        peak_memory_bytes, peak_memory_kind: on CUDA "cuda_max_allocated" —
            `torch.cuda.max_memory_allocated` over this run; on CPU "cpu_rss_high_water" — the
            process's peak resident set size (`getrusage` ru_maxrss), which is a high-water mark
            of the whole process so far, not of this run alone.
        params: trainable parameters of the model (the cost model's count; for readout
            `last_state` tasks the small decoder is not included).
        state_bytes: decoding-state bytes per sequence at the task's length, fp32 (cost model).
        steps_done: optimizer steps taken by the run that was scored.
        lr: the peak learning rate it trained at (the race's winner when `lr_race` was given).
        lr_race: [rate, score] per raced candidate: the mean training loss over the last fifth
            of the race (None when its loss was not finite); empty without a race.
        race_steps: steps trained by the candidates the race dropped: the run's compute is
            `steps_done + race_steps` steps.
        device: where it ran.
        history: every reported metrics dict, each with its "step".
    """

    status: Status = Status.OK
    failure_reason: str | None = None
    stop_reason: str | None = None
    task: str = ""
    spec: str = ""
    pattern: str = ""
    accuracy: float | None = None
    loss: float | None = None
    bits_per_byte: float | None = None
    valid_accuracy: float | None = None
    valid_loss: float | None = None
    seeds: int = 1
    spread: dict[str, dict[str, float]] = field(default_factory=dict)
    members: list[dict[str, Any]] = field(default_factory=list)
    tokens_per_s: float = 0.0
    wall_time_s: float = 0.0
    peak_memory_bytes: int = 0
    peak_memory_kind: str = ""
    params: int = 0
    state_bytes: int = 0
    steps_done: int = 0
    lr: float = 0.0
    lr_race: list[list[float | None]] = field(default_factory=list)
    race_steps: int = 0
    device: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    # The trained HybridLM's state_dict (CPU tensors) with `TrainConfig.keep_weights`; not data:
    # left out of `to_dict`.
    weights: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            self.status = Status(self.status)
        except ValueError:
            valid = ", ".join(repr(s.value) for s in Status)
            raise ValueError(
                f"TrainResult.status must be one of {valid}, got {self.status!r}"
            ) from None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (history included; `weights` left out)."""
        data = dataclasses.asdict(dataclasses.replace(self, weights=None))
        del data["weights"]
        return data

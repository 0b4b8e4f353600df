"""What the driver sends a worker: `TrialRequest`, plain data (picklable, JSON-able).

No torch here: the study driver, the executor contract and the Ray side that runs in the
driver's process build and pass requests without importing the training code, which only
`hybridlab.execution.worker` imports, where a trial runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TrialRequest:
    """Everything a worker needs, as plain data.

    Attributes:
        number: the Optuna trial number.
        spec: `ModelSpec.to_dict()` (canonical stack, d_model, vocab_size).
        task: {"name": ..., **task settings}.
        train: `TrainConfig` fields.
        speed: speed objectives to measure after training, each `{"label", "name",
            "context", "batch", "dtype"}` (`hybridlab.bench.requests`); empty: none.
        weights_path: where the worker writes the trained weights (a safetensors file) when
            `train["keep_weights"]`; the result then names it (`weights_path`). It must be a
            path the worker can write and the driver read (a shared folder on a cluster).
    """

    number: int
    spec: dict[str, Any]
    task: dict[str, Any]
    train: dict[str, Any]
    speed: list[dict[str, Any]] = field(default_factory=list)
    weights_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

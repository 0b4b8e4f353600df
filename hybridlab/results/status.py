"""What became of a trial's training, as a worker reports it: `Status`, and `Fault` for a failure
that says nothing about the architecture.

Both are `StrEnum`s: a result dict carries them as their strings, so JSON, Optuna's user attrs
and MLflow's tags store them unchanged, a member equals its string (`Status.OK == "ok"`), and
`Status(result["status"])` reads one back.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """The `"status"` of a trial's result (`TrainResult.status`, the worker's result dict)."""

    # Trained to its end, or ended early by its own settings (target accuracy, wall time) or by
    # its report callback; scored at its last evaluation.
    OK = "ok"
    # No score: a non-finite loss, out of memory, an exception, its worker or node lost.
    FAILED = "failed"
    # Ended by an executor at the driver's request (the study's pruner) before it sent a result.
    STOPPED = "stopped"


class Fault(enum.StrEnum):
    """The `"fault"` of a failed result whose failure is not a result about the architecture:
    the study driver retries these (`executor.retries`). A non-finite loss has none."""

    # The training code raised (a bug, an input it could not handle).
    EXCEPTION = "exception"
    # Out of memory: the trainer's allocator error, or Ray's memory monitor killed the worker.
    OOM = "oom"
    # The trial's worker process died (SIGKILL, the kernel's OOM killer) or became unreachable.
    WORKER_DIED = "worker_died"
    # The node the trial ran on left the Ray cluster.
    NODE_LOST = "node_lost"
    # Ray reported an error that is none of the above.
    RAY_ERROR = "ray_error"

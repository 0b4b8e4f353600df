"""What runs a trial, wherever it runs: plain dict in, plain dict out.

`run_trial(request, report)` rebuilds the task, the training config and the spec from a
`TrialRequest.to_dict()` and calls `train_proxy`; when the request names speed objectives, it then
measures them on a model of the same spec (`hybridlab.bench.measure_requests`, with the trial's
threads and device) into `result["speed"]` by label, their noise into `result["speed_spread"]`.
It never raises: an exception inside training becomes a failed result whose `failure_reason`
names the exception. A failure that is a fault rather than a result about the architecture
carries a `Fault` (`EXCEPTION`, `OOM`; the Ray executor adds `WORKER_DIED`, `NODE_LOST`,
`RAY_ERROR`): the driver retries those (`executor.retries`), not a non-finite loss. This is the
function a Ray executor ships to workers; results and metrics travel back to the driver as plain
data. It imports torch (through the training code): executors import it where trials run.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridlab.bench import Protocol, measure_requests
from hybridlab.config import first_line
from hybridlab.results import Fault, Status
from hybridlab.spec import ModelSpec, parse
from hybridlab.tasks import Task, make_task
from hybridlab.train import TrainConfig, fit_spec, train_proxy
from hybridlab.train.members import train_seeded

Report = Callable[[int, dict[str, float]], Any]
# One task per process is kept: consecutive trials of a study share it (its data is drawn once).
_TASK_CACHE: dict[str, Task] = {}


def run_trial(request: dict[str, Any], report: Report | None = None) -> dict[str, Any]:
    """Train the request's model; return `TrainResult.to_dict()` (history dropped) or a failure.

    Example:
        >>> from hybridlab.execution.requests import TrialRequest
        >>> req = TrialRequest(number=0, spec={"d_model": 16, "stack": "attn(heads=2)"},
        ...     task={"name": "mqar", "vocab_size": 96, "num_kv_pairs": 2,
        ...           "num_train_examples": 8, "num_eval_examples": 4},
        ...     train={"steps": 2, "batch_size": 2, "device": "cpu"})
        >>> run_trial(req.to_dict())["status"]
        <Status.OK: 'ok'>
    """
    start = time.perf_counter()
    try:
        task = _task(request["task"])
        spec = parse(request["spec"])
        config = TrainConfig(**request["train"])
        # Several seeds train as members of one model (the mean over seeds is the result).
        train = train_seeded if config.seeds > 1 else train_proxy
        trained = train(spec, task, config, report=report)
        result = trained.to_dict()
        if trained.weights is not None and request.get("weights_path"):
            result["weights_path"] = _save_weights(trained.weights, request["weights_path"])
        if request.get("speed") and result["status"] == Status.OK:
            result.update(_measure_speed(fit_spec(spec, task), request["speed"], config, result))
    except Exception as err:  # any bug or bad input in one trial must not end the study
        last = traceback.extract_tb(err.__traceback__)[-1:]
        at = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
        detail = f": {first_line(err)}" if str(err).strip() else ""
        result = {
            "status": Status.FAILED,
            "fault": Fault.EXCEPTION,
            "failure_reason": f"{type(err).__name__}{detail}{at}",
            "wall_time_s": time.perf_counter() - start,
        }
    if str(result.get("failure_reason") or "").startswith("out of memory"):
        result["fault"] = Fault.OOM
    result.pop("history", None)
    return result


def _save_weights(weights: dict[str, Any], path: str) -> str:
    """Write a state_dict as safetensors at `path` (written whole, then moved into place)."""
    from safetensors.torch import save_file

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    save_file({k: v.contiguous() for k, v in weights.items()}, str(partial))
    partial.replace(target)
    return str(target)


def _measure_speed(
    spec: ModelSpec, requests: list[dict[str, Any]], config: TrainConfig, result: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """The speed objectives, on the device the trial trained on, with its threads."""
    import torch

    protocol = Protocol(
        threads=config.num_threads or torch.get_num_threads(),
        device=str(result["device"]).split(":")[0],
    )
    return measure_requests(spec, requests, protocol)


def _task(settings: dict[str, Any]) -> Task:
    key = json.dumps(settings, sort_keys=True, default=str)
    if key not in _TASK_CACHE:
        _TASK_CACHE.clear()
        config = {k: v for k, v in settings.items() if k != "name"}
        _TASK_CACHE[key] = make_task(settings["name"], config)
    return _TASK_CACHE[key]

"""Ray Tune's side of the Ray executor: a Searcher, a callback and a stopper that talk to the
driver through queues (`hybridlab.execution.channels`), and the trainable that runs in Ray
workers. Imported only when a study runs on Ray (importing Ray Tune takes seconds). See
`hybridlab.execution.ray_executor`.

A trial Ray loses (its worker killed, its node gone) or that errors outside `run_trial` becomes
a failed result here, its `Fault` told by the type of the exception Tune kept (`classify`).
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    NodeDiedError,
    OutOfMemoryError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)
from ray.tune import Callback, ProgressReporter, Stopper
from ray.tune.search import Searcher

from hybridlab.execution.channels import CHANNELS, Done, Message, Metrics, Started
from hybridlab.execution.environment import MLFLOW_RUN_VARS, drop_mlflow_run_vars
from hybridlab.results import Fault, Status

# How long the searcher waits for the driver's next trial when Tune has none running.
IDLE_WAIT_S = 2.0


class Bridge(Searcher):
    """Hands out what the driver submitted, in order: Optuna decides, not Tune."""

    def __init__(self, channel_id: int) -> None:
        super().__init__()
        self.channel_id = channel_id

    # Ray annotates the result Optional[Dict], yet documents Searcher.FINISHED (a str) too.
    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        channels = CHANNELS.get(self.channel_id)
        if channels is None:
            return Searcher.FINISHED
        # With no trial running, Tune polls its searcher once a second; wait here instead, so
        # the driver's next trial starts as soon as it is submitted. With trials running, never
        # block: Tune's loop also carries their reports.
        wait_s = IDLE_WAIT_S if channels.active == 0 else 0.0
        try:
            config = channels.inbox.get(timeout=wait_s) if wait_s else channels.inbox.get_nowait()
        except queue.Empty:
            return Searcher.FINISHED if channels.finished.is_set() else None
        if config is None:
            return Searcher.FINISHED
        channels.active += 1
        channels.numbers[trial_id] = config["request"]["number"]
        return config

    def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
        """Outcomes travel through `Relay`, which also sees the trial's error."""


class Relay(Callback):
    """Forwards a trial's metrics, result or error to the driver."""

    def __init__(self, channel_id: int) -> None:
        self.channel_id = channel_id

    def _put(self, message: Message) -> None:
        channels = CHANNELS.get(self.channel_id)
        if channels is not None:
            channels.outbox.put(message)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        number = trial.config["request"]["number"]
        if "hybridlab_metrics" in result:
            step, metrics = json.loads(result["hybridlab_metrics"])
            self._put(Metrics(number, step, metrics))
        if "hybridlab_started" in result:
            self._put(Started(number, json.loads(result["hybridlab_started"])))
        if "hybridlab_result" in result:
            self._put(Done(number, json.loads(result["hybridlab_result"])))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        channels = CHANNELS.get(self.channel_id)
        number = trial.config["request"]["number"]
        if channels is not None and number in channels.stop:
            # Ended by `StopAll` at the driver's request (a trial that finished first has
            # sent its result already; the driver keeps the first outcome).
            channels.stop.discard(number)
            self._put(Done(number, {"status": Status.STOPPED}))
        self._ended()

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._put(Done(trial.config["request"]["number"], fault_result(trial)))
        self._ended()

    def _ended(self) -> None:
        channels = CHANNELS.get(self.channel_id)
        if channels is not None:
            channels.active -= 1


class StopAll(Stopper):
    """Ends a trial the driver asked to stop (the pruner), at its next report; ends the Tune
    run when the driver shuts the executor down with trials in flight."""

    def __init__(self, channel_id: int) -> None:
        self.channel_id = channel_id

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        channels = CHANNELS.get(self.channel_id)
        return channels is not None and channels.numbers.get(trial_id) in channels.stop

    def stop_all(self) -> bool:
        channels = CHANNELS.get(self.channel_id)
        return channels is None or channels.stop_all.is_set()


class Silent(ProgressReporter):
    """Tune prints nothing: `hybridlab study run` has its own live view."""

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        return False

    def report(self, trials: list[Any], done: bool, *sys_info: Any) -> None:
        pass


def trial_name(trial: Any) -> str:
    return f"trial_{trial.config['request']['number']}_{trial.trial_id}"


def fault_result(trial: Any) -> dict[str, Any]:
    """A failed result for a trial Ray lost or that errored outside `run_trial`."""
    error: BaseException | None = None
    text = ""
    # Tune has just written the error next to the trial on the driver's machine: the exception
    # pickled, and its message as text.
    if trial.pickled_error_file and os.path.exists(trial.pickled_error_file):
        try:
            loaded = _unpickle(trial.pickled_error_file)
        except Exception:  # an error that cannot be unpickled here: its text is read below
            loaded = None
        if isinstance(loaded, BaseException):
            error, text = loaded, str(loaded).strip()
    if error is None and trial.error_file and os.path.exists(trial.error_file):
        text = _read_text(trial.error_file).strip()
    fault, what = classify(error, text)
    detail = _error_line(text, type(error).__name__ if error is not None else "")
    return {
        "status": Status.FAILED,
        "fault": fault,
        "failure_reason": f"{what} ({detail})" if detail else what,
        "worker": {"node_ip": getattr(trial, "node_ip", None)},
    }


def classify(error: BaseException | None, text: str) -> tuple[Fault, str]:
    """(fault, what happened) of a trial Ray ended: by the type of `error`, the exception Tune
    kept, or by its message `text` alone when the exception could not be read back."""
    if isinstance(error, RayTaskError) and isinstance(error.cause, BaseException):
        error = error.cause  # raised in the trainable, outside `run_trial`
    if error is None:
        return _classify_text(text)
    if isinstance(error, OutOfMemoryError):
        return Fault.OOM, _LOST_MEMORY
    if isinstance(error, NodeDiedError) or (isinstance(error, RayActorError) and error.preempted):
        return Fault.NODE_LOST, _LOST_NODE
    if isinstance(error, ActorUnavailableError):  # its connection dropped: process or node died
        return Fault.WORKER_DIED, "the trial's worker became unreachable"
    if isinstance(error, ActorDiedError):
        # Whether the worker process or its node died, and whether Ray's memory monitor killed
        # it, Ray says in the error's message only: the exception carries no field for them.
        fault, what = _classify_text(str(error))
        return (fault, what) if fault is not Fault.RAY_ERROR else (Fault.WORKER_DIED, _LOST_WORKER)
    if isinstance(error, RayActorError | WorkerCrashedError):
        return Fault.WORKER_DIED, _LOST_WORKER
    return Fault.RAY_ERROR, _RAY_ERROR


_LOST_MEMORY = "killed for lack of memory"
_LOST_NODE = "the trial's node was lost"
_LOST_WORKER = "the trial's worker process died"
_RAY_ERROR = "Ray reported an error"
# "The actor is dead because its worker process has died." / "The actor died because its node
# has died." The rest of Ray's message lists common causes, which mention both.
_BECAUSE = re.compile(r"(?:is dead|died) because ([^.]*)")
_EXIT_TYPE = re.compile(r"Worker exit type: (\w+)")


def _classify_text(text: str) -> tuple[Fault, str]:
    """(fault, what happened) from a Ray error's message: the sentence that says why the actor
    died, its worker's exit type, and the message's first line."""
    because = _BECAUSE.search(text)
    cause = because.group(1).lower() if because else ""
    exit_type = _EXIT_TYPE.search(text)
    first = text.splitlines()[0].lower() if text else ""
    if (exit_type and exit_type.group(1) == "NODE_OUT_OF_MEMORY") or any(
        w in f"{cause} {first}" for w in ("out of memory", "memory monitor", "low on memory")
    ):
        return Fault.OOM, _LOST_MEMORY
    if "node" in cause:
        return Fault.NODE_LOST, _LOST_NODE
    if because:
        return Fault.WORKER_DIED, _LOST_WORKER
    return Fault.RAY_ERROR, _RAY_ERROR


def _unpickle(path: str) -> Any:
    import ray.cloudpickle as cloudpickle

    with open(path, "rb") as f:
        return cloudpickle.load(f)


def _read_text(path: str) -> str:
    lines = Path(path).read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("Failure # "))


def _error_line(text: str, name: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "^", "During handling")):
            line = line if not name or line.startswith(name) else f"{name}: {line}"
            return line[:300]
    return name


def trainable(config: dict[str, Any]) -> None:
    """One trial in a Ray worker: prepare the process, train, report metrics and the result."""
    import torch

    from hybridlab.execution.worker import run_trial

    drop_mlflow_run_vars()
    cache = config["triton_cache_dir"]
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError:  # a path of the driver's machine: share a cache on this node at least
        cache = os.path.join(tempfile.gettempdir(), "hybridlab-triton-cache")
        os.makedirs(cache, exist_ok=True)
    os.environ["TRITON_CACHE_DIR"] = cache
    if os.path.isdir(config["cwd"]):
        os.chdir(config["cwd"])  # relative paths in the study (a bytes corpus) as for the driver
    request = config["request"]
    torch.set_num_threads(request["train"]["num_threads"])

    def report(step: int, metrics: dict[str, float]) -> None:
        tune.report({"hybridlab_metrics": json.dumps([step, metrics])})

    info = worker_info()
    tune.report({"hybridlab_started": json.dumps(info)})
    result = run_trial(request, report)
    result["worker"] = info
    tune.report({"hybridlab_result": json.dumps(result, default=str)})


def worker_info() -> dict[str, Any]:
    """Where a trial runs and how its process is set up (logged with the trial)."""
    import torch

    context = ray.get_runtime_context()
    return {
        "node_id": context.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call]  # Ray leaves it unannotated
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "torch_threads": torch.get_num_threads(),
        "triton_cache_dir": os.environ.get("TRITON_CACHE_DIR"),
        "mlflow_env": sorted(k for k in os.environ if k in MLFLOW_RUN_VARS),
    }

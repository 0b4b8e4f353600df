"""Ray Tune's side of the Ray executor: a Searcher, a callback and a stopper that talk to the
driver through queues, and the trainable that runs in Ray workers. Imported only when a study
runs on Ray (importing Ray Tune takes seconds). See `hybridlab.execution.ray_executor`.

Tune pickles its searcher, callbacks and stopper; they hold only the id of their executor's
`Channels` in `CHANNELS`, never a queue or a lock.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune import Callback, ProgressReporter, Stopper
from ray.tune.search import Searcher

from hybridlab.execution.base import STOPPED
from hybridlab.execution.environment import MLFLOW_RUN_VARS, drop_mlflow_run_vars
from hybridlab.execution.worker import run_trial
from hybridlab.train.result import FAILED


class Channels:
    """What one executor and its Tune run share: submitted configs in, results out."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.outbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.finished = threading.Event()
        self.stop_all = threading.Event()
        # Trials handed to Tune and not yet ended there (changed in Tune's thread only).
        self.active = 0
        # Tune's trial id → our trial number; the numbers the driver asked to stop early.
        self.numbers: dict[str, int] = {}
        self.stop: set[int] = set()


CHANNELS: dict[int, Channels] = {}
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

    def _put(self, item: tuple[Any, ...]) -> None:
        channels = CHANNELS.get(self.channel_id)
        if channels is not None:
            channels.outbox.put(item)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        number = trial.config["request"]["number"]
        if "hybridlab_metrics" in result:
            step, metrics = json.loads(result["hybridlab_metrics"])
            self._put(("metrics", number, step, metrics))
        if "hybridlab_started" in result:
            self._put(("started", number, json.loads(result["hybridlab_started"])))
        if "hybridlab_result" in result:
            self._put(("done", number, json.loads(result["hybridlab_result"])))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        channels = CHANNELS.get(self.channel_id)
        number = trial.config["request"]["number"]
        if channels is not None and number in channels.stop:
            # Ended by `StopAll` at the driver's request (a trial that finished first has
            # sent its result already; the driver keeps the first outcome).
            channels.stop.discard(number)
            self._put(("done", number, {"status": STOPPED}))
        self._ended()

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._put(("done", trial.config["request"]["number"], fault_result(trial)))
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
    error: Any = None
    # Tune has just written the error next to the trial on the driver's machine.
    for path, read in ((trial.pickled_error_file, _unpickle), (trial.error_file, _read_text)):
        if error is None and path and os.path.exists(path):
            try:
                error = read(path)
            except Exception:  # an error that cannot be unpickled here: try the text
                error = None
    name = type(error).__name__ if isinstance(error, BaseException) else ""
    text = str(error or "").strip()
    fault, what = _classify(name, text)
    detail = _error_line(text, name)
    return {
        "status": FAILED,
        "fault": fault,
        "failure_reason": f"{what} ({detail})" if detail else what,
        "worker": {"node_ip": getattr(trial, "node_ip", None)},
    }


def _classify(name: str, text: str) -> tuple[str, str]:
    """(fault, what happened) from a Ray error's type name and message."""
    # Ray explains an actor's death in one sentence ("The actor is dead because its worker
    # process has died", "... because its node has died"); the rest of the message lists
    # common causes, which mention both.
    line = next((line for line in text.splitlines() if "dead because" in line), "")
    because = line[line.index("dead because") :].split(". ")[0].lower() if line else ""
    first = text.splitlines()[0].lower() if text else ""
    name = name.lower()
    if "outofmemory" in name or any(
        w in f"{because} {first}" for w in ("out of memory", "memory monitor", "oom")
    ):
        return "oom", "killed for lack of memory"
    if "nodedied" in name or "node" in because:
        return "node_lost", "the trial's node was lost"
    if "unavailable" in name:  # its connection dropped: the process or its node died
        return "worker_died", "the trial's worker became unreachable"
    if "actor" in name or "worker" in name or because:
        return "worker_died", "the trial's worker process died"
    return "ray_error", "Ray reported an error"


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

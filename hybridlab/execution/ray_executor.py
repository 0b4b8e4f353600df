"""`executor: {backend: ray}`: trials run as Ray Tune trials, on local Ray or a cluster.

Optuna stays the brain and the driver keeps the one ask/tell loop of `hybridlab.study.driver`;
Ray Tune is the engine that places, runs and watches trials. The bridge:

    driver thread                       Tune thread (Tuner.fit)             Ray workers
    submit(request) ──► inbox ──► Bridge.suggest() ──► a Tune trial ──► trainable(config)
    wait() ◄── outbox ◄── Relay (on_trial_result, on_trial_error) ◄──── tune.report(...)

(`Bridge`, `Relay` and `trainable` live in `hybridlab.execution.tune_bridge`, imported only when
a study runs on Ray; the queues and the messages they carry, `Started`, `Metrics` and `Done`, in
`hybridlab.execution.channels`.)

- Tune runs in a background thread of the driver process; `suggest` hands out what the driver
  submitted (or nothing yet), so every search decision is the persisted Optuna study's, taken in
  the driver (multi-objective, constraints, resume) and never in Tune.
- Every metric and result travels as plain data to the driver, which alone writes Optuna and
  MLflow (one writer per store). Intermediate metrics reach `on_metrics` in the driver's thread.
- Faults: a worker killed (SIGKILL, the OOM killer), a node lost, an error Ray raises: Tune
  records the trial's error, `Relay.on_trial_error` turns it into a failed result with the
  reason and its `Fault` (told by the type of Ray's exception), and the driver retries it up to
  `executor.retries` times. Tune's own retries are off (`max_failures=0`) so there is one retry
  policy, the driver's.
- Each worker sets torch's threads to its trial's CPUs, points Triton at a cache directory shared
  by the trials on its machine, drops `MLFLOW_RUN_ID` (and the other run-scoped MLflow
  variables, `hybridlab.execution.environment`) from its environment, and runs in the driver's
  working directory when that exists.
- Actors are reused between trials (`reuse_actors=True`): a trial starts in milliseconds rather
  than paying a process start and `import torch` (measured in benchmarks/README.md).

Local Ray is started (and stopped) by the executor when no address is given and Ray is not
already initialised in the process; with an address (`auto`, `host:6379`) it joins that cluster
and leaves it running. Ray Client addresses (`ray://`) are refused: the driver must run on a
cluster node (see the README's cluster recipe).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from hybridlab.config import SettingError, StudyConfigError, first_line
from hybridlab.config.addresses import connect_error
from hybridlab.execution.base import (
    Executor,
    ExecutorConfig,
    ExecutorFailed,
    OnMetrics,
    TrialOutcome,
)
from hybridlab.execution.channels import CHANNELS, Channels, Done, Metrics, Started
from hybridlab.execution.environment import drop_mlflow_run_vars
from hybridlab.execution.requests import TrialRequest
from hybridlab.results import Status

OPTIONS = {
    "num_cpus": "the CPUs a local Ray may use (default: all)",
    "triton_cache_dir": "the Triton cache the trials on a machine share",
}
_IDS = itertools.count()


class RayExecutor(Executor):
    """Runs trials on Ray through Ray Tune; see the module docstring.

    Args:
        on_metrics: called in the driver's thread with (trial number, step, metrics).
        folder: the study folder (Tune's records go to `<folder>/ray`, the default Triton cache
            is `<folder>/triton-cache`).
        max_concurrent: trials in flight; None: as many as the cluster's resources fit.
        address: None (local Ray, or the Ray already initialised in this process), "auto", or a
            cluster's "host:port".
        resources: per trial, {"cpu": 1, "gpu": 0}; a fraction of a GPU lets small proxies share.
        options: `num_cpus` (local Ray only), `triton_cache_dir`.
    """

    def __init__(
        self,
        on_metrics: OnMetrics | None = None,
        *,
        folder: Path | str = "runs/ray",
        max_concurrent: int | None = None,
        address: str | None = None,
        resources: dict[str, float] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(on_metrics)
        self.check_options(options)
        import ray

        self.folder = Path(folder).resolve()
        self.resources = {"cpu": 1.0, "gpu": 0.0, **(resources or {})}
        self.started_ray = False
        if not ray.is_initialized():
            drop_mlflow_run_vars()  # a local Ray's workers inherit this environment
            if address not in (None, "auto"):
                _check_reachable(address)  # ray.init waits for minutes on a wrong address
            try:
                with _sigterm_kept():
                    ray.init(
                        address=address,
                        num_cpus=options.get("num_cpus") if address is None else None,
                        include_dashboard=False,
                        log_to_driver=False,
                        # Ray annotates logging_level as int, yet documents and accepts names.
                        logging_level="ERROR",  # type: ignore[arg-type]
                        configure_logging=True,
                    )
            except (ConnectionError, RuntimeError) as err:
                raise StudyConfigError(
                    f"cannot start or join Ray (address {address!r}): {first_line(err)}",
                    key="executor.address",
                ) from None
            self.started_ray = address is None
        total = ray.cluster_resources()  # type: ignore[no-untyped-call]  # unannotated in Ray
        fit = math.floor(total.get("CPU", 0) / self.resources["cpu"] + 1e-9)
        if self.resources["gpu"] > 0:
            fit = min(fit, math.floor(total.get("GPU", 0) / self.resources["gpu"] + 1e-9))
        if fit < 1:
            self.shutdown()
            have = f"{total.get('CPU', 0):g} CPU, {total.get('GPU', 0):g} GPU"
            raise StudyConfigError(
                f"{self.resources} per trial do not fit the Ray cluster ({have})",
                key="executor.resources",
            )
        self.max_concurrent = max_concurrent or fit
        self.triton_cache = options.get("triton_cache_dir") or str(self.folder / "triton-cache")
        self._id = next(_IDS)
        self._channels: Channels | None = None
        self._running: set[int] = set()
        self._last_step: dict[int, int] = {}
        # Where each trial runs (node id and ip, hostname, pid), known once it has started.
        self.workers: dict[int, dict[str, Any]] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @classmethod
    def check_config(cls, config: ExecutorConfig) -> None:
        address = config.address
        if address is not None:
            if not isinstance(address, str) or not address.strip():
                _invalid("address", f"'auto' or host:port, got {address!r}")
            if address.startswith("ray://"):
                _invalid(
                    "address",
                    f"{address!r} is a Ray Client address; the driver keeps the Optuna study "
                    f"and the MLflow log and must run on a cluster node: run the study on the "
                    f"head node with --address auto (or host:6379)",
                )
        resources = config.resources or {}
        if not isinstance(resources, dict) or set(resources) - {"cpu", "gpu"}:
            _invalid("resources", f"a mapping with cpu and/or gpu per trial, got {resources!r}")
        cpu, gpu = resources.get("cpu", 1), resources.get("gpu", 0)
        if not isinstance(cpu, int | float) or isinstance(cpu, bool) or not cpu > 0:
            _invalid("resources.cpu", f"a number > 0, got {cpu!r}")
        if not isinstance(gpu, int | float) or isinstance(gpu, bool) or not gpu >= 0:
            _invalid("resources.gpu", f"a number >= 0 (0.25: a quarter), got {gpu!r}")
        if config.max_concurrent is not None and config.max_concurrent < 1:
            _invalid("max_concurrent", f">= 1 or null, got {config.max_concurrent}")
        cls.check_options(config.options)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            valid = ", ".join(f"{k} ({v})" for k, v in OPTIONS.items())
            _invalid("options", f"unknown {unknown}; the ray backend takes {valid}")
        cpus = options.get("num_cpus")
        if cpus is not None and (not isinstance(cpus, int) or cpus < 1):
            _invalid("options.num_cpus", f"a whole number >= 1, got {cpus!r}")
        cache = options.get("triton_cache_dir")
        if cache is not None and not isinstance(cache, str):
            _invalid("options.triton_cache_dir", f"a folder path, got {cache!r}")

    # The executor contract
    def submit(self, request: TrialRequest) -> int:
        channels = self._channels if self._channels is not None else self._start_tune()
        payload = request.to_dict()
        payload["train"] = {**payload["train"], "num_threads": max(1, int(self.resources["cpu"]))}
        config = {
            "request": payload,
            "triton_cache_dir": self.triton_cache,
            "cwd": os.getcwd(),
        }
        self._running.add(request.number)
        channels.inbox.put(config)
        return request.number

    def wait(self, timeout: float | None = None) -> list[TrialOutcome]:
        if not self._running:
            return []
        channels = self._channels
        assert channels is not None, "a trial was submitted, so Tune runs"
        deadline = None if timeout is None else time.monotonic() + timeout
        outcomes: list[TrialOutcome] = []
        block = True
        while True:
            try:
                message = channels.outbox.get(timeout=0.5 if block else 0)
            except queue.Empty:
                if outcomes or (deadline is not None and time.monotonic() >= deadline):
                    return outcomes
                self._check_tune_alive()
                continue
            match message:
                case Started(number, worker):
                    self.workers[number] = worker
                case Metrics(number, step, metrics) if number in self._running:
                    self._last_step[number] = step
                    if self.on_metrics(number, step, metrics):
                        channels.stop.add(number)  # Tune ends it at its next report
                case Done(number, result) if number in self._running:
                    self._running.discard(number)
                    if result.get("status") == Status.STOPPED:
                        result["steps_done"] = self._last_step.get(number, 0)
                        result["worker"] = self.workers.get(number)
                    self._last_step.pop(number, None)
                    outcomes.append(TrialOutcome(number, result))
                    block = False  # return what has finished, without waiting for more

    def shutdown(self) -> None:
        channels = getattr(self, "_channels", None)  # None too when __init__ stopped early
        if channels is not None:
            channels.finished.set()
            if self._running:
                channels.stop_all.set()  # trials still running are abandoned
            channels.inbox.put(None)
            if self._thread is not None:
                self._thread.join(timeout=60)
            CHANNELS.pop(self._id, None)
            self._channels = None
        if self.started_ray:
            import ray

            ray.shutdown()
            self.started_ray = False

    # Tune
    def _start_tune(self) -> Channels:
        """Start Tune's loop in a background thread; return the channels to it."""
        from ray import tune

        from hybridlab.execution import tune_bridge as bridge

        # Tune's newer console output prints a banner whatever its verbosity; the legacy one
        # honours `progress_reporter`, and `hybridlab study run` has its own live view.
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        channels = self._channels = CHANNELS[self._id] = Channels()
        tuner = tune.Tuner(
            tune.with_resources(
                bridge.trainable, {"cpu": self.resources["cpu"], "gpu": self.resources["gpu"]}
            ),
            tune_config=tune.TuneConfig(
                search_alg=bridge.Bridge(self._id),
                num_samples=-1,
                max_concurrent_trials=self.max_concurrent,
                reuse_actors=True,
                trial_name_creator=bridge.trial_name,
                trial_dirname_creator=bridge.trial_name,
            ),
            run_config=tune.RunConfig(
                name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
                storage_path=str(self.folder / "ray"),
                failure_config=tune.FailureConfig(max_failures=0),
                stop=bridge.StopAll(self._id),
                callbacks=[bridge.Relay(self._id)],
                verbose=0,
                progress_reporter=bridge.Silent(),
            ),
        )

        def fit() -> None:
            try:
                tuner.fit()
            except BaseException as err:  # reported to the driver by `wait`
                self._error = err

        self._thread = threading.Thread(target=fit, name="hybridlab-tune", daemon=True)
        self._thread.start()
        return channels

    def _check_tune_alive(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            reason = f": {type(self._error).__name__}: {self._error}" if self._error else ""
            raise ExecutorFailed(
                f"Ray Tune stopped with {len(self._running)} trial(s) running{reason}; run the "
                f"same command again to resume"
            )


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Keep the caller's SIGTERM handler across `ray.init`, which replaces it with its own
    (`sys.exit(15)`, plus a stack dump from its C++ failure handler): `hybridlab study run`
    handles SIGTERM like Ctrl-C, interrupting the trial in flight and stopping Ray cleanly."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _check_reachable(address: str) -> None:
    """Fail fast, with a clear message, when nothing listens at a cluster's host:port."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise StudyConfigError(
            f"a Ray cluster address is 'auto' or host:port (the head's GCS port, 6379 by "
            f"default), got {address!r}",
            key="executor.address",
        )
    reason = connect_error(host, int(port))
    if reason is not None:
        raise StudyConfigError(
            f"cannot reach the Ray cluster at {address}: {reason}; is `ray start --head --port "
            f"{port}` running there?",
            key="executor.address",
        )


def _invalid(key: str, message: str) -> NoReturn:
    raise SettingError(f"executor.{key}: {message}", key=f"executor.{key}")

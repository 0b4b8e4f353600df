"""Run a batch of requests through an executor, as many at once as it takes.

The study's seed runs and a validation's re-trainings are batches: known in advance, each
recorded as it ends, none told to Optuna. Trials are not: the driver asks for the next one only
when the executor has room.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hybridlab.execution.base import Executor
from hybridlab.execution.requests import TrialRequest


def run_batch(
    executor: Executor,
    requests: Iterable[TrialRequest],
    on_done: Callable[[TrialRequest, dict[str, Any]], None],
    on_start: Callable[[TrialRequest], None] | None = None,
) -> None:
    """Submit `requests` in order, keeping `executor.max_concurrent` in flight; call `on_start`
    as each is submitted and `on_done` with its result as each ends (in the caller's thread).

    Request numbers must be unique among the executor's runs in flight.
    """
    queue = list(requests)
    running: dict[int, TrialRequest] = {}
    while queue or running:
        while queue and len(running) < executor.max_concurrent:
            request = queue.pop(0)
            running[request.number] = request
            if on_start is not None:
                on_start(request)
            executor.submit(request)
        for outcome in executor.wait():
            on_done(running.pop(outcome.number), outcome.result)

"""What a Ray executor and its Tune run share in the driver's process: the queues between them,
the messages the outbox carries, and the registry Tune's pickled callbacks find them by.

No Ray here: the executor reads the messages without importing Ray Tune, and Tune's side
(`hybridlab.execution.tune_bridge`) writes them. Tune pickles its searcher, callbacks and
stopper; they hold only the id of their executor's `Channels` in `CHANNELS`, never a queue or a
lock.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Started:
    """A trial began in a worker: where it runs (node, host, process; `tune_bridge.worker_info`)."""

    number: int
    worker: dict[str, Any]


@dataclass(frozen=True)
class Metrics:
    """A trial reported intermediate metrics (`hybridlab.results.Metric` names) at a step."""

    number: int
    step: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class Done:
    """A trial ended: its result dict, the worker's, or one Tune's side wrote for a trial that
    ended without one (stopped at the driver's request, or lost with its worker)."""

    number: int
    result: dict[str, Any]


# What the outbox carries, from Tune's thread to the driver's.
Message = Started | Metrics | Done


class Channels:
    """What one executor and its Tune run share: submitted configs in, messages out."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.outbox: queue.Queue[Message] = queue.Queue()
        self.finished = threading.Event()
        self.stop_all = threading.Event()
        # Trials handed to Tune and not yet ended there (changed in Tune's thread only).
        self.active = 0
        # Tune's trial id → our trial number; the numbers the driver asked to stop early.
        self.numbers: dict[str, int] = {}
        self.stop: set[int] = set()


# Executor id → its channels, while its Tune run lives.
CHANNELS: dict[int, Channels] = {}

"""A trial Ray ends without a result gets its `Fault` from the type of the exception Tune kept
(`tune_bridge.classify`), and from Ray's message only where the type cannot tell (a dead actor's
process against its node) or where only the text could be read back."""

from __future__ import annotations

import pytest
from ray._raylet import ActorID
from ray.core.generated.common_pb2 import ActorDiedErrorContext, NodeDeathInfo
from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    NodeDiedError,
    OutOfMemoryError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)

from hybridlab.execution.tune_bridge import classify
from hybridlab.results import Fault

# What Ray says after the first line of an actor's death: why, then common causes that mention
# both a worker's death and a node's (the advice must not decide).
ADVICE = (
    " Worker exit type: {exit} Worker exit detail: Some common causes include: (1) the process "
    "was killed by the OOM killer due to high memory usage, (2) ray stop --force was called, "
    "... node deaths by resource contention"
)


def actor_died(because: str, exit_type: str = "SYSTEM_ERROR", **context) -> ActorDiedError:
    """An `ActorDiedError` as Ray builds it for a trainable's actor."""
    message = because + ADVICE.format(exit=exit_type)
    return ActorDiedError(
        ActorDiedErrorContext(
            error_message=message,
            class_name="ImplicitFunc",
            actor_id=b"\x01" * ActorID.size(),
            **context,
        )
    )


def task_error(cause: BaseException) -> RayTaskError:
    """A `RayTaskError` for `cause` raised in the trainable, as Tune pickles it."""
    return RayTaskError("trainable", "Traceback (most recent call last): ...", cause)


PREEMPTED = NodeDeathInfo(reason=NodeDeathInfo.AUTOSCALER_DRAIN_PREEMPTED)


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        pytest.param(
            actor_died("The actor is dead because its worker process has died."),
            Fault.WORKER_DIED,
            id="worker-killed",
        ),
        pytest.param(
            actor_died("The actor died because its node has died. Node Id: 12ab"),
            Fault.NODE_LOST,
            id="node-died",
        ),
        pytest.param(
            actor_died(
                "The actor is dead because its worker process has died.", "NODE_OUT_OF_MEMORY"
            ),
            Fault.OOM,
            id="memory-monitor-killed-the-actor",
        ),
        pytest.param(
            actor_died(
                "The actor is dead because its worker process has died.", node_death_info=PREEMPTED
            ),
            Fault.NODE_LOST,
            id="node-preempted",
        ),
        pytest.param(actor_died(""), Fault.WORKER_DIED, id="actor-died-without-a-reason"),
        pytest.param(
            OutOfMemoryError("Task was killed due to the node running low on memory."),
            Fault.OOM,
            id="out-of-memory",
        ),
        pytest.param(
            task_error(OutOfMemoryError("low on memory")).as_instanceof_cause(),
            Fault.OOM,
            id="out-of-memory-as-task-error",
        ),
        pytest.param(NodeDiedError("node 12ab is dead"), Fault.NODE_LOST, id="node-died-error"),
        pytest.param(
            ActorUnavailableError("RpcError: Socket closed", None),
            Fault.WORKER_DIED,
            id="actor-unreachable",
        ),
        pytest.param(RayActorError(), Fault.WORKER_DIED, id="actor-error"),
        pytest.param(WorkerCrashedError(), Fault.WORKER_DIED, id="worker-crashed"),
        pytest.param(
            task_error(ValueError("the node has no memory of this")),
            Fault.RAY_ERROR,
            id="trainable-raised",
        ),
    ],
)
def test_a_ray_error_is_classified_by_its_type(error, fault):
    assert classify(error, str(error))[0] == fault


ACTOR_DIED_TEXT = (
    "The actor died unexpectedly before finishing this task.\n\tclass_name: ImplicitFunc\n"
    "The actor is dead because its {what} has died." + ADVICE.format(exit="SYSTEM_ERROR")
)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        pytest.param(ACTOR_DIED_TEXT.format(what="worker process"), Fault.WORKER_DIED, id="worker"),
        pytest.param(ACTOR_DIED_TEXT.format(what="node"), Fault.NODE_LOST, id="node"),
        pytest.param(
            "Task was killed due to the node running low on memory.", Fault.OOM, id="memory"
        ),
        pytest.param("something else went wrong", Fault.RAY_ERROR, id="other"),
        pytest.param("", Fault.RAY_ERROR, id="no-error-file"),
    ],
)
def test_without_the_exception_its_message_decides_and_not_the_advice(text, fault):
    assert classify(None, text)[0] == fault


def test_what_happened_is_said_in_words():
    fault, what = classify(actor_died("The actor is dead because its worker process has died."), "")
    assert (fault, what) == (Fault.WORKER_DIED, "the trial's worker process died")

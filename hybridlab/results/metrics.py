"""The one table of metric names: what `train_proxy` reports at a step, what a worker measures
after training, and what the MLflow tracker logs on a study's runs.

Every room that writes or reads a metric names it from here (the trainer, the worker, the
driver and the pruner, the CLI's progress views, the trackers). The names are `StrEnum`s: a
metrics dict keyed by members is a dict of their strings (`{Metric.TRAIN_LOSS: 2.3}` is
`{"train/loss": 2.3}`), which is what crosses processes and lands in MLflow.
"""

from __future__ import annotations

import enum


class Metric(enum.StrEnum):
    """A metric `train_proxy` reports through `report(step, metrics)` and keeps in its history."""

    # Every `train.log_every` steps (and at the last): the step's mean training loss (nats),
    # the learning rate, training tokens per second so far (evaluations excluded).
    TRAIN_LOSS = "train/loss"
    TRAIN_LR = "train/lr"
    TRAIN_TOKENS_PER_S = "train/tokens_per_s"
    # After each evaluation on the held-out set: the fraction of labelled positions predicted
    # right, their mean cross-entropy (nats), and that loss in bits for byte-level tasks.
    EVAL_ACCURACY = "eval/accuracy"
    EVAL_LOSS = "eval/loss"
    EVAL_BITS_PER_BYTE = "eval/bits_per_byte"
    # Once, at the end of a learning-rate race (`train.lr_race`): the winning rate, its score.
    RACE_LR = "race/lr"
    RACE_LOSS = "race/loss"


class Speed(enum.StrEnum):
    """A speed or memory measurement a worker takes after training (`hybridlab.bench`), named
    as a study's speed objectives are."""

    PREFILL_TOKENS_PER_S = "prefill_tokens_per_s"
    DECODE_TOKENS_PER_S = "decode_tokens_per_s"
    TRAIN_TOKENS_PER_S = "train_tokens_per_s"
    PEAK_MEMORY_BYTES = "peak_memory_bytes"


class RunMetric(enum.StrEnum):
    """What the MLflow tracker logs on a study's runs besides the training metrics."""

    # The study's parent run, at step = complete trials so far.
    HYPERVOLUME = "hypervolume"
    FRONT_SIZE = "front_size"
    # A front trial trained again under more seeds: how many runs its spread is over.
    SEEDS_N = "seeds/n"


def objective_metric(label: str) -> str:
    """A trial run's value of the objective `label`.

    Example:
        >>> objective_metric("accuracy")
        'obj/accuracy'
    """
    return f"obj/{label}"


def final_metric(field: str) -> str:
    """A trial run's numeric result field `field` (`TrainResult`'s), as it ended.

    Example:
        >>> final_metric("steps_done")
        'final/steps_done'
    """
    return f"final/{field}"


def seed_metric(label: str, statistic: str) -> str:
    """The `statistic` ("mean" or "std") of objective `label` over a front trial's seed runs.

    Example:
        >>> seed_metric("accuracy", "std")
        'seeds/accuracy/std'
    """
    return f"seeds/{label}/{statistic}"

"""Training batches of the synthetic tasks: shuffled passes over the train set at any batch size,
and a batch too large to be one refused before any work."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridlab.tasks import make_task
from hybridlab.tasks.base import MAX_BATCH_TOKENS, Split

NUM_TRAIN = 16
TASK = make_task(
    "mqar", {"vocab_size": 128, "num_train_examples": NUM_TRAIN, "num_eval_examples": 4}
)


@settings(max_examples=40, deadline=None)
@given(
    batch_size=st.integers(1, 5 * NUM_TRAIN + 3),
    num_batches=st.integers(1, 4),
    seed=st.integers(0, 2**32),
)
def test_batches_are_consecutive_shuffled_passes(batch_size, num_batches, seed):
    """Batch after batch reads one permutation of the train set after another, whether a batch
    is a part of a pass or spans several."""
    ids, targets = TASK.train_set()
    order = TASK.rng(Split.ORDER, seed)
    passes = -(-batch_size * num_batches // NUM_TRAIN)
    expected = np.concatenate([order.permutation(NUM_TRAIN) for _ in range(passes)])
    batches = TASK.train_batches(batch_size, seed=seed)
    for i in range(num_batches):
        index = torch.from_numpy(expected[i * batch_size : (i + 1) * batch_size])
        got_ids, got_targets = next(batches)
        assert torch.equal(got_ids, ids[index]) and torch.equal(got_targets, targets[index])


@pytest.mark.parametrize(
    ("batch_size", "message"),
    [
        pytest.param(0, "batch_size must be ≥ 1, got 0", id="zero"),
        pytest.param(100_000_000, "over the 2,147,483,648 a batch may hold", id="1e8-examples"),
        pytest.param(MAX_BATCH_TOKENS, "lower train.batch_size", id="cap-in-examples"),
    ],
)
def test_a_batch_size_that_cannot_be_a_batch_is_refused_first(batch_size, message):
    with pytest.raises(ValueError, match=message):
        next(TASK.train_batches(batch_size))


@pytest.mark.parametrize(
    ("batch_size", "message"),
    [
        pytest.param(0, "batch_size must be ≥ 1, got 0", id="zero"),
        pytest.param(100_000_000, "lower train.batch_size", id="1e8-examples"),
    ],
)
def test_the_bytes_task_refuses_a_batch_that_cannot_be_one_before_reading_its_corpus(
    batch_size, message, monkeypatch
):
    task = make_task("bytes", {"max_bytes": 30_000, "seq_len": 32, "num_eval_examples": 4})

    def unread(*_):
        raise AssertionError("the corpus was read before the batch size was checked")

    monkeypatch.setattr(task, "corpus", unread)
    with pytest.raises(ValueError, match=message):
        next(task.train_batches(batch_size))

"""The splits of a synthetic task: a validation split that shares no example with the test split
or a fixed training set, fresh training examples every batch, and MQAR's training mixture of
pair counts (the validation and test splits stay at the target count)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridlab.tasks import IGNORE_INDEX, make_task
from hybridlab.tasks.base import Split

MQAR = {"vocab_size": 80, "seq_len": 64, "num_kv_pairs": 4, "num_eval_examples": 64}


def _rows(batch):
    ids, targets = batch
    return {row.tobytes() for row in torch.cat([ids, targets], dim=1).numpy()}


def _pairs_per_example(batch):
    return (batch[1] != IGNORE_INDEX).sum(dim=1)


@pytest.mark.parametrize(
    "name, settings",
    [
        pytest.param("mqar", {**MQAR, "num_train_examples": 128}, id="mqar"),
        pytest.param("memorization", {"num_eval_examples": 64}, id="memorization"),
        pytest.param("in-context-recall", {"num_eval_examples": 64}, id="in-context-recall"),
    ],
)
def test_the_validation_split_shares_no_example_with_the_train_and_test_splits(name, settings):
    task = make_task(name, {**settings, "num_valid_examples": 64})
    valid = task.valid_set()
    assert len(valid[0]) == 64 and len(_rows(valid)) == 64
    assert not _rows(valid) & _rows(task.eval_set())
    assert not _rows(valid) & _rows(task.train_set())


def test_an_example_the_other_splits_hold_is_drawn_again_for_the_validation_split():
    """One pair at length 4 in a vocabulary of 6: six distinct examples in all, so the first
    validation draw repeats one of the four the test and training splits hold."""
    tiny = {"vocab_size": 6, "seq_len": 4, "num_kv_pairs": 1, "random_non_queries": False}
    settings = {**tiny, "num_train_examples": 2, "num_eval_examples": 2, "num_valid_examples": 2}
    task = make_task("mqar", settings)
    taken = _rows(task.eval_set()) | _rows(task.train_set())
    first_draw = task.generate(2, task.rng(Split.VALID), train=False)
    assert _rows(first_draw) & taken
    valid = task.valid_set()
    assert len(_rows(valid)) == 2 and not _rows(valid) & taken


def test_a_validation_split_larger_than_the_distinct_examples_left_is_refused():
    tiny = {"vocab_size": 6, "seq_len": 4, "num_kv_pairs": 1, "random_non_queries": False}
    settings = {**tiny, "num_train_examples": 2, "num_eval_examples": 2, "num_valid_examples": 5}
    with pytest.raises(ValueError, match="found only 2 of num_valid_examples=5"):
        make_task("mqar", settings).valid_set()


def test_the_validation_split_is_scored_at_the_target_setting_and_fixed():
    task = make_task("mqar", {**MQAR, "num_valid_examples": 32, "train_num_kv_pairs": [1, 2]})
    assert (_pairs_per_example(task.valid_set()) == 4).all()
    again = make_task("mqar", {**MQAR, "num_valid_examples": 32, "train_num_kv_pairs": [1, 2]})
    assert torch.equal(task.valid_set()[0], again.valid_set()[0])


def test_a_task_without_a_validation_split_says_which_setting_gives_one():
    task = make_task("mqar", MQAR)
    assert not task.has_validation
    with pytest.raises(ValueError, match=r"set task\.num_valid_examples ≥ 1"):
        task.valid_set()


def test_fresh_examples_are_new_every_batch_and_fixed_by_the_seed():
    task = make_task("mqar", {**MQAR, "num_train_examples": None})
    first, second = (next(task.train_batches(16, seed=s)) for s in (0, 0))
    assert torch.equal(first[0], second[0]), "the same seed draws the same stream"
    stream = task.train_batches(16, seed=0)
    seen = [_rows(next(stream)) for _ in range(4)]
    assert len(set().union(*seen)) == 64, "no example repeats across batches"
    assert _rows(next(task.train_batches(16, seed=1))) != seen[0]
    with pytest.raises(ValueError, match="no fixed training set"):
        task.train_set()


@pytest.mark.parametrize(
    "mixture, weights",
    [
        pytest.param([1, 2, 4], [], id="equal-shares"),
        pytest.param([1, 4], [3.0, 1.0], id="weighted"),
    ],
)
def test_the_training_mixture_draws_its_pair_counts_in_their_shares(mixture, weights):
    settings = {**MQAR, "train_num_kv_pairs": mixture, "train_kv_weights": weights}
    task = make_task("mqar", {**settings, "num_train_examples": 6000})
    counts = _pairs_per_example(task.train_set()).numpy()
    assert set(np.unique(counts)) == set(mixture)
    shares = np.asarray(weights or [1.0] * len(mixture))
    expected = shares / shares.sum()
    observed = np.array([(counts == kv).mean() for kv in mixture])
    np.testing.assert_allclose(observed, expected, atol=0.03)
    assert (_pairs_per_example(task.eval_set()) == 4).all()


@pytest.mark.parametrize(
    "settings, message",
    [
        pytest.param({"train_num_kv_pairs": [0, 4]}, r"in \[1, seq_len/4 = 16\]", id="zero"),
        pytest.param({"train_num_kv_pairs": [17]}, r"in \[1, seq_len/4 = 16\]", id="too-many"),
        pytest.param({"train_num_kv_pairs": [2, 2]}, "lists a count twice", id="repeated"),
        pytest.param({"train_kv_weights": [1.0]}, "needs train_num_kv_pairs", id="no-mixture"),
        pytest.param(
            {"train_num_kv_pairs": [1, 4], "train_kv_weights": [1.0]},
            "one positive weight per count",
            id="weights-short",
        ),
        pytest.param(
            {"train_num_kv_pairs": [1, 4], "train_kv_weights": [1.0, 0.0]},
            "one positive weight per count",
            id="weight-zero",
        ),
        pytest.param({"num_train_examples": 0}, "or null for fresh examples", id="no-train"),
        pytest.param({"num_valid_examples": -1}, "num_valid_examples ≥ 0", id="negative-valid"),
    ],
)
def test_settings_that_cannot_make_splits_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        make_task("mqar", {**MQAR, **settings})

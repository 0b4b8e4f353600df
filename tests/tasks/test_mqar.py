"""MQAR against zoology's definition: layout, ranges, labels, query-gap law, requirements."""

import numpy as np
import pytest
import torch

from hybridlab.tasks import MQARConfig, MQARTask

SMALL = pytest.param({"vocab_size": 128, "seq_len": 64, "num_kv_pairs": 4}, id="v128-l64-kv4")
DEFAULT_SHAPE = pytest.param(
    {"vocab_size": 8192, "seq_len": 64, "num_kv_pairs": 8}, id="v8192-l64-kv8"
)
LONG = pytest.param(
    {"vocab_size": 512, "seq_len": 256, "num_kv_pairs": 16, "power_a": 1.0}, id="v512-l256-kv16-a1"
)


def _eval_set(num_examples=200, **kwargs):
    task = MQARTask(MQARConfig(num_train_examples=8, num_eval_examples=num_examples, **kwargs))
    ids, targets = task.eval_set()
    return task, ids.numpy(), targets.numpy()


@pytest.mark.parametrize("kwargs", [SMALL, DEFAULT_SHAPE, LONG])
def test_layout_matches_definition(kwargs):
    task, ids, targets = _eval_set(**kwargs)
    V, T, kv = task.vocab_size, task.seq_len, kwargs["num_kv_pairs"]
    assert ids.shape == targets.shape == (200, T)
    keys, values = ids[:, 0 : 2 * kv : 2], ids[:, 1 : 2 * kv : 2]
    assert ((keys >= 1) & (keys < V // 2)).all()
    assert ((values >= V // 2) & (values < V)).all()
    for row in range(len(ids)):
        assert len(set(keys[row])) == kv, "keys are drawn without replacement"
        assert len(set(values[row])) == kv, "values are drawn without replacement"
        labelled = np.flatnonzero(targets[row] != -100)
        assert len(labelled) == kv, "each key is queried exactly once"
        pairs = dict(zip(keys[row], values[row], strict=True))
        for pos in labelled:
            # The query sits at an even offset of the query region; its target is its value.
            assert pos >= 2 * kv and (pos - 2 * kv) % 2 == 0
            assert ids[row, pos] in pairs
            assert targets[row, pos] == pairs[ids[row, pos]]
        assert sorted(ids[row, labelled]) == sorted(keys[row])
    assert (targets[:, : 2 * kv] == -100).all()


def test_random_non_queries_fill_blanks():
    _, ids, _ = _eval_set(vocab_size=128, num_kv_pairs=4)
    assert (ids[:, 8:] == 0).mean() < 0.05
    _, ids, targets = _eval_set(vocab_size=128, num_kv_pairs=4, random_non_queries=False)
    query_region = ids[:, 8:]
    assert ((query_region == 0) | (targets[:, 8:] != -100)).all()


def _first_gap_histogram(power_a, num_examples=4000):
    # One pair: the query's gap is a single draw from p(g) ∝ a·(g+1)^(a−1) over the slots.
    _, _ids, targets = _eval_set(
        num_examples, vocab_size=128, seq_len=64, num_kv_pairs=1, power_a=power_a
    )
    gaps = (np.argmax(targets != -100, axis=1) - 2) // 2
    num_slots = (64 - 2) // 2
    return np.bincount(gaps, minlength=num_slots) / len(gaps), num_slots


@pytest.mark.parametrize(
    "power_a", [pytest.param(0.01, id="a0.01-clustered"), pytest.param(1.0, id="a1-uniform")]
)
def test_query_gap_distribution(power_a):
    freq, num_slots = _first_gap_histogram(power_a)
    g = np.arange(1, num_slots + 1)
    p = power_a * g ** (power_a - 1)
    p /= p.sum()
    # Total variation distance to the law; 4000 draws over 31 slots keep it well under 0.06.
    assert 0.5 * np.abs(freq - p).sum() < 0.06


def test_small_power_a_clusters_queries_near_context():
    clustered, _ = _first_gap_histogram(0.01)
    uniform, _ = _first_gap_histogram(1.0)
    assert clustered[0] > 0.2 and uniform[0] < 0.06
    num_slots = len(clustered)
    mean = lambda f: (f * np.arange(num_slots)).sum()  # noqa: E731
    assert mean(clustered) < 0.6 * mean(uniform)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"seq_len": 63}, "even", id="odd-length"),
        pytest.param({"vocab_size": 64, "seq_len": 64}, "exceed", id="vocab-not-above-length"),
        pytest.param({"num_kv_pairs": 17, "seq_len": 64}, "4·num_kv_pairs", id="too-many-pairs"),
        pytest.param({"power_a": 0.0}, "power_a", id="power-a-zero"),
        pytest.param({"train_queries_per_key": 0}, "integer ≥ 1", id="no-queries"),
        pytest.param({"train_queries_per_key": 1.5}, "integer ≥ 1", id="fractional-queries"),
        pytest.param(
            {"seq_len": 64, "num_kv_pairs": 8, "train_queries_per_key": 4},
            "32 queries, more than the 24 query slots",
            id="more-queries-than-slots",
        ),
    ],
)
def test_requirements_are_clear_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MQARTask(MQARConfig(**kwargs))


def test_defaults_are_zoologys():
    c = MQARConfig()
    assert (c.vocab_size, c.seq_len, c.num_kv_pairs, c.power_a) == (8192, 64, 8, 0.01)
    assert c.random_non_queries


def test_train_and_eval_sets_differ():
    task = MQARTask(MQARConfig(vocab_size=128, num_train_examples=64, num_eval_examples=64))
    assert not torch.equal(task.train_set()[0], task.eval_set()[0])


@pytest.mark.parametrize("r", [pytest.param(2, id="twice"), pytest.param(4, id="four-times")])
def test_training_examples_query_every_key_r_times_and_the_test_split_once(r):
    """`train_queries_per_key`: r·kv supervised positions per training example, each key r
    times with its own value as target; the evaluation split keeps zoology's one query per key."""
    kv = 4
    task = MQARTask(
        MQARConfig(
            vocab_size=128, num_kv_pairs=kv, num_train_examples=64, num_eval_examples=64,
            train_queries_per_key=r,
        )
    )  # fmt: skip
    ids, targets = (t.numpy() for t in task.train_set())
    for row in range(len(ids)):
        pairs = dict(zip(ids[row, 0 : 2 * kv : 2], ids[row, 1 : 2 * kv : 2], strict=True))
        labelled = np.flatnonzero(targets[row] != -100)
        assert len(labelled) == r * kv
        assert all(targets[row, pos] == pairs[ids[row, pos]] for pos in labelled)
        queried, counts = np.unique(ids[row, labelled], return_counts=True)
        assert sorted(queried) == sorted(pairs) and (counts == r).all()
    assert ((task.eval_set()[1] != -100).sum(1) == kv).all()

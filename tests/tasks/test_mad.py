"""The six MAD tasks against their definitions (athms/mad-lab, mad/data/instances.py)."""

import numpy as np
import pytest

from hybridlab.tasks import MAD_TASKS, Readout, make_task


def _sets(name, num_train=64, num_eval=64, **overrides):
    task = make_task(
        name, {"num_train_examples": num_train, "num_eval_examples": num_eval, **overrides}
    )
    ids, targets = task.eval_set()
    train_ids, train_targets = task.train_set()
    return task, ids.numpy(), targets.numpy(), train_ids.numpy(), train_targets.numpy()


def test_the_suite_has_six_tasks_with_mads_baselines():
    baselines = {name: make_task(name) for name in MAD_TASKS}
    assert len(baselines) == 6
    shape = {name: (t.vocab_size, t.seq_len) for name, t in baselines.items()}
    assert shape == {
        "in-context-recall": (16, 128),
        "fuzzy-in-context-recall": (16, 128),
        "noisy-in-context-recall": (32, 128),
        "selective-copying": (16, 256),
        "compression": (16, 32),
        "memorization": (256, 32),
    }
    assert baselines["noisy-in-context-recall"].config.frac_noise == 0.2
    assert baselines["noisy-in-context-recall"].config.noise_vocab_size == 16
    assert baselines["selective-copying"].config.num_tokens_to_copy == 16
    assert baselines["memorization"].config.num_train_examples == 256
    assert baselines["in-context-recall"].config.num_train_examples == 12_800
    assert baselines["in-context-recall"].config.num_eval_examples == 1_280


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        pytest.param("in-context-recall", {}, id="icr"),
        pytest.param("noisy-in-context-recall", {}, id="noisy-icr"),
        pytest.param("in-context-recall", {"vocab_size": 64, "seq_len": 256}, id="icr-v64-l256"),
    ],
)
def test_in_context_recall_labels_ask_for_values_of_seen_keys(name, overrides):
    task, ids, targets, train_ids, train_targets = _sets(name, **overrides)
    c = task.config
    plain = c.vocab_size - c.noise_vocab_size
    K = plain // 2
    for row in range(len(ids)):
        x, y = ids[row], targets[row]
        pairs = x.reshape(-1, 2)
        is_noise = pairs[:, 0] >= plain
        assert ((pairs[is_noise] >= plain) & (pairs[is_noise] < c.vocab_size)).all()
        real = pairs[~is_noise]
        assert (real[:, 0] < K).all() and ((real[:, 1] >= K) & (real[:, 1] < plain)).all()
        mapping = {}
        for k, v in real:
            assert mapping.setdefault(k, v) == v, "a key keeps its value within an example"
        seen = set()
        for j, (k, v) in enumerate(pairs):
            t = 2 * j
            if is_noise[j]:
                assert y[t] == -100 and y[t + 1] == -100
                continue
            assert y[t] == (v if k in seen else -100), f"row {row}, pair {j}"
            assert y[t + 1] == -100
            seen.add(k)
        # The final pair is a probe of a key shown before.
        assert pairs[-1, 0] in set(pairs[:-1, 0][~is_noise[:-1]])
    # MAD trains on every next token.
    assert (train_targets[:, :-1] == train_ids[:, 1:]).all()
    assert (train_targets[:, -1] == -100).all()


def test_noisy_in_context_recall_noise_fraction():
    _task, ids, *_ = _sets("noisy-in-context-recall", num_eval=400)
    pairs = ids.reshape(len(ids), -1, 2)
    frac = (pairs[:, :-1, 0] >= 16).mean()
    assert abs(frac - 0.2) < 0.02


def test_single_query_recall_has_a_copy_prefix():
    task, ids, targets, *_ = _sets("in-context-recall", multi_query=False)
    assert (ids[:, -2] == task.vocab_size - 1).all()
    labelled = targets != -100
    assert labelled.sum(axis=1).tolist() == [1] * len(ids)
    assert labelled[:, -1].all()


@pytest.mark.parametrize(
    "split", [pytest.param("eval", id="eval"), pytest.param("train", id="train")]
)
def test_fuzzy_recall_probe_is_a_motif_seen_before(split):
    task, ids, targets, train_ids, train_targets = _sets("fuzzy-in-context-recall")
    c = task.config
    pad, plain = c.vocab_size - 1, c.vocab_size - 1
    K = plain // 2
    x_all = ids if split == "eval" else train_ids
    eval_targets = targets
    for row in range(len(x_all)):
        x = list(x_all[row])
        # Left padding only, then keys [0, K) and values [K, plain).
        first = next(i for i, t in enumerate(x) if t != pad)
        assert pad not in x[first:]
        if split == "train":
            continue
        y = eval_targets[row]
        labelled = np.flatnonzero(y != -100)
        assert len(labelled) >= 1
        assert all(K <= y[t] < plain for t in labelled), "only values are asked for"
        # Targets are next tokens: y[t] == x[t + 1] where both exist.
        assert all(y[t] == x[t + 1] for t in labelled if t + 1 < len(x))
        # Find the final probe: its value run ends the example, its key has k_motif tokens.
        run_start = labelled[-1]
        while run_start - 1 in labelled:
            run_start -= 1
        value = [int(y[t]) for t in range(run_start, len(y)) if y[t] != -100]
        key = x[run_start - c.k_motif_size + 1 : run_start + 1]
        assert all(t < K for t in key)
        earlier = x[: run_start - c.k_motif_size + 1]
        shown = any(
            earlier[i : i + len(key)] == key
            and earlier[i + len(key) : i + len(key) + len(value)] == value
            for i in range(len(earlier))
        )
        assert shown, f"row {row}: probe {key}->{value} never shown"
    # Training keys vary in motif size, so the training form differs from the evaluation form.
    assert (train_targets != -100).sum() > (targets != -100).sum()


def test_selective_copying():
    task, ids, targets, _train_ids, train_targets = _sets("selective-copying")
    V, T, c = task.vocab_size, task.seq_len, task.config.num_tokens_to_copy
    blank, go = V - 2, V - 1
    head = T - c - 1
    assert (ids[:, head] == go).all()
    assert (ids[:, head + 1 :] == blank).all()
    assert (targets[:, : head + 1] == -100).all()
    for row in range(len(ids)):
        content = ids[row, :head][ids[row, :head] != blank]
        assert len(content) == c and (content < V - 2).all()
        np.testing.assert_array_equal(targets[row, head + 1 :], content)
    # Content positions are spread over the whole head, not bunched at its start.
    positions = np.flatnonzero((ids[:, :head] != blank).any(axis=0))
    assert positions.max() > head - 20
    np.testing.assert_array_equal(train_targets[:, : head + 1], -100)


def test_compression_reconstructs_every_token_from_the_last_state():
    task, ids, targets, *_ = _sets("compression")
    assert task.readout is Readout.LAST_STATE
    assert (ids[:, -1] == task.vocab_size - 1).all()
    assert (ids[:, :-1] < task.vocab_size - 1).all()
    np.testing.assert_array_equal(targets, ids)


def test_compression_noise_is_not_a_target():
    _task, ids, targets, *_ = _sets("compression", noise_vocab_size=4, frac_noise=0.3)
    noise = (ids >= 11) & (ids < 15)
    assert 0.2 < noise[:, :-1].mean() < 0.4
    assert (targets[noise] == -100).all()


def test_memorization_uses_one_fixed_map():
    task, ids, targets, train_ids, train_targets = _sets("memorization", num_train=256)
    V = task.vocab_size
    assert len(train_ids) == 256
    mapping = {}
    for x, y in ((ids, targets), (train_ids, train_targets)):
        assert (x[:, 1::2] == V - 1).all(), "every key is followed by the insert token"
        assert (y[:, 0::2] == -100).all()
        for k, v in zip(x[:, 0::2].ravel(), y[:, 1::2].ravel(), strict=True):
            assert k < (V - 1) // 2 <= v < V - 1
            assert mapping.setdefault(k, v) == v, "the same map in train and eval"
    assert len(set(mapping.values())) == len(mapping), "the map is injective"
    other = make_task("memorization", {"seed": 1})
    assert not np.array_equal(other.key_value_map(), task.key_value_map())


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        pytest.param("in-context-recall", {"seq_len": 127}, "even", id="icr-odd"),
        pytest.param(
            "in-context-recall", {"frac_noise": 0.2}, "noise_vocab_size", id="icr-no-noise-ids"
        ),
        pytest.param("noisy-in-context-recall", {"frac_noise": 1.0}, "frac_noise", id="noise-1"),
        pytest.param(
            "fuzzy-in-context-recall", {"vocab_size": 6}, "vocab_size", id="fuzzy-tiny-vocab"
        ),
        pytest.param("fuzzy-in-context-recall", {"seq_len": 16}, "seq_len", id="fuzzy-short"),
        pytest.param("selective-copying", {"seq_len": 33}, "seq_len", id="copy-too-short"),
        pytest.param("compression", {"vocab_size": 1}, "vocab_size", id="compression-v1"),
        pytest.param("memorization", {"seq_len": 31}, "even", id="memorization-odd"),
    ],
)
def test_bad_settings_are_clear_value_errors(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        make_task(name, overrides)

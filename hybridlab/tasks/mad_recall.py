"""MAD's recall tasks: in-context recall, noisy in-context recall, fuzzy in-context recall.

MAD: Poli, Thomas et al. 2024, "Mechanistic Design and Scaling of Hybrid Architectures", section
3.1 and appendix; generators in athms/mad-lab, mad/data/instances.py. Defaults are MAD's baseline
settings (configs/tasks/*.yml). Legend: V vocab_size, T seq_len, N examples.

Token layout (multi_query, MAD's baseline): with `noise_vocab_size` = M, the first V − M ids are
split into keys [0, K) and values [K, V − M), K = (V − M) // 2, and noise ids are [V − M, V).
Without multi_query the last id V − 1 is a copy prefix placed before the final probe (and the
fuzzy task also reserves V − 2 as padding; with multi_query it pads with V − 1).

Differences from mad-lab, all deliberate: examples are exactly T tokens (mad-lab's shift leaves
T − 1 in the multi-query case); the fuzzy task always inserts its probe pair (mad-lab can, rarely,
drop it and then asks about a key it never showed); padding is never a training target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from hybridlab.tasks.base import IGNORE_INDEX, Batch, SyntheticConfig, SyntheticTask, as_batch


@dataclass(kw_only=True)
class InContextRecallConfig(SyntheticConfig):
    """Key-value pairs with keys that recur; each recurrence asks for the key's value.

    `train_all_tokens` trains on every next token, as MAD does; evaluation always scores only
    the values of keys already seen.
    """

    vocab_size: int = 16
    seq_len: int = 128
    multi_query: bool = True
    noise_vocab_size: int = 0
    frac_noise: float = 0.0
    train_all_tokens: bool = True


@dataclass(kw_only=True)
class NoisyInContextRecallConfig(InContextRecallConfig):
    """In-context recall with pairs of noise tokens in place of a fraction of key-value pairs."""

    vocab_size: int = 32
    noise_vocab_size: int = 16
    frac_noise: float = 0.2


@dataclass(kw_only=True)
class FuzzyInContextRecallConfig(InContextRecallConfig):
    """Keys and values are motifs of 1..k_motif_size (1..v_motif_size) distinct tokens.

    Training keys have random motif sizes; evaluation keys always have k_motif_size tokens.
    """

    k_motif_size: int = 3
    v_motif_size: int = 3


class InContextRecallTask(SyntheticTask):
    """MAD in-context recall (and, with noise, noisy in-context recall); vectorised."""

    name = "in-context-recall"
    config_class = InContextRecallConfig
    config: InContextRecallConfig

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def seq_len(self) -> int:
        return self.config.seq_len

    def _num_plain_ids(self, num_special: int) -> int:
        """Ids left for keys and values after noise ids and `num_special` reserved ids."""
        return self.config.vocab_size - self.config.noise_vocab_size - num_special

    def validate(self) -> None:
        c = self.config
        if c.seq_len % 2 != 0 or c.seq_len < 4:
            raise ValueError(f"{self.name}: seq_len must be even and ≥ 4, got {c.seq_len}")
        _check_noise(self.name, c.frac_noise, c.noise_vocab_size)
        if self._num_plain_ids(0 if c.multi_query else 1) < 2:
            raise ValueError(
                f"{self.name}: vocab_size={c.vocab_size} leaves no key and value ids after "
                f"noise_vocab_size={c.noise_vocab_size}; raise vocab_size"
            )

    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        c = self.config
        n, mq = num_examples, c.multi_query
        plain = self._num_plain_ids(0 if mq else 1)
        num_keys = plain // 2
        num_pairs = c.seq_len // 2 - 1
        rows = np.arange(n)

        keys = rng.integers(0, num_keys, size=(n, num_pairs))
        # A key's value is drawn when the key first appears; drawing a whole table up front has
        # the same law.
        table = rng.integers(num_keys, plain, size=(n, num_keys))
        values = table[rows[:, None], keys]
        is_noise = rng.random((n, num_pairs)) < c.frac_noise
        is_noise[rows, rng.integers(0, num_pairs, size=n)] = False
        noise = plain + rng.integers(0, max(c.noise_vocab_size, 1), size=(n, num_pairs, 2))

        seen = np.zeros((n, num_keys), dtype=bool)
        repeat = np.zeros((n, num_pairs), dtype=bool)
        for j in range(num_pairs):
            shown = ~is_noise[:, j]
            repeat[:, j] = shown & seen[rows, keys[:, j]]
            seen[rows[shown], keys[shown, j]] = True
        # The final probe asks for a key drawn uniformly among those shown.
        probe_key = np.where(seen, rng.random((n, num_keys)), -1.0).argmax(axis=1)
        probe_value = table[rows, probe_key]

        body = np.stack([keys, values], axis=2)
        body[is_noise] = noise[is_noise]
        body = body.reshape(n, 2 * num_pairs)
        body_labels = np.full((n, num_pairs, 2), IGNORE_INDEX, dtype=np.int64)
        if mq:
            body_labels[:, :, 1] = np.where(repeat, values, IGNORE_INDEX)
        body_labels = body_labels.reshape(n, 2 * num_pairs)

        prefix = [] if mq else [np.full((n, 1), c.vocab_size - 1)]
        seq = np.concatenate([body, *prefix, probe_key[:, None], probe_value[:, None]], axis=1)
        no_label = np.full((n, 1), IGNORE_INDEX)
        labels = np.concatenate(
            [body_labels, *([no_label] if not mq else []), no_label, probe_value[:, None]], axis=1
        )
        # Multi-query sequences are exactly T tokens, the others T + 1: shift by one either way.
        if mq:
            seq = np.concatenate([seq, np.zeros((n, 1), dtype=np.int64)], axis=1)
            labels = np.concatenate([labels, no_label], axis=1)
        ids, eval_targets = seq[:, :-1], labels[:, 1:]
        if train and c.train_all_tokens:
            targets = seq[:, 1:].copy()
            if mq:
                targets[:, -1] = IGNORE_INDEX
            return as_batch(ids, targets)
        return as_batch(ids, eval_targets)


class NoisyInContextRecallTask(InContextRecallTask):
    name = "noisy-in-context-recall"
    config_class = NoisyInContextRecallConfig


class FuzzyInContextRecallTask(InContextRecallTask):
    """MAD fuzzy in-context recall: one Python loop per example (about 0.1 ms each)."""

    name = "fuzzy-in-context-recall"
    config_class = FuzzyInContextRecallConfig
    config: FuzzyInContextRecallConfig

    def validate(self) -> None:
        c = self.config
        _check_noise(self.name, c.frac_noise, c.noise_vocab_size)
        if c.k_motif_size < 1 or c.v_motif_size < 1:
            raise ValueError(f"{self.name}: motif sizes must be ≥ 1")
        plain = self._num_plain_ids(1 if c.multi_query else 2)
        if plain // 2 < c.k_motif_size or plain - plain // 2 < c.v_motif_size:
            raise ValueError(
                f"{self.name}: vocab_size={c.vocab_size} gives {plain // 2} key ids and "
                f"{plain - plain // 2} value ids, fewer than the motif sizes "
                f"({c.k_motif_size}, {c.v_motif_size}); raise vocab_size"
            )
        pair = c.k_motif_size + c.v_motif_size
        if c.seq_len < 4 * pair:
            raise ValueError(
                f"{self.name}: seq_len must be ≥ 4·(k_motif_size + v_motif_size) = {4 * pair}, "
                f"got {c.seq_len}"
            )

    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        c = self.config
        seeds = rng.integers(0, 2**63 - 1, size=num_examples)
        examples = [self._example(random.Random(int(s)), train) for s in seeds]
        ids = np.array([e[0] for e in examples], dtype=np.int64)
        targets = np.array([e[1] for e in examples], dtype=np.int64)
        assert ids.shape == (num_examples, c.seq_len)
        return as_batch(ids, targets)

    def _example(self, rnd: random.Random, train: bool) -> tuple[list[int], list[int]]:
        c = self.config
        mq = c.multi_query
        plain = self._num_plain_ids(1 if mq else 2)
        key_ids = list(range(plain // 2))
        value_ids = list(range(plain // 2, plain))
        noise_ids = list(range(plain, plain + c.noise_vocab_size))
        pad = c.vocab_size - 1 if mq else c.vocab_size - 2
        key_sizes = list(range(1, c.k_motif_size + 1)) if train else [c.k_motif_size]
        max_pair = c.k_motif_size + c.v_motif_size

        def draw_value() -> tuple[int, ...]:
            return tuple(rnd.sample(value_ids, rnd.randint(1, c.v_motif_size)))

        probe_key = tuple(rnd.sample(key_ids, rnd.choice(key_sizes)))
        probe_value = draw_value()
        probe_len = len(probe_key) + len(probe_value)
        kv = {probe_key: probe_value}
        presented: set[tuple[int, ...]] = set()
        # T + 1 tokens in all (inputs and targets are a shift by one), the final probe included.
        room = c.seq_len + 1 - (0 if mq else 1) - probe_len
        probe_at = rnd.randrange(max(1, room - max_pair - probe_len))
        seq: list[int] = []
        labels: list[int] = []
        probe_shown = False
        while len(seq) + max_pair + (0 if probe_shown else probe_len) <= room:
            if not probe_shown and len(seq) >= probe_at:
                key = probe_key
            elif rnd.random() < c.frac_noise:
                size = rnd.choice(key_sizes) + rnd.randint(1, c.v_motif_size)
                seq += [rnd.choice(noise_ids) for _ in range(size)]
                labels += [IGNORE_INDEX] * size
                continue
            else:
                key = tuple(rnd.sample(key_ids, rnd.choice(key_sizes)))
            value = kv.setdefault(key, draw_value())
            probe_shown = probe_shown or key == probe_key
            seq += [*key, *value]
            asked = mq and key in presented
            labels += [IGNORE_INDEX] * len(key) + (
                list(value) if asked else [IGNORE_INDEX] * len(value)
            )
            presented.add(key)
        if not probe_shown:
            seq += [*probe_key, *probe_value]
            labels += [IGNORE_INDEX] * probe_len
        if not mq:
            seq.append(c.vocab_size - 1)
            labels.append(IGNORE_INDEX)
        seq += [*probe_key, *probe_value]
        labels += [IGNORE_INDEX] * len(probe_key) + list(probe_value)

        num_pad = c.seq_len + 1 - len(seq)
        assert num_pad >= 0, (num_pad, len(seq))
        seq = [pad] * num_pad + seq
        labels = [IGNORE_INDEX] * num_pad + labels
        if train and c.train_all_tokens:
            targets = [IGNORE_INDEX] * (num_pad - 1) + seq[max(num_pad, 1) :]
            return seq[:-1], targets[-c.seq_len :]
        return seq[:-1], labels[1:]


def _check_noise(name: str, frac_noise: float, noise_vocab_size: int) -> None:
    if not 0.0 <= frac_noise < 1.0:
        raise ValueError(f"{name}: frac_noise must be in [0, 1), got {frac_noise}")
    if noise_vocab_size < 0 or (frac_noise > 0 and noise_vocab_size == 0):
        raise ValueError(
            f"{name}: frac_noise={frac_noise} needs noise_vocab_size ≥ 1, got {noise_vocab_size}"
        )

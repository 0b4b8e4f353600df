"""MAD's selective copying, compression and memorization tasks.

MAD: Poli, Thomas et al. 2024, section 3.1; generators in athms/mad-lab, mad/data/instances.py.
Defaults are MAD's baseline settings. Legend: V vocab_size, T seq_len, N examples, c tokens to
copy, b blanks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hybridlab.tasks.base import (
    IGNORE_INDEX,
    Batch,
    Readout,
    Split,
    SyntheticConfig,
    SyntheticTask,
    as_batch,
)
from hybridlab.tasks.sampling import sample_without_replacement


class _FixedShape(SyntheticTask):
    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size  # type: ignore[attr-defined]

    @property
    def seq_len(self) -> int:
        return self.config.seq_len  # type: ignore[attr-defined]


@dataclass(kw_only=True)
class SelectiveCopyingConfig(SyntheticConfig):
    vocab_size: int = 16
    seq_len: int = 256
    num_tokens_to_copy: int = 16


class SelectiveCopyingTask(_FixedShape):
    """c content tokens scattered among b blanks, a copy token, then c blanks: [x… _ … ▶ _ _ _].

    Ids: content [0, V − 2), blank V − 2, copy token V − 1; b = T − 2c − 1. The content tokens'
    positions among the first c + b slots are uniform. The target at the i-th trailing blank is
    the i-th content token; every other target is −100 (training and evaluation alike).
    """

    name = "selective-copying"
    config_class = SelectiveCopyingConfig
    config: SelectiveCopyingConfig

    def validate(self) -> None:
        c = self.config
        if c.vocab_size < 3:
            raise ValueError(f"{self.name}: vocab_size must be ≥ 3, got {c.vocab_size}")
        if c.num_tokens_to_copy < 1 or c.seq_len <= 2 * c.num_tokens_to_copy + 1:
            raise ValueError(
                f"{self.name}: need seq_len > 2·num_tokens_to_copy + 1, got seq_len={c.seq_len}, "
                f"num_tokens_to_copy={c.num_tokens_to_copy}"
            )

    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        c = self.config
        n, copy, V = num_examples, c.num_tokens_to_copy, c.vocab_size
        head = c.seq_len - copy - 1
        blank, go = V - 2, V - 1
        content = rng.integers(0, V - 2, size=(n, copy))
        slots = np.sort(sample_without_replacement(rng, n, head, copy), axis=1)
        ids = np.full((n, c.seq_len), blank, dtype=np.int64)
        ids[np.arange(n)[:, None], slots] = content
        ids[:, head] = go
        targets = np.full((n, c.seq_len), IGNORE_INDEX, dtype=np.int64)
        targets[:, head + 1 :] = content
        return as_batch(ids, targets)


@dataclass(kw_only=True)
class CompressionConfig(SyntheticConfig):
    vocab_size: int = 16
    seq_len: int = 32
    noise_vocab_size: int = 0
    frac_noise: float = 0.0


class CompressionTask(_FixedShape):
    """T − 1 random tokens and a compression token; reconstruct all T from the final state.

    Ids: content [0, V − 1 − M), noise [V − 1 − M, V − 1) with M = noise_vocab_size, compression
    token V − 1. Targets equal the ids (−100 where noise replaced a token). The readout is
    `Readout.LAST_STATE`: MAD trains an encoder-decoder here, where the encoder is the
    architecture under test and only its output at the last position reaches the decoder.
    """

    name = "compression"
    config_class = CompressionConfig
    config: CompressionConfig
    readout = Readout.LAST_STATE

    def validate(self) -> None:
        c = self.config
        if c.seq_len < 2:
            raise ValueError(f"{self.name}: seq_len must be ≥ 2, got {c.seq_len}")
        if not 0.0 <= c.frac_noise < 1.0 or (c.frac_noise > 0 and c.noise_vocab_size < 1):
            raise ValueError(
                f"{self.name}: need 0 ≤ frac_noise < 1 and noise_vocab_size ≥ 1 when "
                f"frac_noise > 0, got {c.frac_noise}, {c.noise_vocab_size}"
            )
        if c.vocab_size - 1 - c.noise_vocab_size < 1:
            raise ValueError(f"{self.name}: vocab_size={c.vocab_size} leaves no content ids")

    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        c = self.config
        n, T = num_examples, c.seq_len
        plain = c.vocab_size - 1 - c.noise_vocab_size
        ids = np.full((n, T), c.vocab_size - 1, dtype=np.int64)
        ids[:, :-1] = rng.integers(0, plain, size=(n, T - 1))
        targets = ids.copy()
        noisy = np.zeros((n, T), dtype=bool)
        noisy[:, :-1] = rng.random((n, T - 1)) < c.frac_noise
        ids[noisy] = plain + rng.integers(0, max(c.noise_vocab_size, 1), size=int(noisy.sum()))
        targets[noisy] = IGNORE_INDEX
        return as_batch(ids, targets)


@dataclass(kw_only=True)
class MemorizationConfig(SyntheticConfig):
    """A fixed key→value map (set by `seed`) to store in the weights; MAD trains on 256 examples."""

    vocab_size: int = 256
    seq_len: int = 32
    noise_vocab_size: int = 0
    frac_noise: float = 0.0
    num_train_examples: int = 256


class MemorizationTask(_FixedShape):
    """T/2 pairs (key, insert token); the target at each insert token is the key's value.

    Ids: keys [0, K), values [K, V − 1 − M) with K = (V − 1 − M) // 2, noise ids after them,
    insert token V − 1. The map pairs shuffled keys with shuffled values and is the same for the
    train and eval sets: this task measures what the weights store, not in-context recall.
    """

    name = "memorization"
    config_class = MemorizationConfig
    config: MemorizationConfig

    def validate(self) -> None:
        c = self.config
        if c.seq_len % 2 != 0 or c.seq_len < 2:
            raise ValueError(f"{self.name}: seq_len must be even and ≥ 2, got {c.seq_len}")
        if not 0.0 <= c.frac_noise < 1.0 or (c.frac_noise > 0 and c.noise_vocab_size < 1):
            raise ValueError(
                f"{self.name}: need 0 ≤ frac_noise < 1 and noise_vocab_size ≥ 1 when "
                f"frac_noise > 0, got {c.frac_noise}, {c.noise_vocab_size}"
            )
        if c.vocab_size - 1 - c.noise_vocab_size < 2:
            raise ValueError(f"{self.name}: vocab_size={c.vocab_size} leaves no key/value ids")

    def key_value_map(self) -> np.ndarray:
        """values_K: the value of key k is values_K[k]."""
        plain = self.config.vocab_size - 1 - self.config.noise_vocab_size
        num_keys = plain // 2
        rng = self.rng(Split.SHARED)
        return num_keys + rng.permutation(plain - num_keys)[:num_keys]

    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        c = self.config
        n, num_pairs = num_examples, c.seq_len // 2
        values_K = self.key_value_map()
        plain = c.vocab_size - 1 - c.noise_vocab_size
        keys = rng.integers(0, len(values_K), size=(n, num_pairs))
        ids = np.stack([keys, np.full_like(keys, c.vocab_size - 1)], axis=2)
        targets = np.stack([np.full_like(keys, IGNORE_INDEX), values_K[keys]], axis=2)
        is_noise = rng.random((n, num_pairs)) < c.frac_noise
        # At least one real pair per example, as in MAD.
        is_noise[np.arange(n), rng.integers(0, num_pairs, size=n)] = False
        noise = plain + rng.integers(0, max(c.noise_vocab_size, 1), size=(n, num_pairs, 2))
        ids[is_noise] = noise[is_noise]
        targets[is_noise] = IGNORE_INDEX
        return as_batch(ids.reshape(n, -1), targets.reshape(n, -1))

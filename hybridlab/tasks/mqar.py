"""Multi-query associative recall (MQAR), compatible with zoology's generator.

Zoology: Arora et al. 2023, "Zoology: Measuring and Improving Recall in Efficient Language
Models", section 3.1; generator in zoology/data/multiquery_ar.py.

Layout of one example of length T with kv = num_kv_pairs (0-based positions):

    [k₁ v₁ k₂ v₂ … k_kv v_kv | query region of T − 2·kv tokens]

- keys are distinct, drawn from [1, vocab/2); values are distinct, drawn from [vocab/2, vocab);
- the query region has (T − 2·kv)/2 slots; each key is queried once, key j at position
  2·kv + 2·g_j where the gaps g are drawn without replacement with p(g) ∝ a·(g+1)^(a−1)
  (a = power_a: a = 0.01 puts queries right after the context, a = 1 spreads them uniformly);
- every other position of the query region holds a random token from [0, vocab) when
  `random_non_queries` (zoology's default; such tokens may coincide with a key, as in zoology);
- targets are −100 except at each query key, whose target is the value paired with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hybridlab.tasks.base import IGNORE_INDEX, Batch, SyntheticConfig, SyntheticTask, as_batch
from hybridlab.tasks.sampling import sample_without_replacement


@dataclass(kw_only=True)
class MQARConfig(SyntheticConfig):
    """Zoology's MQAR defaults; its paper trains on 100k examples and tests on 3k."""

    vocab_size: int = 8192
    seq_len: int = 64
    num_kv_pairs: int = 8
    power_a: float = 0.01
    random_non_queries: bool = True
    num_train_examples: int = 100_000
    num_eval_examples: int = 3_000


class MQARTask(SyntheticTask):
    """MQAR; see the module docstring for the exact layout.

    Example:
        >>> task = MQARTask(MQARConfig(vocab_size=128, num_kv_pairs=4, num_train_examples=8))
        >>> ids, targets = next(task.train_batches(2))
        >>> ids.shape, int((targets != -100).sum())
        (torch.Size([2, 64]), 8)
    """

    name = "mqar"
    config_class = MQARConfig
    config: MQARConfig

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def seq_len(self) -> int:
        return self.config.seq_len

    def validate(self) -> None:
        c = self.config
        if c.seq_len % 2 != 0:
            raise ValueError(f"mqar: seq_len must be even, got {c.seq_len}")
        if c.vocab_size <= c.seq_len:
            raise ValueError(
                f"mqar: vocab_size must exceed seq_len, got vocab_size={c.vocab_size} "
                f"≤ seq_len={c.seq_len}"
            )
        if c.num_kv_pairs < 1 or 4 * c.num_kv_pairs > c.seq_len:
            raise ValueError(
                f"mqar: need 1 ≤ num_kv_pairs and 4·num_kv_pairs ≤ seq_len, got "
                f"num_kv_pairs={c.num_kv_pairs}, seq_len={c.seq_len} (at most {c.seq_len // 4})"
            )
        if not c.power_a > 0:
            raise ValueError(f"mqar: power_a must be > 0, got {c.power_a}")

    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        c = self.config
        V, T, kv = c.vocab_size, c.seq_len, c.num_kv_pairs
        context = 2 * kv
        rows = np.arange(num_examples)[:, None]
        keys = 1 + sample_without_replacement(rng, num_examples, V // 2 - 1, kv)
        values = V // 2 + sample_without_replacement(rng, num_examples, V - V // 2, kv)
        num_slots = (T - context) // 2
        log_p = np.log(c.power_a) + (c.power_a - 1) * np.log(np.arange(1, num_slots + 1))
        gaps = sample_without_replacement(rng, num_examples, num_slots, kv, log_weights=log_p)

        # One extra position so that inputs and targets are the usual shift by one.
        seq = np.zeros((num_examples, T + 1), dtype=np.int64)
        seq[:, 0:context:2] = keys
        seq[:, 1:context:2] = values
        seq[rows, context + 2 * gaps] = keys
        labels = np.full((num_examples, T + 1), IGNORE_INDEX, dtype=np.int64)
        labels[rows, context + 2 * gaps + 1] = values
        ids, targets = seq[:, :-1], labels[:, 1:]
        if c.random_non_queries:
            # Keys start at 1 and values at vocab/2, so the zeros are exactly the blanks.
            blank = ids == 0
            ids[blank] = rng.integers(0, V, size=int(blank.sum()))
        return as_batch(ids, targets)

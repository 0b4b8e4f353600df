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

Training mixture (zoology's MQAR configs train on several pair counts at once, many examples of
the easy ones and fewer of the hard, and test on the target): with `train_num_kv_pairs`, each
training example has kv drawn from that list (weights `train_kv_weights`, equal when empty),
laid out as above at the same length; the validation and test splits keep `num_kv_pairs`.

More queries in training (not zoology's): with `train_queries_per_key: r`, each training example
queries every key r times, at r·kv distinct slots drawn as above, so that a training step
carries r times the supervised positions at the same cost; the validation and test splits keep
one query per key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hybridlab.tasks.base import IGNORE_INDEX, Batch, SyntheticConfig, SyntheticTask, as_batch
from hybridlab.tasks.sampling import sample_without_replacement


@dataclass(kw_only=True)
class MQARConfig(SyntheticConfig):
    """Zoology's MQAR defaults; its paper trains on 100k examples and tests on 3k.

    `train_num_kv_pairs`: the pair counts of the training mixture (empty: train on
    `num_kv_pairs` alone); `train_kv_weights`: the share of each (empty: equal shares);
    `train_queries_per_key`: how often a training example queries each key (the module
    docstring).
    """

    vocab_size: int = 8192
    seq_len: int = 64
    num_kv_pairs: int = 8
    power_a: float = 0.01
    random_non_queries: bool = True
    num_train_examples: int | None = 100_000
    num_eval_examples: int = 3_000
    train_num_kv_pairs: list[int] = field(default_factory=list)
    train_kv_weights: list[float] = field(default_factory=list)
    train_queries_per_key: int = 1


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
        mixture = c.train_num_kv_pairs
        for kv in mixture:
            if not 1 <= kv <= c.seq_len // 4:
                raise ValueError(
                    f"mqar: every count of train_num_kv_pairs must be in [1, seq_len/4 = "
                    f"{c.seq_len // 4}], got {kv} in {mixture}"
                )
        if len(set(mixture)) != len(mixture):
            raise ValueError(f"mqar: train_num_kv_pairs lists a count twice: {mixture}")
        r = c.train_queries_per_key
        most = max(mixture or [c.num_kv_pairs])
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"mqar: train_queries_per_key must be an integer ≥ 1, got {r!r}")
        if r * most > (c.seq_len - 2 * most) // 2:
            raise ValueError(
                f"mqar: train_queries_per_key={r} × {most} pairs = {r * most} queries, more than "
                f"the {(c.seq_len - 2 * most) // 2} query slots of a length-{c.seq_len} example"
            )
        if c.train_kv_weights and not mixture:
            raise ValueError("mqar: train_kv_weights needs train_num_kv_pairs, which is empty")
        if c.train_kv_weights and (
            len(c.train_kv_weights) != len(mixture) or not all(w > 0 for w in c.train_kv_weights)
        ):
            raise ValueError(
                f"mqar: train_kv_weights needs one positive weight per count of "
                f"train_num_kv_pairs {mixture}, got {c.train_kv_weights}"
            )

    def mixture_counts(self, num_examples: int, rng: np.random.Generator) -> dict[int, int]:
        """How many of `num_examples` training examples have each pair count: a multinomial draw
        over `train_num_kv_pairs` with `train_kv_weights` ({num_kv_pairs: all} without one)."""
        c = self.config
        if not c.train_num_kv_pairs:
            return {c.num_kv_pairs: num_examples}
        weights = np.asarray(c.train_kv_weights or [1.0] * len(c.train_num_kv_pairs))
        counts = rng.multinomial(num_examples, weights / weights.sum())
        return dict(zip(c.train_num_kv_pairs, (int(n) for n in counts), strict=True))

    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        r = self.config.train_queries_per_key if train else 1
        if not train or not self.config.train_num_kv_pairs:
            return as_batch(*self._examples(num_examples, self.config.num_kv_pairs, rng, r))
        parts = [
            self._examples(n, kv, rng, r)
            for kv, n in self.mixture_counts(num_examples, rng).items()
        ]
        order = rng.permutation(num_examples)
        ids = np.concatenate([p[0] for p in parts])[order]
        targets = np.concatenate([p[1] for p in parts])[order]
        return as_batch(ids, targets)

    def _examples(
        self, num_examples: int, kv: int, rng: np.random.Generator, queries_per_key: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """`num_examples` examples with `kv` key-value pairs each, every key queried
        `queries_per_key` times: (ids_NT, targets_NT)."""
        c = self.config
        V, T = c.vocab_size, c.seq_len
        context = 2 * kv
        rows = np.arange(num_examples)[:, None]
        keys = 1 + sample_without_replacement(rng, num_examples, V // 2 - 1, kv)
        values = V // 2 + sample_without_replacement(rng, num_examples, V - V // 2, kv)
        num_slots = (T - context) // 2
        log_p = np.log(c.power_a) + (c.power_a - 1) * np.log(np.arange(1, num_slots + 1))
        num_queries = kv * queries_per_key
        gaps = sample_without_replacement(
            rng, num_examples, num_slots, num_queries, log_weights=log_p
        )
        if queries_per_key > 1:  # each key (and its value) once per round of queries
            keys = np.tile(keys, queries_per_key)
            values = np.tile(values, queries_per_key)

        # One extra position so that inputs and targets are the usual shift by one.
        seq = np.zeros((num_examples, T + 1), dtype=np.int64)
        seq[:, 0:context:2] = keys[:, :kv]
        seq[:, 1:context:2] = values[:, :kv]
        seq[rows, context + 2 * gaps] = keys
        labels = np.full((num_examples, T + 1), IGNORE_INDEX, dtype=np.int64)
        labels[rows, context + 2 * gaps + 1] = values
        ids, targets = seq[:, :-1], labels[:, 1:]
        if c.random_non_queries:
            # Keys start at 1 and values at vocab/2, so the zeros are exactly the blanks.
            blank = ids == 0
            ids[blank] = rng.integers(0, V, size=int(blank.sum()))
        return ids, targets

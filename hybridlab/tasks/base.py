"""The task contract: a deterministic source of (input ids, targets) batches.

Legend: B batch, T sequence length (`Task.seq_len`), N examples in a split.

Every task
- declares `vocab_size` and `seq_len`;
- yields training batches `(ids_BT, targets_BT)`, both int64, targets −100 where ignored;
- holds a fixed held-out evaluation set `(ids_NT, targets_NT)`, the test split: it scores a run
  and must never choose anything (a learning rate, a checkpoint);
- may hold a validation split (`has_validation`, `valid_set()`), drawn like the test split and
  sharing no example with it nor with a fixed training set: what a run may choose with;
- is a pure function of its config (which carries the data `seed`) and, for the order of training
  batches, the trainer's seed.

`Readout.NEXT_TOKEN` tasks are causal: target t is predicted from ids[:, :t+1]. The one exception
is MAD's compression task (`Readout.LAST_STATE`): every target is predicted from the model's
final hidden state alone, as MAD's encoder-decoder backbone does.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

IGNORE_INDEX = -100
# The most tokens one training batch may hold: its ids and targets alone are 32 GiB of int64 at
# this size (a proxy's batch is 10⁴-10⁶ tokens), and torch indexes past 2³¹ elements slowly or
# not at all in some kernels.
MAX_BATCH_TOKENS = 2**31

Batch = tuple[torch.Tensor, torch.Tensor]


class Readout(enum.StrEnum):
    """How a task's targets are read off the model."""

    NEXT_TOKEN = "next_token"
    LAST_STATE = "last_state"


class Split(enum.IntEnum):
    """Stream ids mixed into the data seed so that splits never share random numbers."""

    TRAIN = 0
    EVAL = 1
    ORDER = 2
    SHARED = 3
    VALID = 4


@dataclass(kw_only=True)
class TaskConfig:
    """Settings every task has. `seed` fixes the data; the trainer's seed fixes batch order."""

    seed: int = 0


class Task(ABC):
    """Base class of every task; see the module docstring for the contract."""

    name: ClassVar[str]
    config_class: ClassVar[type[TaskConfig]]
    readout: ClassVar[Readout] = Readout.NEXT_TOKEN
    # Only the byte-level language-modelling task reports bits per byte.
    reports_bits_per_byte: ClassVar[bool] = False

    def __init__(self, config: TaskConfig | None = None) -> None:
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise ValueError(
                f"task {self.name!r} takes a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        self.config = config
        if not 0 <= config.seed < 2**63:
            raise ValueError(f"task.seed must be a whole number >= 0, got {config.seed}")
        self.validate()

    def validate(self) -> None:  # noqa: B027 (optional hook, most tasks override it)
        """Raise ValueError with an actionable message if the config cannot work."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Token ids lie in [0, vocab_size)."""

    @property
    @abstractmethod
    def seq_len(self) -> int:
        """T, the length of every example."""

    @abstractmethod
    def train_batches(self, batch_size: int, *, seed: int = 0) -> Iterator[Batch]:
        """An endless iterator of training batches (ids_BT, targets_BT), fixed by `seed`."""

    @abstractmethod
    def eval_set(self) -> Batch:
        """The fixed held-out set (ids_NT, targets_NT); the same tensors on every call."""

    @property
    def has_validation(self) -> bool:
        """Whether `valid_set` gives a validation split (a task without one raises there)."""
        return False

    def valid_set(self) -> Batch:
        """The fixed validation split (ids_NT, targets_NT), scored as the test split is."""
        raise ValueError(f"task {self.name!r} has no validation split")

    def eval_batches(
        self, batch_size: int, *, max_examples: int = 0, validation: bool = False
    ) -> Iterator[Batch]:
        """The evaluation set (`validation`: the validation split) in order, in batches;
        `max_examples` > 0 keeps only the first ones."""
        ids, targets = self.valid_set() if validation else self.eval_set()
        n = len(ids) if max_examples <= 0 else min(len(ids), max_examples)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            yield ids[start:stop], targets[start:stop]

    def describe(self) -> str:
        return f"{self.name} (vocab {self.vocab_size}, length {self.seq_len})"

    def rng(self, split: Split, *extra: int) -> np.random.Generator:
        """The generator of one random stream of this task's data."""
        return np.random.default_rng([self.config.seed, int(split), *extra])


@dataclass(kw_only=True)
class SyntheticConfig(TaskConfig):
    """A synthetic task's splits: a training set of `num_train_examples` drawn once and passed
    over in shuffled epochs, or, when it is None, fresh examples for every batch (no example is
    seen twice, so the run measures what the architecture learns, not what it memorises); a
    validation split of `num_valid_examples` (0: none) and the test split of
    `num_eval_examples`, each drawn once."""

    num_train_examples: int | None = 12_800
    num_valid_examples: int = 0
    num_eval_examples: int = 1_280


class SyntheticTask(Task):
    """A task whose splits are drawn by `generate`, lazily, each from its own random stream."""

    config: SyntheticConfig

    def __init__(self, config: SyntheticConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        if c.num_train_examples is not None and c.num_train_examples < 1:
            raise ValueError(
                f"{self.name}: num_train_examples must be ≥ 1, or null for fresh examples every "
                f"batch, got {c.num_train_examples}"
            )
        if c.num_valid_examples < 0 or c.num_eval_examples < 1:
            raise ValueError(
                f"{self.name}: need num_valid_examples ≥ 0 and num_eval_examples ≥ 1, got "
                f"{c.num_valid_examples} and {c.num_eval_examples}"
            )
        self._train: Batch | None = None
        self._valid: Batch | None = None
        self._eval: Batch | None = None

    @abstractmethod
    def generate(self, num_examples: int, rng: np.random.Generator, *, train: bool) -> Batch:
        """Draw `num_examples` examples: (ids_NT, targets_NT), int64, targets −100 = ignore.

        `train` selects the training form of the targets where a task distinguishes them (MAD
        trains some tasks on every next token but scores only the probed positions).
        """

    def train_set(self) -> Batch:
        """The fixed training set; a task that draws fresh examples has none."""
        n = self.config.num_train_examples
        if n is None:
            raise ValueError(
                f"{self.name}: num_train_examples is null (fresh examples every batch), so "
                "there is no fixed training set"
            )
        if self._train is None:
            self._train = self._checked(self.generate(n, self.rng(Split.TRAIN), train=True))
        return self._train

    def eval_set(self) -> Batch:
        if self._eval is None:
            n = self.config.num_eval_examples
            self._eval = self._checked(self.generate(n, self.rng(Split.EVAL), train=False))
        return self._eval

    @property
    def has_validation(self) -> bool:
        return self.config.num_valid_examples > 0

    def valid_set(self) -> Batch:
        """`num_valid_examples` examples in the test split's form from their own stream, none of
        them identical to an example of the test split or of a fixed training set.

        Raises:
            ValueError: the task has no validation split (`num_valid_examples` is 0), or its
                examples are so few that 16 draws could not find enough distinct ones.
        """
        n = self.config.num_valid_examples
        if n == 0:
            raise ValueError(
                f"task {self.name!r} has no validation split: set task.num_valid_examples ≥ 1"
            )
        if self._valid is None:
            taken = set(_row_keys(self.eval_set()))
            if self.config.num_train_examples is not None:
                taken.update(_row_keys(self.train_set()))
            rng = self.rng(Split.VALID)
            kept_ids: list[torch.Tensor] = []
            kept_targets: list[torch.Tensor] = []
            for _ in range(16):
                ids, targets = self.generate(n, rng, train=False)
                for row, key in enumerate(_row_keys((ids, targets))):
                    if key not in taken and len(kept_ids) < n:
                        taken.add(key)
                        kept_ids.append(ids[row])
                        kept_targets.append(targets[row])
                if len(kept_ids) == n:
                    break
            else:
                raise ValueError(
                    f"{self.name}: found only {len(kept_ids)} of num_valid_examples={n} examples "
                    "distinct from the test and training splits; lower task.num_valid_examples"
                )
            self._valid = self._checked((torch.stack(kept_ids), torch.stack(kept_targets)))
        return self._valid

    def train_batches(self, batch_size: int, *, seed: int = 0) -> Iterator[Batch]:
        """Training batches fixed by `seed`: shuffled passes over the fixed train set, or with
        `num_train_examples` null fresh examples drawn from a stream of their own per seed.

        A batch larger than the train set spans several passes; each batch costs time and
        memory linear in its size (the passes it needs are drawn and joined at once).
        """
        check_batch_size(batch_size, self.seq_len)
        if self.config.num_train_examples is None:
            stream = self.rng(Split.TRAIN, seed)
            while True:
                yield self._checked(self.generate(batch_size, stream, train=True))
        ids, targets = self.train_set()
        order_rng = self.rng(Split.ORDER, seed)
        pending = np.empty(0, dtype=np.int64)
        while True:
            if len(pending) < batch_size:
                passes = -(-(batch_size - len(pending)) // len(ids))
                pending = np.concatenate(
                    [pending, *(order_rng.permutation(len(ids)) for _ in range(passes))]
                )
            index = torch.from_numpy(pending[:batch_size])
            pending = pending[batch_size:]
            yield ids[index], targets[index]

    def _checked(self, batch: Batch) -> Batch:
        ids, targets = batch
        assert ids.shape == targets.shape and ids.shape[1] == self.seq_len, (ids.shape, self.name)
        assert ids.dtype == torch.int64 and targets.dtype == torch.int64
        assert int(ids.min()) >= 0 and int(ids.max()) < self.vocab_size, self.name
        labelled = targets[targets != IGNORE_INDEX]
        assert labelled.numel() == 0 or int(labelled.max()) < self.vocab_size, self.name
        return ids.contiguous(), targets.contiguous()


def check_batch_size(batch_size: int, seq_len: int) -> None:
    """Refuse a `batch_size` below 1, or one whose batch of `seq_len`-token examples would hold
    more than `MAX_BATCH_TOKENS` tokens."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    if batch_size * seq_len > MAX_BATCH_TOKENS:
        raise ValueError(
            f"batch_size={batch_size:,} × seq_len={seq_len:,} = {batch_size * seq_len:,} tokens "
            f"per batch, over the {MAX_BATCH_TOKENS:,} a batch may hold; lower train.batch_size"
        )


def _row_keys(batch: Batch) -> list[bytes]:
    """Each example of `batch`, in row order, as the bytes of its ids and then its targets: equal
    exactly when the examples are identical."""
    ids, targets = batch
    return [row.tobytes() for row in np.concatenate([ids.numpy(), targets.numpy()], axis=1)]


def as_batch(ids: np.ndarray, targets: np.ndarray) -> Batch:
    """Numpy (N, T) arrays → int64 tensors."""
    return torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)), torch.from_numpy(
        np.ascontiguousarray(targets, dtype=np.int64)
    )

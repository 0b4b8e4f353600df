"""Byte-level language modelling on raw text; the quality metric is bits per byte.

By default the corpus is the Python standard library's own source files on the running machine
(`*.py` under `sysconfig.get_paths()["stdlib"]`, site-packages excluded), walked depth-first in
name order and read up to `max_bytes`: no download, and always present. The numbers therefore
depend on the Python version; compare runs made with the same interpreter. Any file or folder
can be named instead with `path` (a folder is walked the same way, keeping files that match
`pattern`).

The corpus is split contiguously: the first (1 − val_fraction) of its bytes train, the rest
evaluate. Training batches are windows at random offsets; the evaluation set is consecutive,
non-overlapping windows from the start of the held-out part. Legend: B batch, T seq_len.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from hybridlab.tasks.base import Batch, Split, Task, TaskConfig, check_batch_size


@dataclass(kw_only=True)
class BytesConfig(TaskConfig):
    """`path` empty = the standard library's sources; `pattern` empty = `*.py` there, `*` else."""

    path: str = ""
    pattern: str = ""
    max_bytes: int = 2_000_000
    seq_len: int = 256
    val_fraction: float = 0.1
    num_eval_examples: int = 64


class BytesTask(Task):
    """Next-byte prediction; ids are bytes (vocab 256), every position is a target.

    Example:
        >>> task = BytesTask(BytesConfig(max_bytes=100_000, seq_len=64))
        >>> ids, targets = next(task.train_batches(4))
        >>> bool((ids[:, 1:] == targets[:, :-1]).all())
        True
    """

    name = "bytes"
    config_class = BytesConfig
    config: BytesConfig
    reports_bits_per_byte = True

    def __init__(self, config: BytesConfig | None = None) -> None:
        # Set before the base class validates, which reads the corpus.
        self._data: tuple[torch.Tensor, torch.Tensor] | None = None
        self._eval: Batch | None = None
        super().__init__(config)

    @property
    def vocab_size(self) -> int:
        return 256

    @property
    def seq_len(self) -> int:
        return self.config.seq_len

    def validate(self) -> None:
        c = self.config
        if c.seq_len < 1 or c.max_bytes < 1 or c.num_eval_examples < 1:
            raise ValueError("bytes: seq_len, max_bytes and num_eval_examples must be ≥ 1")
        if not 0.0 < c.val_fraction < 1.0:
            raise ValueError(f"bytes: val_fraction must be in (0, 1), got {c.val_fraction}")
        if c.path:
            path = Path(c.path).expanduser()
            if not path.exists():
                raise ValueError(f"bytes: path {c.path!r} does not exist")
            if not (path.is_file() or path.is_dir()):
                raise ValueError(
                    f"bytes: path {c.path!r} is neither a file nor a folder (a device or a pipe?)"
                )
        # Read now, so that an empty or too small corpus is an error before any training.
        self.corpus()

    def source_files(self) -> Iterator[Path]:
        """The files read, in order (the corpus is their bytes, concatenated, capped).

        A folder is walked depth-first with entries sorted by name, lazily, so that reading
        stops as soon as `max_bytes` are in.
        """
        c = self.config
        if not c.path:
            root = Path(sysconfig.get_paths()["stdlib"])
            yield from _walk_sorted(root, c.pattern or "*.py", skip={"site-packages"})
            return
        root = Path(c.path).expanduser()
        if root.is_file():
            yield root
            return
        yield from _walk_sorted(root, c.pattern or "*", skip=set())

    def corpus(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(train bytes, held-out bytes) as uint8 tensors."""
        if self._data is None:
            c = self.config
            chunks, size = [], 0
            for f in self.source_files():
                if size >= c.max_bytes:
                    break
                chunk = f.read_bytes()[: c.max_bytes - size]
                chunks.append(chunk)
                size += len(chunk)
            if size == 0:
                where = c.path or "the Python standard library"
                raise ValueError(
                    f"bytes: no bytes to read in {where!r} (pattern {c.pattern or '*'!r}); name "
                    f"a file or a folder with files"
                )
            data = torch.frombuffer(bytearray(b"".join(chunks)), dtype=torch.uint8)
            split = int(len(data) * (1 - c.val_fraction))
            train, held_out = data[:split], data[split:]
            if min(len(train), len(held_out)) < c.seq_len + 1:
                raise ValueError(
                    f"bytes: the corpus has {len(data)} bytes, too few for train and validation "
                    f"windows of seq_len + 1 = {c.seq_len + 1}; name a larger path, raise "
                    f"max_bytes or lower seq_len"
                )
            self._data = (train, held_out)
        return self._data

    def train_batches(self, batch_size: int, *, seed: int = 0) -> Iterator[Batch]:
        check_batch_size(batch_size, self.seq_len)  # before reading the corpus
        train, _ = self.corpus()
        T = self.seq_len
        rng = self.rng(Split.ORDER, seed)
        span = torch.arange(T + 1)
        while True:
            starts = torch.from_numpy(rng.integers(0, len(train) - T, size=batch_size))
            windows = train[starts[:, None] + span].long()  # (B, T + 1)
            yield windows[:, :-1], windows[:, 1:]

    def eval_set(self) -> Batch:
        if self._eval is None:
            _, held_out = self.corpus()
            T = self.seq_len
            n = min(self.config.num_eval_examples, (len(held_out) - 1) // T)
            starts = torch.arange(n) * T
            windows = held_out[starts[:, None] + torch.arange(T + 1)].long()
            self._eval = (windows[:, :-1].contiguous(), windows[:, 1:].contiguous())
        return self._eval


def _walk_sorted(folder: Path, pattern: str, skip: set[str]) -> Iterator[Path]:
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    for entry in entries:
        if entry.is_dir():
            if entry.name not in skip and entry.name != "__pycache__":
                yield from _walk_sorted(entry, pattern, skip)
        elif entry.is_file() and entry.match(pattern):
            yield entry

"""The byte-level language-modelling task."""

import pytest
import torch

from hybridlab.tasks import BytesConfig, BytesTask


def test_default_corpus_is_the_standard_library():
    task = BytesTask(BytesConfig(max_bytes=50_000, seq_len=64, num_eval_examples=4))
    files = list(task.source_files())[:3]
    assert files and all(f.suffix == ".py" and "site-packages" not in f.parts for f in files)
    train, held_out = task.corpus()
    assert len(train) + len(held_out) == 50_000
    assert len(held_out) == 5_000
    assert task.vocab_size == 256 and task.reports_bits_per_byte
    text = bytes(train[:20_000].tolist()).decode("utf-8", errors="replace")
    assert "def " in text or "import " in text


def test_windows_are_shifted_by_one_and_eval_is_fixed():
    task = BytesTask(BytesConfig(max_bytes=50_000, seq_len=32, num_eval_examples=10))
    ids, targets = next(task.train_batches(4, seed=0))
    assert ids.shape == (4, 32)
    assert torch.equal(ids[:, 1:], targets[:, :-1])
    eval_ids, eval_targets = task.eval_set()
    _, held_out = task.corpus()
    assert eval_ids.shape == (10, 32)
    assert torch.equal(eval_ids.flatten(), held_out[:320].long())
    assert torch.equal(eval_targets.flatten(), held_out[1:321].long())


def test_a_named_file_or_folder(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"b" * 300)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_bytes(b"a" * 300)
    folder = BytesTask(BytesConfig(path=str(tmp_path), seq_len=16, val_fraction=0.5))
    train, held_out = folder.corpus()
    # Name order at each level: b.txt before the folder sub/.
    assert bytes(train.tolist()) == b"b" * 300 and bytes(held_out.tolist()) == b"a" * 300
    single = BytesTask(BytesConfig(path=str(tmp_path / "b.txt"), seq_len=16, val_fraction=0.5))
    assert len(single.corpus()[0]) == 150


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"path": "/no/such/place"}, "does not exist", id="missing-path"),
        pytest.param({"val_fraction": 1.0}, "val_fraction", id="val-fraction-1"),
        pytest.param({"max_bytes": 100, "seq_len": 256}, "too few", id="corpus-too-small"),
        pytest.param({"path": "/dev/zero"}, "neither a file nor a folder", id="device"),
        pytest.param({"path": "EMPTY"}, "no bytes to read in", id="empty-folder"),
    ],
)
def test_bad_settings_fail_when_the_task_is_made(kwargs, message, tmp_path):
    if kwargs.get("path") == "EMPTY":
        kwargs = {"path": str(tmp_path)}
    # The corpus is read when the task is made, so no trial trains on a corpus that cannot work.
    with pytest.raises(ValueError, match=message):
        BytesTask(BytesConfig(**kwargs))

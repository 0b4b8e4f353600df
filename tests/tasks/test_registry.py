"""Every registered task: the contract, determinism by seed, the registry's errors, OmegaConf."""

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf

from hybridlab.tasks import TASKS, Task, get_task_class, make_task, task_config

# Small sizes keep every case fast; the bytes task reads at most 200 kB.
SMALL = {
    "mqar": {"vocab_size": 128, "num_train_examples": 64, "num_eval_examples": 32},
    "bytes": {"max_bytes": 200_000, "seq_len": 64, "num_eval_examples": 8},
}
ALL = [pytest.param(name, id=name) for name in TASKS]


def _small(name, **extra):
    overrides = SMALL.get(name, {"num_train_examples": 64, "num_eval_examples": 32})
    return make_task(name, {**overrides, **extra})


def _first_batches(task, seed, n=2):
    it = task.train_batches(8, seed=seed)
    return [next(it) for _ in range(n)]


def _equal(a, b):
    return all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b, strict=True))


@pytest.mark.parametrize("name", ALL)
def test_contract(name):
    task = _small(name)
    assert isinstance(task, Task)
    for ids, targets in [*_first_batches(task, 0), task.eval_set()]:
        assert ids.dtype == targets.dtype == torch.int64
        assert ids.shape == targets.shape and ids.shape[1] == task.seq_len
        assert ids.min() >= 0 and ids.max() < task.vocab_size
        labelled = targets[targets != -100]
        assert labelled.numel() > 0 and labelled.max() < task.vocab_size and labelled.min() >= 0
    ids, targets = task.eval_set()
    assert task.eval_set()[0] is ids, "the eval set is fixed"
    batches = list(task.eval_batches(5, max_examples=7))
    assert [len(b[0]) for b in batches] == [5, 2]


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_batches(name):
    a, b = _small(name), _small(name)
    assert _equal(_first_batches(a, 3), _first_batches(b, 3))
    assert torch.equal(a.eval_set()[0], b.eval_set()[0])
    assert torch.equal(a.eval_set()[1], b.eval_set()[1])


@pytest.mark.parametrize("name", ALL)
def test_other_seed_other_batches(name):
    task = _small(name)
    assert not _equal(_first_batches(task, 0), _first_batches(task, 1)), "train seed → order"
    if name != "bytes":  # the corpus is data, not drawn: only its order depends on seeds
        other = _small(name, seed=1)
        assert not torch.equal(task.eval_set()[0], other.eval_set()[0]), "data seed → data"


def test_unknown_task_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"unknown task 'mqa'.*valid tasks: mqar, in-context-recall"
    ):
        get_task_class("mqa")


def test_underscores_stand_for_hyphens():
    assert get_task_class("selective_copying") is TASKS["selective-copying"]


def test_unknown_setting_lists_valid_settings():
    with pytest.raises(ValueError, match=r"no setting 'num_kv'.*num_kv_pairs"):
        task_config("mqar", {"num_kv": 4})


@pytest.mark.parametrize("name", ALL)
def test_configs_are_omegaconf_structured(name):
    cls = TASKS[name].config_class
    schema = OmegaConf.structured(cls)
    merged = OmegaConf.merge(schema, OmegaConf.from_dotlist(["seed=7"]))
    config = OmegaConf.to_object(merged)
    assert isinstance(config, cls) and config.seed == 7
    assert dataclasses.replace(cls(), seed=7) == config
    with pytest.raises(Exception, match="not_a_field"):
        OmegaConf.merge(schema, OmegaConf.from_dotlist(["not_a_field=1"]))

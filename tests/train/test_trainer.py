"""train_proxy: results, determinism, failure paths, stopping rules, metrics."""

import json
import math

import pytest
import torch
from torch import nn

import hybridlab
from hybridlab.tasks import make_task
from hybridlab.train import StopTraining, TrainConfig, TrainResult, fit_spec, train_proxy
from hybridlab.train import trainer as trainer_module

SPEC = "attn(heads=2), mlp"


def _spec(text=SPEC):
    return hybridlab.parse(text, d_model=32)


def _task(**overrides):
    settings = {"vocab_size": 80, "num_kv_pairs": 4, "num_train_examples": 256}
    return make_task("mqar", {**settings, "num_eval_examples": 32, **overrides})


def _config(**overrides):
    # One thread: tiny models gain nothing from two, and a busy machine slows two a lot.
    settings = {"steps": 6, "batch_size": 8, "eval_every": 3, "log_every": 2, "device": "cpu"}
    settings["num_threads"] = 1
    return TrainConfig(**{**settings, **overrides})


def test_a_short_run_returns_a_full_result():
    calls = []
    result = train_proxy(_spec(), _task(), _config(), report=lambda s, m: calls.append((s, m)))
    assert isinstance(result, TrainResult)
    assert result.status == "ok" and result.failure_reason is None
    assert result.stop_reason == "completed" and result.steps_done == 6
    assert 0 <= result.accuracy <= 1 and result.loss > 0 and result.bits_per_byte is None
    assert result.tokens_per_s > 0 and result.wall_time_s > 0
    assert result.peak_memory_kind == "cpu_rss_high_water" and result.peak_memory_bytes > 0
    spec = fit_spec(_spec(), _task())
    assert result.params == hybridlab.count_params(spec)
    assert result.state_bytes == hybridlab.state_bytes(spec, 64)
    assert (result.spec, result.pattern, result.device) == (spec.format(), "*-", "cpu")
    # Training loss every 2 steps, evaluations at step 3 and at the end.
    assert [s for s, m in calls if "train/loss" in m] == [2, 4, 6]
    assert [s for s, m in calls if "eval/accuracy" in m] == [3, 6]
    assert result.history == [{"step": s, **m} for s, m in calls]
    payload = json.loads(json.dumps(result.to_dict()))
    for key in ("status", "accuracy", "loss", "tokens_per_s", "params", "state_bytes"):
        assert key in payload


def test_same_seed_same_run_other_seed_other_run():
    def losses(seed):
        result = train_proxy(_spec(), _task(), _config(seed=seed))
        return [h["train/loss"] for h in result.history if "train/loss" in h]

    assert losses(0) == losses(0)
    assert losses(0) != losses(1)


class _Sabotaged(nn.Module):
    """Wraps a model; from call `at` on, does `what` instead of a normal forward."""

    def __init__(self, model, at, what):
        super().__init__()
        self.model, self.at, self.what, self.calls = model, at, what, 0

    def forward(self, ids):
        self.calls += 1
        logits = self.model(ids)
        if self.calls >= self.at:
            return self.what(logits)
        return logits


def _raise(err):
    def what(logits):
        raise err

    return what


FAILURES = [
    pytest.param(lambda x: x * float("nan"), "non-finite loss at step 2", id="nan-loss"),
    pytest.param(lambda x: x * float("inf"), "non-finite loss at step 2", id="inf-loss"),
    pytest.param(
        _raise(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")),
        "out of memory at step 1: CUDA out of memory",
        id="oom-torch",
    ),
    pytest.param(
        _raise(
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
            )
        ),
        "out of memory at step 1",
        id="oom-cpu-allocator",
    ),
]


@pytest.mark.parametrize(("what", "reason"), FAILURES)
def test_failures_return_a_failed_result(monkeypatch, what, reason):
    build = trainer_module.build_model
    monkeypatch.setattr(trainer_module, "build_model", lambda s: _Sabotaged(build(s), 2, what))
    result = train_proxy(_spec(), _task(), _config())
    assert result.status == "failed" and not result.ok
    assert result.failure_reason.startswith(reason)
    assert result.accuracy is None and result.stop_reason is None
    assert result.wall_time_s > 0 and result.peak_memory_bytes > 0
    json.dumps(result.to_dict())


def test_other_errors_propagate(monkeypatch):
    build = trainer_module.build_model
    sabotage = _raise(ZeroDivisionError("a bug"))
    monkeypatch.setattr(trainer_module, "build_model", lambda s: _Sabotaged(build(s), 1, sabotage))
    with pytest.raises(ZeroDivisionError):
        train_proxy(_spec(), _task(), _config())


def test_early_stop_at_target_accuracy():
    # With 16 ids, chance alone gets some of the ~300 labelled positions right.
    settings = {"seq_len": 32, "num_train_examples": 64, "num_eval_examples": 32}
    task = make_task("in-context-recall", settings)
    config = _config(steps=50, eval_every=2, target_accuracy=0.01)
    result = train_proxy(_spec(), task, config)
    assert result.status == "ok" and result.stop_reason == "target_accuracy"
    assert result.steps_done < 50 and result.steps_done % 2 == 0 and result.accuracy >= 0.01
    assert result.history[-1]["step"] == result.steps_done, "no evaluation after the stop"
    unreachable = train_proxy(_spec(), task, _config(target_accuracy=1.0))
    assert unreachable.stop_reason == "completed" and unreachable.steps_done == 6


@pytest.mark.parametrize("warmup_fraction", [0.0, 0.5], ids=["no-warmup", "warmup-half"])
def test_train_lr_is_the_rate_the_step_trained_at(monkeypatch, warmup_fraction):
    used = []
    make_optimizer = trainer_module.make_optimizer

    def recording_optimizer(model, config):
        optimizer = make_optimizer(model, config)
        optimizer.register_step_pre_hook(lambda opt, *_: used.append(opt.param_groups[0]["lr"]))
        return optimizer

    monkeypatch.setattr(trainer_module, "make_optimizer", recording_optimizer)
    config = _config(steps=4, log_every=1, eval_every=None, warmup_fraction=warmup_fraction)
    result = train_proxy(_spec(), _task(), config)
    logged = [h["train/lr"] for h in result.history if "train/lr" in h]
    assert logged == used and len(used) == 4
    if warmup_fraction == 0.0:
        assert logged[0] == config.lr  # the cosine starts at the peak rate


def test_max_wall_time_stops_with_an_evaluation():
    result = train_proxy(_spec(), _task(), _config(steps=1000, max_wall_time_s=1e-9))
    assert result.stop_reason == "max_wall_time" and result.steps_done == 1
    assert result.accuracy is not None and "eval/accuracy" in result.history[-1]


def test_report_can_stop_the_run():
    def report(step, metrics):
        if step >= 2:
            raise StopTraining

    result = train_proxy(_spec(), _task(), _config(steps=50), report=report)
    assert result.status == "ok" and result.stop_reason == "report" and result.steps_done == 2
    assert result.accuracy is not None


def test_bytes_reports_bits_per_byte():
    task = make_task("bytes", {"max_bytes": 30_000, "seq_len": 32, "num_eval_examples": 4})
    result = train_proxy(_spec(), task, _config(steps=2))
    assert result.bits_per_byte == pytest.approx(result.loss / math.log(2))
    assert result.history[-1]["eval/bits_per_byte"] == result.bits_per_byte


def test_compression_trains_through_the_last_state_readout():
    task = make_task("compression", {"num_train_examples": 64, "num_eval_examples": 16})
    result = train_proxy(_spec(), task, _config(steps=3))
    assert result.ok and 0 <= result.accuracy <= 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"steps": 0}, "train.steps", id="steps-0"),
        pytest.param({"lr": -1.0}, "train.lr", id="negative-lr"),
        pytest.param({"warmup_fraction": 1.0}, "warmup_fraction", id="warmup-1"),
        pytest.param({"device": "tpu"}, "tpu", id="bad-device"),
        pytest.param({"target_accuracy": 1.5}, "target_accuracy", id="target-above-1"),
    ],
)
def test_bad_settings_raise_value_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        train_proxy(_spec(), _task(), _config(**overrides))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        train_proxy(_spec(), _task(), _config(device="cuda"))

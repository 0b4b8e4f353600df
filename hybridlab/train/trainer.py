"""`train_proxy`: train one small model on one task and return a `TrainResult`.

The trainer knows nothing of Optuna, Ray or MLflow: it reports through `report(step, metrics)`
and returns plain data. A non-finite loss or an out-of-memory error ends the run with a failed
result and its reason; it never raises to the caller. Other exceptions (bugs, bad arguments)
propagate.

Legend: B batch, T seq_len, V vocab_size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import reprlib
import resource
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hybridlab.config import first_line, merge_dataclass
from hybridlab.cost import count_params, state_bytes
from hybridlab.model import build_model as _build_model
from hybridlab.results import Metric, Status
from hybridlab.spec import ModelSpec
from hybridlab.tasks import IGNORE_INDEX, TASKS, Readout, Task, make_task
from hybridlab.train.config import Device, Precision, RaceJudge, TrainConfig
from hybridlab.train.optim import make_optimizer, make_schedule
from hybridlab.train.readout import LastStateReadout
from hybridlab.train.result import TrainResult
from hybridlab.train.spec_fit import fit_spec

Report = Callable[[int, dict[str, float]], Any]

# torch < 2.5 only has the CUDA name; both are the same class where both exist.
OutOfMemoryError: type[Exception] = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class StopTraining(Exception):
    """Raise from a `report` callback to end the run early, with an evaluation and status "ok"."""


class _NonFiniteLoss(Exception):
    pass


def build_model(spec: ModelSpec) -> nn.Module:
    """The model factory; a module-level name so that tests can swap it."""
    return _build_model(spec)


def train_proxy(
    spec: ModelSpec | str,
    task: Task | str,
    train_config: TrainConfig | Mapping[str, Any] | None = None,
    report: Report | None = None,
) -> TrainResult:
    """Train the model of `spec` on `task`; return its result, never raising for NaN or OOM.

    Args:
        spec: a `ModelSpec` or anything `hybridlab.parse` reads; its vocab_size is fitted to the
            task's (see `fit_spec`).
        task: a `Task` (an instance of `hybridlab.tasks.Task`, e.g. `make_task("mqar")`), or a
            registered task name (default settings).
        train_config: optimisation, evaluation, device and stopping settings: a `TrainConfig`,
            a mapping of its fields (read as a study file's `train:` section is: typed, text
            is no number), or None for the defaults. It is validated before anything is built.
        report: None, or a callable, called as `report(step, metrics)` every `log_every` steps
            with "train/loss",
            "train/lr" and "train/tokens_per_s", and after each evaluation with "eval/accuracy",
            "eval/loss" (and "eval/bits_per_byte" for byte-level tasks): the names of
            `hybridlab.results.Metric`. It may raise `StopTraining` to end the run early.

    Returns:
        A `TrainResult`; `status` is "failed" with `failure_reason` on a non-finite loss or out
        of memory.

    Raises:
        TypeError: `task`, `train_config` or `report` of the wrong kind, or a setting of the
            wrong type (`SettingTypeError`, also a ValueError).
        ValueError: a setting that cannot work (`SettingError`, naming `train.<field>`), an
            unknown task name, a malformed spec, or `device=cuda` without CUDA.

    Example:
        >>> config = TrainConfig(steps=20, batch_size=8, eval_every=None)
        >>> task = make_task("mqar", {"vocab_size": 128, "num_eval_examples": 16})
        >>> train_proxy("attn, mlp", task, config).status
        <Status.OK: 'ok'>
    """
    config = as_train_config(train_config)
    config.validate()
    task = as_task(task)
    judged_on_validation = RaceJudge(config.lr_race_judge) is RaceJudge.VALIDATION
    if config.race_steps and judged_on_validation and not task.has_validation:
        raise ValueError(
            f"train.lr_race_judge=validation needs a validation split, and task {task.name!r} has "
            "none: set task.num_valid_examples ≥ 1 (or judge on train_loss)"
        )
    if report is not None and not callable(report):
        raise TypeError(
            f"report must be None or a callable report(step, metrics), got {type(report).__name__}"
        )
    spec = fit_spec(spec, task)
    device = resolve_device(Device(config.device))
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    result = TrainResult(
        task=task.name,
        spec=spec.format(),
        pattern=spec.pattern(),
        params=count_params(spec),
        state_bytes=state_bytes(spec, task.seq_len),
        device=str(device),
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    run: _Run | None = None
    try:
        if config.race_steps:
            run = _race(spec, task, config, device, report, result)
        else:
            lr = config.lr_race[0] if config.lr_race else config.lr
            run = _Run(spec, task, dataclasses.replace(config, lr=lr), device, report, result)
        result.lr = run.config.lr
        run.train()
        if task.has_validation and result.ok:
            result.valid_accuracy, result.valid_loss = run.score(validation=True)
        if config.keep_weights and result.ok:
            result.weights = run.weights()
    except OutOfMemoryError as err:
        mark_failed(result, f"out of memory at step {result.steps_done}: {first_line(err)}")
    except RuntimeError as err:
        # CPU allocators raise a plain RuntimeError when memory runs out.
        if "can't allocate memory" not in str(err) and "out of memory" not in str(err).lower():
            raise
        mark_failed(result, f"out of memory at step {result.steps_done}: {first_line(err)}")
    except _NonFiniteLoss as err:
        mark_failed(result, str(err))
    finally:
        del run
        gc.collect()
        if device.type == "cuda":
            result.peak_memory_bytes = int(torch.cuda.max_memory_allocated(device))
            result.peak_memory_kind = "cuda_max_allocated"
            torch.cuda.empty_cache()
        else:
            result.peak_memory_bytes = rss_high_water_bytes()
            result.peak_memory_kind = "cpu_rss_high_water"
        result.wall_time_s = time.perf_counter() - start
    return result


def _race(
    spec: ModelSpec,
    task: Task,
    config: TrainConfig,
    device: torch.device,
    report: Report | None,
    result: TrainResult,
) -> _Run:
    """Race the rates of `config.lr_race`; return the winner's run, ready to continue.

    Every candidate starts from the same initial model (the seed) and sees the same batches for
    `config.race_steps` steps of its own schedule; the lowest score wins (a candidate whose loss
    is not finite is out). The score is `config.lr_race_judge`'s: the mean training loss over
    the last fifth of the race, or the loss on the task's validation split. Never the test
    split: the examples that score the run do not choose its rate.
    """
    num_steps = config.race_steps
    judge = RaceJudge(config.lr_race_judge)
    tail = max(1, num_steps // 5)
    best: _Run | None = None
    best_score = math.inf
    for lr in config.lr_race:
        candidate = _Run(spec, task, dataclasses.replace(config, lr=lr), device, None, result)
        losses = candidate.race(num_steps)
        score = math.inf
        if len(losses) == num_steps:
            if judge is RaceJudge.VALIDATION:
                score = candidate.score(validation=True)[1]
            else:
                score = sum(losses[-tail:]) / tail
        result.lr_race.append([lr, score if math.isfinite(score) else None])
        if score < best_score:
            best, best_score = candidate, score
        del candidate
        gc.collect()
    if best is None:
        raise _NonFiniteLoss(
            f"the loss was not finite within {num_steps} steps at every rate of train.lr_race "
            f"({config.lr_race})"
        )
    result.race_steps = num_steps * (len(config.lr_race) - 1)
    best.report, best.first_step = report, num_steps + 1
    best.emit(num_steps, {Metric.RACE_LR: best.config.lr, Metric.RACE_LOSS: best_score})
    return best


class _Run:
    """The state of one run: model, optimizer, data, clocks."""

    def __init__(
        self,
        spec: ModelSpec,
        task: Task,
        config: TrainConfig,
        device: torch.device,
        report: Report | None,
        result: TrainResult,
    ) -> None:
        self.task, self.config, self.device = task, config, device
        self.report, self.result = report, result
        self.started = time.perf_counter()
        torch.manual_seed(config.seed)
        model = build_model(spec)
        if task.readout is Readout.LAST_STATE:
            model = LastStateReadout(model, task.seq_len, task.vocab_size)
        self.model = model.to(device)
        self.optimizer = make_optimizer(self.model, config)
        self.schedule = make_schedule(self.optimizer, config)
        precision = Precision(config.precision)
        use_bf16 = precision is Precision.BF16 or (
            precision is Precision.AUTO and device.type == "cuda"
        )
        self.autocast = (
            (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
            if use_bf16
            else contextlib.nullcontext
        )
        self.batches: Iterator = task.train_batches(config.batch_size, seed=config.seed)
        self.train_time = 0.0
        self.tokens = 0
        # Where `train` starts: later than 1 when a learning-rate race trained the first steps.
        self.first_step = 1

    def race(self, num_steps: int) -> list[float]:
        """Train `num_steps` steps without evaluating or reporting; the losses, cut short at the
        first one that is not finite."""
        losses = []
        for _ in range(num_steps):
            tick = time.perf_counter()
            loss = self._step()
            self.train_time += time.perf_counter() - tick
            if not math.isfinite(loss):
                break
            losses.append(loss)
        return losses

    def weights(self) -> dict[str, torch.Tensor]:
        """The trained `HybridLM`'s state_dict on the CPU (a readout's decoder left out: it
        belongs to the task, not to the architecture)."""
        model = self.model.model if isinstance(self.model, LastStateReadout) else self.model
        return {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}

    def train(self) -> None:
        config, result = self.config, self.result
        result.stop_reason = "completed"
        # A full sweep (`lr_race_fraction` 1) has trained every step in the race.
        result.steps_done = self.first_step - 1
        evaluated_at = -1
        eval_at = set(config.eval_at)
        for step in range(self.first_step, config.steps + 1):
            # The rate this step trains at: `_step` moves the schedule on to the next one.
            lr = self.schedule.get_last_lr()[0]
            tick = time.perf_counter()
            loss = self._step()
            self.train_time += time.perf_counter() - tick
            result.steps_done = step
            if not math.isfinite(loss):
                raise _NonFiniteLoss(f"non-finite loss at step {step}: {loss}")
            try:
                if step % config.log_every == 0 or step == config.steps:
                    self.emit(
                        step,
                        {
                            Metric.TRAIN_LOSS: loss,
                            Metric.TRAIN_LR: lr,
                            Metric.TRAIN_TOKENS_PER_S: self.tokens_per_s(),
                        },
                    )
                every = config.eval_every and step % config.eval_every == 0
                if (every or step in eval_at) and step < config.steps:
                    evaluated_at = step
                    accuracy = self.evaluate(step)
                    if config.target_accuracy is not None and accuracy >= config.target_accuracy:
                        result.stop_reason = "target_accuracy"
                        return
                elapsed = time.perf_counter() - self.started
                over = config.max_wall_time_s is not None and elapsed > config.max_wall_time_s
                if over and step < config.steps:
                    result.stop_reason = "max_wall_time"
                    break
            except StopTraining:
                result.stop_reason = "report"
                break
        if evaluated_at != result.steps_done:
            with contextlib.suppress(StopTraining):
                self.evaluate(result.steps_done)

    def _step(self) -> float:
        self.model.train()
        ids, targets = next(self.batches)
        ids, targets = ids.to(self.device), targets.to(self.device)
        with self.autocast():
            logits_BTV = self.model(ids)
        loss = _masked_cross_entropy(logits_BTV, targets)[0]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        self.tokens += ids.numel()
        return loss.item()

    def evaluate(self, step: int) -> float:
        """Score the test split; record and report the metrics; return the accuracy."""
        accuracy, loss = self.score(validation=False)
        if not math.isfinite(loss):
            raise _NonFiniteLoss(f"non-finite evaluation loss at step {step}: {loss}")
        metrics = {Metric.EVAL_ACCURACY: accuracy, Metric.EVAL_LOSS: loss}
        self.result.accuracy, self.result.loss = accuracy, loss
        if self.task.reports_bits_per_byte:
            metrics[Metric.EVAL_BITS_PER_BYTE] = self.result.bits_per_byte = loss / math.log(2)
        self.emit(step, metrics)
        return accuracy

    @torch.no_grad()
    def score(self, *, validation: bool) -> tuple[float, float]:
        """(accuracy, mean loss) over the labelled positions of the test split, or of the
        validation split; nothing is recorded or reported."""
        self.model.eval()
        total_loss, correct, count = 0.0, 0, 0
        for ids, targets in self.task.eval_batches(
            self.config.eval_batch_size,
            max_examples=self.config.max_eval_examples or 0,
            validation=validation,
        ):
            ids, targets = ids.to(self.device), targets.to(self.device)
            with self.autocast():
                logits_BTV = self.model(ids)
            _, loss_sum, hits, n = _masked_cross_entropy(logits_BTV, targets)
            total_loss += loss_sum
            correct += hits
            count += n
        if count == 0:
            split = "validation split" if validation else "evaluation set"
            raise ValueError(f"task {self.task.name!r}: the {split} has no labelled position")
        return correct / count, total_loss / count

    def tokens_per_s(self) -> float:
        return self.tokens / self.train_time if self.train_time > 0 else 0.0

    def emit(self, step: int, metrics: dict[str, float]) -> None:
        self.result.tokens_per_s = self.tokens_per_s()
        self.result.history.append({"step": step, **metrics})
        if self.report is not None:
            self.report(step, metrics)


def _masked_cross_entropy(
    logits_BTV: torch.Tensor, targets_BT: torch.Tensor
) -> tuple[torch.Tensor, float, int, int]:
    """(mean loss tensor, summed loss, correct predictions, labelled positions) over targets ≠ −100.

    A batch without labelled positions gives a zero loss rather than NaN.
    """
    logits = logits_BTV.float().flatten(0, 1)
    targets = targets_BT.flatten()
    loss_sum = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum")
    labelled = targets != IGNORE_INDEX
    n = int(labelled.sum())
    hits = int((logits.argmax(-1)[labelled] == targets[labelled]).sum())
    return loss_sum / max(n, 1), float(loss_sum.detach()), hits, n


def as_train_config(value: TrainConfig | Mapping[str, Any] | None) -> TrainConfig:
    """`train_proxy`'s settings: a `TrainConfig` as it is, a mapping read into one."""
    if value is None:
        return TrainConfig()
    if isinstance(value, TrainConfig):
        return value
    if isinstance(value, Mapping):
        return merge_dataclass(TrainConfig, value, "train")
    raise TypeError(
        f"train_config must be a TrainConfig, a mapping of its fields or None, got "
        f"{type(value).__name__}; e.g. TrainConfig(steps=200, lr=3e-3)"
    )


def as_task(value: Task | str) -> Task:
    """`train_proxy`'s task: a `Task` as it is, a registered name built with its defaults."""
    if isinstance(value, str):
        return make_task(value)
    if not isinstance(value, Task):
        raise TypeError(
            f"task must be a Task (e.g. hybridlab.tasks.make_task('mqar')) or a registered task "
            f"name ({', '.join(TASKS)}), got {reprlib.repr(value)} ({type(value).__name__})"
        )
    return value


def resolve_device(device: Device) -> torch.device:
    """The torch device for `train.device`; CUDA asked for where there is none is refused."""
    if device is Device.CUDA and not torch.cuda.is_available():
        raise ValueError("train.device=cuda but CUDA is not available; use auto or cpu")
    if device is Device.CPU or (device is Device.AUTO and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda")


def rss_high_water_bytes() -> int:
    """This process's peak resident memory so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def mark_failed(result: TrainResult, reason: str) -> None:
    """Record a run as failed, with its reason (shared by the lone and the member trainer)."""
    result.status = Status.FAILED
    result.failure_reason = reason
    result.stop_reason = None

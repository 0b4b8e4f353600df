"""`train_members`: k members of one architecture (seeds × learning rates) trained as one model.

A member is a seed and a peak learning rate. `train_members` trains every member the way
`train_proxy` trains a lone run with that seed and rate (`TrainConfig(seed=..., lr=...)`), and
returns one `TrainResult` per member equal to the lone run's to float32 tolerance: its
initialisation (`torch.manual_seed(seed)`, then the model), its batch order
(`task.train_batches(batch_size, seed=seed)`), its schedule (the warm-up and cosine of
`lr_factor` at its own peak rate), its gradient clipping, its evaluations and its metrics. What
differs is the cost: the members share one process, one forward and backward pass and one
optimizer step per training step, through a leading member dimension (`MemberStack`), so the
per-op overhead that dominates small proxies is paid once for all of them.

Per member, as in a lone run: a non-finite loss fails that member (its result says why) and the
others go on; a member that reaches `target_accuracy` stops there. For the whole group: running
out of memory fails every member, `max_wall_time_s` is the group's wall clock, and a `report`
callback that raises `StopTraining` ends every member (each evaluated a last time). The group's
wall time and peak memory are written into every member's result; a member's `tokens_per_s`
is its own tokens over the group's training time.

Legend: M members, B batch, T seq_len, V vocab_size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from hybridlab.config import SettingError, first_line
from hybridlab.cost import count_params, state_bytes
from hybridlab.model import build_model
from hybridlab.results import Metric
from hybridlab.spec import ModelSpec
from hybridlab.tasks import IGNORE_INDEX, Readout, Task
from hybridlab.train.config import Device, Precision, TrainConfig
from hybridlab.train.members.optim import StackedAdamW, clip_grad_norm_per_member
from hybridlab.train.members.stack import MemberStack
from hybridlab.train.optim import lr_factor
from hybridlab.train.result import TrainResult
from hybridlab.train.spec_fit import fit_spec
from hybridlab.train.trainer import (
    OutOfMemoryError,
    StopTraining,
    as_task,
    as_train_config,
    mark_failed,
    resolve_device,
    rss_high_water_bytes,
)

# report(member, step, metrics): `member` is the member's position in `members`.
MemberReport = Callable[[int, int, dict[str, float]], Any]


@dataclass(frozen=True)
class Member:
    """One member of a group: the seed of its initialisation and batch order, and its peak
    learning rate (`TrainConfig.seed` and `TrainConfig.lr` of the lone run it equals)."""

    seed: int
    lr: float


def member_grid(seeds: Sequence[int], lrs: Sequence[float]) -> list[Member]:
    """Every seed at every rate, seed-major: `member_grid([0, 1], [3e-3, 1e-2])` is
    [(0, 3e-3), (0, 1e-2), (1, 3e-3), (1, 1e-2)]."""
    return [Member(seed, lr) for seed in seeds for lr in lrs]


def train_members(
    spec: ModelSpec | str,
    task: Task | str,
    train_config: TrainConfig | Mapping[str, Any] | None,
    members: Sequence[Member | tuple[int, float]],
    report: MemberReport | None = None,
) -> list[TrainResult]:
    """Train `members` of the model of `spec` on `task` as one vectorised model.

    Args:
        spec: a `ModelSpec` or anything `hybridlab.parse` reads, of the built-in kinds (ssd,
            scan, gdn, attn, mlp); its vocab_size is fitted to the task's (`fit_spec`).
        task: a `Task` or a registered task name; a next-token task (MAD's compression, read
            from the last state, is refused).
        train_config: the settings every member shares, as `train_proxy` takes them; its `seed`
            and `lr` are replaced by each member's. `lr_race` must be empty: members are the
            sweep a race would sample (pass the race's rates as members, `member_grid`).
        members: `Member`s or (seed, lr) pairs, at least one, no two alike.
        report: None, or a callable `report(member, step, metrics)` called with what
            `train_proxy` reports for that member (`member` its position in `members`); it may
            raise `StopTraining` to end every member.

    Returns:
        One `TrainResult` per member, in the order of `members`; with `keep_weights`, an ok
        member's `weights` are its trained `HybridLM`'s state_dict, as a lone run's.

    Raises:
        TypeError: `task`, `train_config`, `members` or `report` of the wrong kind.
        ValueError: a setting that cannot work (naming `train.<field>`, and the member for a
            seed or rate), `lr_race` given, duplicate members, a last-state task, or a layer
            kind members cannot stack.

    Example:
        >>> config = TrainConfig(steps=20, batch_size=8, eval_every=None)
        >>> task = make_task("mqar", {"vocab_size": 128, "num_eval_examples": 16})
        >>> results = train_members("attn, mlp", task, config, member_grid([0, 1], [3e-3]))
        >>> [r.lr for r in results]
        [0.003, 0.003]
    """
    config = as_train_config(train_config)
    config.validate()
    if config.lr_race:
        raise SettingError(
            f"train.lr_race ({config.lr_race}) cannot be combined with members: each member "
            f"trains at its own rate, so pass the race's rates as members (e.g. "
            f"member_grid(seeds, {config.lr_race})) and leave train.lr_race empty",
            key="train.lr_race",
        )
    group = _as_members(members, config)
    task = as_task(task)
    if task.readout is not Readout.NEXT_TOKEN:
        raise ValueError(
            f"task {task.name!r} is read from the model's last state; members train next-token "
            f"tasks only (train it with train_proxy)"
        )
    if report is not None and not callable(report):
        raise TypeError(
            f"report must be None or a callable report(member, step, metrics), got "
            f"{type(report).__name__}"
        )
    spec = fit_spec(spec, task)
    device = resolve_device(Device(config.device))
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    results = [
        TrainResult(
            task=task.name,
            spec=spec.format(),
            pattern=spec.pattern(),
            params=count_params(spec),
            state_bytes=state_bytes(spec, task.seq_len),
            device=str(device),
            lr=member.lr,
        )
        for member in group
    ]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    run: _Group | None = None
    try:
        run = _Group(spec, task, config, group, device, report, results)
        run.train()
        run.finish()
    except (OutOfMemoryError, RuntimeError) as err:
        # CPU allocators raise a plain RuntimeError when memory runs out.
        is_oom = isinstance(err, OutOfMemoryError) or (
            "can't allocate memory" in str(err) or "out of memory" in str(err).lower()
        )
        if not is_oom:
            raise
        for result in results:
            if result.ok:
                mark_failed(result, f"out of memory at step {result.steps_done}: {first_line(err)}")
    finally:
        del run
        gc.collect()
        if device.type == "cuda":
            peak, kind = int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
            torch.cuda.empty_cache()
        else:
            peak, kind = rss_high_water_bytes(), "cpu_rss_high_water"
        wall = time.perf_counter() - start
        for result in results:
            result.peak_memory_bytes, result.peak_memory_kind = peak, kind
            result.wall_time_s = wall
    return results


def _as_members(members: Sequence[Member | tuple[int, float]], config: TrainConfig) -> list[Member]:
    """`members` as `Member`s, each seed and rate checked as `TrainConfig` checks its own."""
    if isinstance(members, str | bytes) or not isinstance(members, Sequence):
        raise TypeError(
            f"members must be a sequence of Member(seed, lr) or (seed, lr) pairs, got "
            f"{type(members).__name__}"
        )
    if not members:
        raise ValueError("members is empty: give at least one Member(seed, lr)")
    group = []
    for index, item in enumerate(members):
        if isinstance(item, Member):
            member = item
        elif isinstance(item, tuple) and len(item) == 2:
            member = Member(*item)
        else:
            raise TypeError(
                f"members[{index}] must be a Member(seed, lr) or a (seed, lr) pair, got {item!r}"
            )
        if not isinstance(member.lr, numbers.Real) or isinstance(member.lr, bool):
            raise TypeError(f"members[{index}]: lr must be a number, got {member.lr!r}")
        try:
            dataclasses.replace(config, seed=member.seed, lr=float(member.lr)).validate()
        except SettingError as err:
            raise type(err)(f"members[{index}] = {member}: {err}", key=err.key) from None
        group.append(Member(member.seed, float(member.lr)))
    seen: dict[Member, int] = {}
    for index, member in enumerate(group):
        if member in seen:
            raise ValueError(
                f"members[{index}] repeats members[{seen[member]}] ({member}): two members "
                f"with one seed and rate train identically"
            )
        seen[member] = index
    return group


class _Group:
    """The state of a group run: the stack, its optimizer, each member's data and result."""

    def __init__(
        self,
        spec: ModelSpec,
        task: Task,
        config: TrainConfig,
        members: list[Member],
        device: torch.device,
        report: MemberReport | None,
        results: list[TrainResult],
    ) -> None:
        self.task, self.config, self.device = task, config, device
        self.report, self.results = report, results
        self.started = time.perf_counter()
        models = []
        for member in members:
            torch.manual_seed(member.seed)  # as train_proxy: the seed, then the model
            models.append(build_model(spec).to(device))
        self.stack = MemberStack(models)
        del models
        lrs = torch.tensor([member.lr for member in members], dtype=torch.float64, device=device)
        self.optimizer = StackedAdamW(self.stack, lrs, config)
        self.lrs = [member.lr for member in members]
        self.batches: list[Iterator] = [
            task.train_batches(config.batch_size, seed=member.seed) for member in members
        ]
        # Positions in `members` of the members still training, in the stack's order.
        self.active = list(range(len(members)))
        precision = Precision(config.precision)
        use_bf16 = precision is Precision.BF16 or (
            precision is Precision.AUTO and device.type == "cuda"
        )
        self.autocast = (
            (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
            if use_bf16
            else contextlib.nullcontext
        )
        self.train_time = 0.0
        self.tokens = 0  # per member

    def train(self) -> None:
        config, results = self.config, self.results
        for i in self.active:
            results[i].stop_reason = "completed"
        evaluated_at = -1
        eval_at = set(config.eval_at)
        step = 0
        for step in range(1, config.steps + 1):
            factor = lr_factor(step - 1, config)  # the rate this step trains at, over the peak
            tick = time.perf_counter()
            losses = self._step(factor)
            self.train_time += time.perf_counter() - tick
            for i in self.active:
                results[i].steps_done = step
            broken = [i for i in self.active if not math.isfinite(losses[i])]
            for i in broken:
                mark_failed(results[i], f"non-finite loss at step {step}: {losses[i]}")
            self._drop(broken)
            if not self.active:
                return
            try:
                if step % config.log_every == 0 or step == config.steps:
                    self.emit(
                        step,
                        {
                            i: {
                                Metric.TRAIN_LOSS: losses[i],
                                Metric.TRAIN_LR: self.lrs[i] * factor,
                                Metric.TRAIN_TOKENS_PER_S: self.tokens_per_s(),
                            }
                            for i in self.active
                        },
                    )
                every = config.eval_every and step % config.eval_every == 0
                if (every or step in eval_at) and step < config.steps:
                    evaluated_at = step
                    accuracies = self.evaluate(step)
                    target = config.target_accuracy
                    reached = [
                        i for i, a in accuracies.items() if target is not None and a >= target
                    ]
                    for i in reached:
                        results[i].stop_reason = "target_accuracy"
                    self._drop(reached)
                    if not self.active:
                        return
                elapsed = time.perf_counter() - self.started
                over = config.max_wall_time_s is not None and elapsed > config.max_wall_time_s
                if over and step < config.steps:
                    for i in self.active:
                        results[i].stop_reason = "max_wall_time"
                    break
            except StopTraining:
                for i in self.active:
                    results[i].stop_reason = "report"
                break
        if evaluated_at != step:
            with contextlib.suppress(StopTraining):
                self.evaluate(step)

    def finish(self) -> None:
        """Score and keep (with `keep_weights`) the members still in the stack."""
        self._validate(self.active)
        self._keep_weights(self.active)

    def _validate(self, members: list[int]) -> None:
        """Score each of `members` that is ok on the task's validation split, as `train_proxy`
        scores a lone run after training (nothing without a validation split)."""
        if not self.task.has_validation or not members:
            return
        scores = self.score(validation=True)
        for i in members:
            if self.results[i].ok:
                self.results[i].valid_accuracy, self.results[i].valid_loss = scores[i]

    def _keep_weights(self, members: list[int]) -> None:
        """With `keep_weights`, copy each of `members` that is ok into its result's `weights`,
        as `train_proxy` keeps a run's trained model."""
        if not self.config.keep_weights:
            return
        for k, i in enumerate(self.active):
            if i in members and self.results[i].ok:
                self.results[i].weights = self.stack.state_dict(k)

    def _drop(self, members: list[int]) -> None:
        """Take `members` (positions in `members`) out of the stack and its optimizer, keeping
        the weights of those that stop ok."""
        if not members:
            return
        self._validate(members)
        self._keep_weights(members)
        keep = [k for k, i in enumerate(self.active) if i not in members]
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.stack.keep(index)
        self.optimizer.keep(index)
        self.active = [self.active[k] for k in keep]

    def _step(self, factor: float) -> dict[int, float]:
        """One training step of every active member; their losses by member."""
        pairs = [next(self.batches[i]) for i in self.active]
        ids = torch.stack([ids for ids, _ in pairs]).to(self.device)  # (M, B, T)
        targets = torch.stack([targets for _, targets in pairs]).to(self.device)
        with self.autocast():
            logits_MBTV = self.stack(ids)
        loss_M = _masked_cross_entropy(logits_MBTV, targets)[0]
        self.optimizer.zero_grad()
        loss_M.sum().backward()  # member m's gradients are those of its own loss
        if self.config.grad_clip is not None:
            clip_grad_norm_per_member(self.stack, self.config.grad_clip)
        self.optimizer.step(factor)
        self.tokens += ids[0].numel()
        return dict(zip(self.active, loss_M.tolist(), strict=True))

    def evaluate(self, step: int) -> dict[int, float]:
        """Score every active member on the test split; record and report the metrics; return
        the accuracies by member. A member whose loss is not finite fails and is dropped."""
        scores = self.score(validation=False)
        broken = [i for i, (_, loss) in scores.items() if not math.isfinite(loss)]
        for i in broken:
            reason = f"non-finite evaluation loss at step {step}: {scores[i][1]}"
            mark_failed(self.results[i], reason)
        self._drop(broken)
        metrics = {}
        for i in self.active:
            accuracy, loss = scores[i]
            result = self.results[i]
            metrics[i] = {Metric.EVAL_ACCURACY: accuracy, Metric.EVAL_LOSS: loss}
            result.accuracy, result.loss = accuracy, loss
            if self.task.reports_bits_per_byte:
                metrics[i][Metric.EVAL_BITS_PER_BYTE] = result.bits_per_byte = loss / math.log(2)
        self.emit(step, metrics)
        return {i: scores[i][0] for i in self.active}

    @torch.no_grad()
    def score(self, *, validation: bool) -> dict[int, tuple[float, float]]:
        """(accuracy, mean loss) of every active member over the labelled positions of the test
        split, or of the validation split; nothing is recorded or reported."""
        M = len(self.active)
        loss_sum = torch.zeros(M, dtype=torch.float64, device=self.device)
        hits = torch.zeros(M, dtype=torch.long, device=self.device)
        count = 0
        for ids, targets in self.task.eval_batches(
            self.config.eval_batch_size,
            max_examples=self.config.max_eval_examples or 0,
            validation=validation,
        ):
            ids, targets = ids.to(self.device), targets.to(self.device)
            with self.autocast():
                logits = self.stack(ids.expand(M, *ids.shape))
            _, sums, correct, labelled = _masked_cross_entropy(
                logits, targets.expand(M, *targets.shape)
            )
            loss_sum += sums
            hits += correct
            count += int(labelled[0])
        if count == 0:
            split = "validation split" if validation else "evaluation set"
            raise ValueError(f"task {self.task.name!r}: the {split} has no labelled position")
        return {
            i: (correct / count, total / count)
            for i, total, correct in zip(self.active, loss_sum.tolist(), hits.tolist(), strict=True)
        }

    def tokens_per_s(self) -> float:
        return self.tokens / self.train_time if self.train_time > 0 else 0.0

    def emit(self, step: int, metrics: dict[int, dict[str, float]]) -> None:
        """Record each member's `metrics` and report them. A report that raises `StopTraining`
        does so once every member's metrics are recorded and reported."""
        stop = False
        for member, values in metrics.items():
            result = self.results[member]
            result.tokens_per_s = self.tokens_per_s()
            result.history.append({"step": step, **values})
            if self.report is not None:
                try:
                    self.report(member, step, values)
                except StopTraining:
                    stop = True
        if stop:
            raise StopTraining


def _masked_cross_entropy(
    logits_MBTV: torch.Tensor, targets_MBT: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per member over targets ≠ −100: (mean loss (M,), summed loss (M,) float64 detached,
    correct predictions (M,), labelled positions (M,)). No labelled position: a zero loss."""
    M, V = logits_MBTV.shape[0], logits_MBTV.shape[-1]
    logits = logits_MBTV.float().reshape(M, -1, V)
    targets = targets_MBT.reshape(M, -1)
    losses = F.cross_entropy(
        logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(M, -1)
    loss_sum = losses.sum(1)
    labelled = targets != IGNORE_INDEX
    n = labelled.sum(1)
    hits = ((logits.argmax(-1) == targets) & labelled).sum(1)
    return loss_sum / n.clamp(min=1), loss_sum.detach().double(), hits, n

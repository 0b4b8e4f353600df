"""The study driver: ask Optuna, build and check the architecture, run it, tell Optuna.

This module is the loop; beside it: `reuse` (repeated trials train once), `retries` (a fault
runs again), `rungs` (the pruner's judging), `seed_runs` (the front under more seeds), `recovery`
(trackers catch up with the storage).

    plan = load_plan("studies/quickstart.yaml")
    summary = run_study(plan)                      # resumes if the study folder has a study

One loop, for any executor:
1. recover trials a previous run left RUNNING (marked failed, params re-enqueued);
2. while the budget allows and the executor has room: `study.ask()`, sample the space through
   the trial (define-by-run), build the spec, check constraints. An infeasible sample is told
   FAIL with user attrs `infeasible=True`, `outcome="infeasible"` and the reason; it is never
   trained and does not count against `budget.trials`. `budget.max_consecutive_infeasible` or
   more in a row end the study with an error. Samplers learn only from completed trials, so a
   model-based sampler (TPE) can keep proposing the same infeasible region; after
   `FALLBACK_AFTER` infeasible samples in a row the next trials are drawn by a seeded random
   sampler (user attr `sampled_by="random-fallback"`) until one is feasible;
3. submit the feasible trial (or, when the same spec, task and training settings completed
   before or are training now, reuse that result: training is deterministic; user attr
   `duplicate_of`; a trial waiting for a twin's result does not hold an executor slot), wait for
   outcomes, compute objective values (analytic ones from the spec), store the hypervolume in
   the trial's and the study's user attrs, tell Optuna. A failed training (non-finite loss,
   out of memory, an exception) is told FAIL with its reason; the study goes on. A failure
   that is a fault (the result has `fault`: an exception, out of memory, a worker or node
   lost) is run again as a new trial with the same params, up to `executor.retries` times;
   the failed attempt keeps its reason, gets user attr `retried=True` and does not count
   against the budget, the new one has `retry_of` and `attempt`.

With a pruner (`pruner:`, `hybridlab.study.pruning`) each trial is evaluated at the rungs; the
driver records what it measured there (user attr `rungs`) and stops the trials the rule says
to stop: told PRUNED with `pruned_at_step`, never on the front. A stopped trial frees its
executor slot at its next report.

The budget counts trained trials (complete + failed + pruned) in the whole study, so a resumed study
runs only what is left. The sampler is seeded with `seed + len(study.trials)`: a sequential
study with a seed is reproducible, and so is its resume.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from hybridlab.config import StudyConfigError
from hybridlab.execution import Executor, make_executor
from hybridlab.execution.environment import drop_mlflow_run_vars
from hybridlab.pareto import study_hypervolume
from hybridlab.results import Fault, Status
from hybridlab.space import InfeasibleSample, Proposal
from hybridlab.spec import ModelSpec
from hybridlab.study.attrs import KEPT_RESULT, StudyAttr, TrialAttr
from hybridlab.study.config import StudyPlan
from hybridlab.study.front import front_update
from hybridlab.study.pending import Pending
from hybridlab.study.recovery import recover_tracking
from hybridlab.study.requests import trial_request
from hybridlab.study.retries import retry
from hybridlab.study.reuse import Twins, kept_result, request_key, trained_before
from hybridlab.study.rungs import RungJudge
from hybridlab.study.samplers import make_sampler
from hybridlab.study.seed_runs import train_front_seeds
from hybridlab.study.storage import (
    make_storage,
    open_study,
    recover_interrupted,
    storage_label,
    stored_refs,
    study_lock,
)
from hybridlab.tracking import (
    FrontUpdate,
    Outcome,
    StudyEnd,
    StudyStart,
    Tracker,
    Trackers,
    TrialRecord,
    make_tracker,
)

FALLBACK_AFTER = 3


class StudyFailed(RuntimeError):
    """The study could not go on (e.g. too many infeasible samples in a row)."""


@dataclass
class RunSummary:
    name: str
    folder: str
    storage: str
    trained: int = 0
    complete: int = 0
    failed: int = 0
    infeasible: int = 0
    pruned: int = 0
    interrupted: list[int] = field(default_factory=list)
    retried: int = 0
    hypervolume: float | None = None
    front_size: int = 0
    wall_time_s: float = 0.0
    stopped_by: str = ""
    # Why this run's trials failed: reason → how many.
    failures: dict[str, int] = field(default_factory=dict)


def run_study(
    plan: StudyPlan, *, trackers: list[Tracker] | None = None, executor: Executor | None = None
) -> RunSummary:
    """Run (or resume) the study of `plan` until its budget is spent; see the module docstring.

    `trackers` hear of the study besides the one of `plan.tracking`; `executor` replaces the
    one of `plan.executor` (a callback it was given hears every trial's metrics first)."""
    drop_mlflow_run_vars()
    tracker = Trackers([make_tracker(plan.tracking), *(trackers or [])])
    # Joins Ray: its errors come before anything is written.
    executor = executor or make_executor(plan.executor, None, plan.folder)
    with contextlib.ExitStack() as stack:
        stack.callback(executor.shutdown)  # also when the study is locked by another run
        stack.enter_context(study_lock(plan))
        driver = _Driver(plan, tracker, executor)
        # Metrics pass through the driver: the trackers log them, the pruner judges rungs.
        stack.enter_context(executor.listening(driver.on_metrics))
        return driver.run()


class _Driver:
    """The ask/tell loop of one invocation, holding the study lock."""

    def __init__(self, plan: StudyPlan, tracker: Tracker, executor: Executor) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.plan, self.tracker, self.executor = plan, tracker, executor
        self.start = time.monotonic()
        self.storage = make_storage(plan, create=True)
        self.study = open_study(plan, create=True, storage=self.storage)
        asked = len(self.study.trials)
        self.study.sampler = make_sampler(plan.sampler, plan.space, seed_offset=asked)
        self.fallback = optuna.samplers.RandomSampler(seed=(plan.sampler.seed or 0) + asked + 1)
        self.refs = stored_refs(self.study, plan)
        self.summary = RunSummary(plan.name, str(plan.folder), storage_label(plan))
        self.pending: dict[int, Pending] = {}
        self.twins = Twins()
        self.consecutive_infeasible = 0
        self.rungs = RungJudge(plan, self.study, self.refs)

    def run(self) -> RunSummary:
        summary = self.summary
        summary.interrupted = recover_interrupted(self.study, self.storage)
        self._start_tracking()
        try:
            while True:
                stop = self._stop_reason()
                if stop and not self.pending:
                    self._seed_front()
                    summary.stopped_by = stop
                    break
                if not stop and self._num_training() < self.executor.max_concurrent:
                    self._ask_and_submit()
                    continue
                for outcome in self.executor.wait():
                    self._finish(outcome.number, outcome.result)
        finally:
            self._close()
        return summary

    def on_metrics(self, number: int, step: int, metrics: dict[str, float]) -> bool:
        """Log a trial's metrics; at a rung, judge it. True: stop the trial."""
        self.tracker.log_metrics(number, step, metrics)
        pending = self.pending.get(number)
        if pending is None or not self.rungs.enabled:
            return False
        return self.rungs.on_metrics(pending, step, metrics)

    # -- the loop -------------------------------------------------------------------------

    def _stop_reason(self) -> str:
        """Why no new trial may be asked ("" while one may): the wall time, the trial budget,
        or a grid with every point started."""
        budget = self.plan.budget
        if budget.wall_time_s is not None and time.monotonic() - self.start >= budget.wall_time_s:
            return "wall_time"
        if budget.trials is not None and self._count_trained() + len(self.pending) >= budget.trials:
            return "trials"
        exhausted = getattr(self.study.sampler, "is_exhausted", None)
        if exhausted is not None and exhausted(self.study):
            return "grid"
        return ""

    def _ask_and_submit(self) -> None:
        """Ask one trial; submit it when feasible, else record it infeasible."""
        trial, proposal = self._ask(fallback=self.consecutive_infeasible >= FALLBACK_AFTER)
        if proposal is None:
            self.summary.infeasible += 1
            self.consecutive_infeasible += 1
            if self.consecutive_infeasible >= self.plan.budget.max_consecutive_infeasible:
                raise StudyFailed(
                    f"{self.consecutive_infeasible} infeasible samples in a row: the space "
                    f"(with its constraints) is (nearly) all infeasible; see the trials' "
                    f"failure_reason, relax a constraint or the ranges"
                )
            return
        self.consecutive_infeasible = 0
        self._submit(trial, proposal)

    def _ask(self, *, fallback: bool) -> tuple[Any, Proposal | None]:
        """A new trial and its proposal (None when the sample is infeasible: then it is told)."""
        from optuna.trial import TrialState

        study = self.study
        # A trial suggests through `study.sampler` as its knobs are sampled, so the fallback
        # sampler stays in place until the proposal is built.
        sampler = study.sampler
        if fallback:
            study.sampler = self.fallback
        trial = study.ask()
        if fallback:
            trial.set_user_attr(TrialAttr.SAMPLED_BY, "random-fallback")
        try:
            proposal = self.plan.space.propose(trial, self.plan.task.vocab_size)
        except InfeasibleSample as err:
            self._tell_infeasible(trial, str(err))
            return trial, None
        except StudyConfigError:
            study.tell(trial, state=TrialState.FAIL)
            raise
        finally:
            study.sampler = sampler
        return trial, proposal

    def _submit(self, trial: Any, proposal: Proposal) -> None:
        """Record the trial's architecture and hand it to the executor, or reuse a result: of
        the same request completed before, stopped before at a rung, or training now."""
        plan, spec = self.plan, proposal.spec
        stack, pattern = spec.format(), spec.pattern()
        for attr, value in (
            (TrialAttr.STACK, stack),
            (TrialAttr.PATTERN, pattern),
            (TrialAttr.SPEC, spec.to_dict()),
        ):
            trial.set_user_attr(attr, value)
        record = TrialRecord(
            trial.number, Outcome.RUNNING, params=proposal.params, stack=stack, pattern=pattern
        )
        request = trial_request(plan, trial.number, spec.to_dict(), plan.train.seed, judged=True)
        key = request_key(request)
        trial.set_user_attr(TrialAttr.REQUEST_KEY, key)
        pending = self.pending[trial.number] = Pending(trial, record, spec)
        self.tracker.log_trial_started(record)
        earlier = trained_before(self.study, key)
        if earlier is None:
            earlier = self.rungs.stopped_before(pending, key)
        if earlier is not None:
            trial.set_user_attr(TrialAttr.DUPLICATE_OF, earlier.number)
            self._finish(trial.number, kept_result(earlier))
            return
        leader = self.twins.leader(key)
        if leader is not None:
            trial.set_user_attr(TrialAttr.DUPLICATE_OF, leader)
            self.twins.follow(leader, trial.number)
            return
        self.twins.lead(key, trial.number)
        self.executor.submit(request)

    def _num_training(self) -> int:
        """Trials in flight that occupy the executor (not those waiting for a twin's result)."""
        return len(self.pending) - self.twins.waiting

    def _finish(self, number: int, result: dict[str, Any]) -> None:
        """Tell Optuna what became of a submitted trial, and the trackers; then its twins."""
        pending = self.pending.pop(number)
        trial, record = pending.trial, pending.record
        record.result = result
        for key in KEPT_RESULT:
            if result.get(key) is not None:
                trial.set_user_attr(key, result[key])
        values, reason = self._values(result, pending.spec)
        if pending.pruned_at is not None and result.get("status") != Status.FAILED:
            self._tell_pruned(trial, record, pending.pruned_at)
        elif values is None:
            fault = result.get("fault")
            self._tell_failed(trial, record, reason, None if fault is None else Fault(fault))
        else:
            self._tell_complete(trial, record, values)
        key = trial.user_attrs.get(TrialAttr.REQUEST_KEY, "")
        for follower in self.twins.finish(key, number):
            kept = {k: result[k] for k in KEPT_RESULT if k in result}
            if pending.pruned_at is not None:  # stopped where its twin was
                self.pending[follower].pruned_at = pending.pruned_at
                self.pending[follower].trial.set_user_attr(
                    TrialAttr.RUNGS, trial.user_attrs.get(TrialAttr.RUNGS, {})
                )
            self._finish(follower, kept)

    def _values(self, result: dict[str, Any], spec: ModelSpec) -> tuple[list[float] | None, str]:
        """The objective values of a trained trial, or None and why there are none."""
        if result.get("status") != Status.OK:
            return None, result.get("failure_reason") or "failed"
        values = [o.value(result, spec) for o in self.plan.objectives]
        missing = [o.label for o, v in zip(self.plan.objectives, values, strict=True) if v is None]
        if missing:
            return None, f"no finite value for {missing}"
        return [v for v in values if v is not None], ""

    # -- telling --------------------------------------------------------------------------

    def _tell_complete(self, trial: Any, record: TrialRecord, values: list[float]) -> None:
        study = self.study
        # The front before this trial plus this trial: the points that can add hypervolume.
        front = [t.values for t in study.best_trials] if self._has_complete() else []
        hv = study_hypervolume([*front, values], self.plan.directions, self.refs)
        record.outcome = Outcome.COMPLETE
        record.values = dict(zip(self.plan.labels, values, strict=True))
        record.hypervolume = hv
        trial.set_user_attr(TrialAttr.OUTCOME, Outcome.COMPLETE)
        trial.set_user_attr(TrialAttr.HYPERVOLUME, hv)
        study.tell(trial, values)
        study.set_user_attr(StudyAttr.HYPERVOLUME, hv)
        self.summary.complete += 1
        self.tracker.log_trial_finished(record)
        self.tracker.update_front(self._front_update())

    def _tell_failed(
        self, trial: Any, record: TrialRecord, reason: str, fault: Fault | None
    ) -> None:
        from optuna.trial import TrialState

        record.outcome, record.reason = Outcome.FAILED, reason
        trial.set_user_attr(TrialAttr.OUTCOME, Outcome.FAILED)
        trial.set_user_attr(TrialAttr.REASON, reason)
        if fault:
            record.fault = fault
            trial.set_user_attr(TrialAttr.FAULT, fault)
            record.retried = retry(self.study, trial, self.plan.executor.retries)
            self.summary.retried += record.retried
        self.study.tell(trial, state=TrialState.FAIL)
        self.summary.failed += not record.retried
        self.summary.failures[reason] = self.summary.failures.get(reason, 0) + 1
        record.hypervolume = self.study.user_attrs.get(StudyAttr.HYPERVOLUME)
        self.tracker.log_trial_finished(record)

    def _tell_pruned(self, trial: Any, record: TrialRecord, step: int) -> None:
        from optuna.trial import TrialState

        record.outcome, record.pruned_at_step = Outcome.PRUNED, step
        trial.set_user_attr(TrialAttr.OUTCOME, Outcome.PRUNED)
        trial.set_user_attr(TrialAttr.PRUNED_AT, step)
        self.study.tell(trial, state=TrialState.PRUNED)
        self.summary.pruned += 1
        record.hypervolume = self.study.user_attrs.get(StudyAttr.HYPERVOLUME)
        self.tracker.log_trial_finished(record)

    def _tell_infeasible(self, trial: Any, reason: str) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr(TrialAttr.INFEASIBLE, True)
        trial.set_user_attr(TrialAttr.OUTCOME, Outcome.INFEASIBLE)
        trial.set_user_attr(TrialAttr.REASON, reason)
        self.study.tell(trial, state=TrialState.FAIL)
        record = TrialRecord(
            trial.number, Outcome.INFEASIBLE, params=dict(trial.params), reason=reason
        )
        self.tracker.log_trial_finished(record)

    # -- the front ------------------------------------------------------------------------

    def _seed_front(self) -> None:
        """Train the front under the seeds of `budget.front_seeds` (`seed_runs`)."""
        if not self.plan.budget.front_seeds or not self._has_complete():
            return
        train_front_seeds(self.study, self.plan, self.executor)
        self.tracker.update_front(self._front_update())

    def _front_update(self) -> FrontUpdate:
        plan = self.plan
        names = {o.label: o.name for o in plan.objectives}
        return front_update(self.study, plan.labels, plan.directions, plan.measured_labels, names)

    # -- starting and stopping ------------------------------------------------------------

    def _start_tracking(self) -> None:
        plan, study, summary = self.plan, self.study, self.summary
        self.tracker.start_study(
            StudyStart(
                name=plan.name,
                folder=plan.folder,
                storage=summary.storage,
                labels=plan.labels,
                directions=plan.directions,
                settings=plan.summary(),
                resumed_trials=len(study.trials),
                trained_before=self._count_trained(),
            )
        )
        if recover_tracking(study, plan.labels, self.tracker):
            self.tracker.update_front(self._front_update())

    def _close(self) -> None:
        """Trials still in flight (Ctrl-C, an error) are interrupted; the summary is final."""
        # Also a trial asked but not yet submitted (an interrupt within `study.ask`).
        recover_interrupted(self.study, self.storage)
        self.pending.clear()
        self.twins.clear()
        self.executor.shutdown()
        summary = self.summary
        summary.trained = self._count_trained()
        summary.hypervolume = self.study.user_attrs.get(StudyAttr.HYPERVOLUME)
        summary.front_size = len(self.study.best_trials) if self._has_complete() else 0
        summary.wall_time_s = time.monotonic() - self.start
        self.tracker.end_study(
            StudyEnd(
                trained=summary.trained,
                complete=summary.complete,
                failed=summary.failed,
                infeasible=summary.infeasible,
                pruned=summary.pruned,
                retried=summary.retried,
                front_size=summary.front_size,
                hypervolume=summary.hypervolume,
                wall_time_s=summary.wall_time_s,
                stopped_by=summary.stopped_by,
            )
        )

    # -- counting -------------------------------------------------------------------------

    def _count_trained(self) -> int:
        trained = (Outcome.COMPLETE, Outcome.FAILED, Outcome.PRUNED)
        return sum(
            t.user_attrs.get(TrialAttr.OUTCOME) in trained
            and not t.user_attrs.get(TrialAttr.RETRIED)
            for t in self.study.get_trials(deepcopy=False)
        )

    def _has_complete(self) -> bool:
        from optuna.trial import TrialState

        return bool(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

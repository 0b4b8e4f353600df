"""The study driver: ask Optuna, build and check the architecture, run it, tell Optuna.

    plan = load_plan("studies/quickstart.yaml")
    summary = run_study(plan)                      # resumes if the study folder has a study

One loop, for any executor:
1. recover trials a previous run left RUNNING (marked failed, params re-enqueued);
2. while the budget allows and the executor has room: `study.ask()`, sample the space through
   the trial (define-by-run), build the spec, check constraints. An infeasible sample is told
   FAIL with user attrs `infeasible=True`, `outcome="infeasible"` and the reason; it is never
   trained and does not count against `budget.trials`. More than
   `budget.max_consecutive_infeasible` in a row ends the study with an error. Samplers learn
   only from completed trials, so a model-based sampler (TPE) can keep proposing the same
   infeasible region; after `FALLBACK_AFTER` infeasible samples in a row the next trials are
   drawn by a seeded random sampler (user attr `sampled_by="random-fallback"`) until one is
   feasible;
3. submit the feasible trial (or, when the same spec, task and training settings completed
   before, reuse that result: training is deterministic; user attr `duplicate_of`), wait for
   outcomes, compute objective values (analytic ones from the spec), store the hypervolume in
   the trial's and the study's user attrs, tell Optuna. A failed training (non-finite loss,
   out of memory, an exception) is told FAIL with its reason; the study goes on. A failure
   that is a fault (the result has `fault`: an exception, out of memory, a worker or node
   lost) is run again as a new trial with the same params, up to `executor.retries` times;
   the failed attempt keeps its reason, gets user attr `retried=True` and does not count
   against the budget, the new one has `retry_of` and `attempt`.

The budget counts trained trials (complete + failed) in the whole study, so a resumed study
runs only what is left. The sampler is seeded with `seed + len(study.trials)`: a sequential
study with a seed is reproducible, and so is its resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from hybridlab.search.config import StudyPlan, plan_summary
from hybridlab.search.errors import InfeasibleSample, StudyConfigError
from hybridlab.search.executor import Executor, make_executor
from hybridlab.search.hypervolume import study_hypervolume
from hybridlab.search.pareto import study_front
from hybridlab.search.samplers import make_sampler
from hybridlab.search.store import (
    OUTCOME,
    REASON,
    open_study,
    recover_interrupted,
    storage_label,
    stored_refs,
    study_lock,
)
from hybridlab.search.tracker import (
    COMPLETE,
    FAILED,
    INFEASIBLE,
    Tracker,
    Trackers,
    TrialRecord,
    make_tracker,
)
from hybridlab.search.worker import TrialRequest

# Result fields kept in a trial's user attrs (the rest stays in the tracker's records).
KEPT = (
    "status",
    "stop_reason",
    "accuracy",
    "loss",
    "bits_per_byte",
    "tokens_per_s",
    "wall_time_s",
    "steps_done",
    "peak_memory_bytes",
    "device",
    "fault",
    "worker",
)


FALLBACK_AFTER = 3
# User attr of a trial that failed from a fault and was run again as a new trial.
RETRIED = "retried"


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
    interrupted: list[int] = field(default_factory=list)
    retried: int = 0
    hypervolume: float | None = None
    front_size: int = 0
    wall_time_s: float = 0.0
    stopped_by: str = ""


def run_study(
    plan: StudyPlan, *, trackers: list[Tracker] | None = None, executor: Executor | None = None
) -> RunSummary:
    """Run (or resume) the study of `plan` until its budget is spent; see the module docstring."""
    driver = _Driver(plan, trackers or [], executor)  # joins Ray: its errors come before any write
    with contextlib.ExitStack() as stack:
        stack.callback(driver.executor.shutdown)  # also when the study is locked by another run
        stack.enter_context(study_lock(plan))
        return driver.run()


class _Driver:
    def __init__(self, plan: StudyPlan, trackers: list[Tracker], executor: Executor | None):
        self.plan = plan
        self.tracker = Trackers(
            [
                make_tracker(plan.tracking.backend, plan.tracking.options, plan.tracking.uri),
                *trackers,
            ]
        )
        self.executor = executor or make_executor(
            plan.executor, self.tracker.log_metrics, plan.folder
        )
        self.pending: dict[int, tuple[Any, TrialRecord, Any]] = {}

    def run(self) -> RunSummary:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        plan, start = self.plan, time.monotonic()
        study = open_study(plan, create=True)
        study.sampler = make_sampler(plan.sampler, plan.space, seed_offset=len(study.trials))
        seed = (plan.sampler.seed or 0) + len(study.trials) + 1
        self.fallback = optuna.samplers.RandomSampler(seed=seed)
        self.study, self.refs = study, stored_refs(study, plan)
        summary = self.summary = RunSummary(plan.name, str(plan.folder), storage_label(plan))
        summary.interrupted = recover_interrupted(study)
        self.tracker.start_study(
            {
                "name": plan.name,
                "folder": str(plan.folder),
                "storage": summary.storage,
                "labels": plan.labels,
                "directions": plan.directions,
                "budget_trials": plan.budget.trials,
                "settings": plan_summary(plan),
                "resumed_trials": len(study.trials),
                "trained_before": self._count_trained(),
                "interrupted": summary.interrupted,
            }
        )
        self._recover_tracking(study)
        consecutive_infeasible = 0
        try:
            while True:
                trained = self._count_trained()
                out_of_time = (
                    plan.budget.wall_time_s is not None
                    and time.monotonic() - start >= plan.budget.wall_time_s
                )
                room = (
                    plan.budget.trials is None or trained + len(self.pending) < plan.budget.trials
                )
                grid_done = getattr(study.sampler, "is_exhausted", None)
                grid_done = grid_done is not None and grid_done(study)
                if out_of_time or not room or grid_done:
                    if not self.pending:
                        stop = "wall_time" if out_of_time else "trials" if not room else "grid"
                        summary.stopped_by = stop
                        break
                elif len(self.pending) < self.executor.max_concurrent:
                    if self._ask_and_submit(consecutive_infeasible >= FALLBACK_AFTER):
                        consecutive_infeasible = 0
                    else:
                        summary.infeasible += 1
                        consecutive_infeasible += 1
                        if consecutive_infeasible >= plan.budget.max_consecutive_infeasible:
                            raise StudyFailed(
                                f"{consecutive_infeasible} infeasible samples in a row: the "
                                f"space (with its constraints) is (nearly) all infeasible; see "
                                f"the trials' failure_reason, relax a constraint or the ranges"
                            )
                    continue
                for outcome in self.executor.wait():
                    self._finish(outcome.number, outcome.result)
        finally:
            self._abandon_pending()
            self.executor.shutdown()
            summary.trained = self._count_trained()
            summary.hypervolume = study.user_attrs.get("hypervolume")
            summary.front_size = len(study.best_trials) if self._has_complete() else 0
            summary.wall_time_s = time.monotonic() - start
            self.tracker.end_study(summary.__dict__)
        return summary

    def _ask_and_submit(self, fallback: bool) -> bool:
        """Ask one trial; submit it if feasible (True), else record it infeasible (False)."""
        from optuna.trial import TrialState

        plan, study = self.plan, self.study
        # A trial suggests through `study.sampler` when its knobs are sampled, so the fallback
        # sampler stays in place until the proposal is built.
        sampler = study.sampler
        if fallback:
            study.sampler = self.fallback
        trial = study.ask()
        if fallback:
            trial.set_user_attr("sampled_by", "random-fallback")
        try:
            proposal = plan.space.propose(trial, plan.task.vocab_size)
        except InfeasibleSample as err:
            reason = str(err)
            trial.set_user_attr("infeasible", True)
            trial.set_user_attr(OUTCOME, INFEASIBLE)
            trial.set_user_attr(REASON, reason)
            study.tell(trial, state=TrialState.FAIL)
            record = TrialRecord(trial.number, INFEASIBLE, params=dict(trial.params), reason=reason)
            self.tracker.log_trial_finished(record)
            return False
        except StudyConfigError:
            study.tell(trial, state=TrialState.FAIL)
            raise
        finally:
            study.sampler = sampler
        spec = proposal.spec
        for key, value in (
            ("stack", spec.format()),
            ("pattern", spec.pattern()),
            ("spec", spec.to_dict()),
        ):
            trial.set_user_attr(key, value)
        record = TrialRecord(
            trial.number,
            "running",
            params=proposal.params,
            stack=spec.format(),
            pattern=spec.pattern(),
        )
        request = TrialRequest(
            number=trial.number,
            spec=spec.to_dict(),
            task={"name": plan.task_name, **plan.task_settings},
            train={k: getattr(plan.train, k) for k in plan.train.__dataclass_fields__},
        )
        key = _request_key(request)
        trial.set_user_attr("request_key", key)
        self.pending[trial.number] = (trial, record, spec)
        self.tracker.log_trial_started(record)
        earlier = self._trained_before(key)
        if earlier is not None:
            # The same architecture, task and training settings were trained already, and
            # training is deterministic: reuse that result rather than train it again.
            trial.set_user_attr("duplicate_of", earlier.number)
            result = {k: earlier.user_attrs[k] for k in KEPT if k in earlier.user_attrs}
            self._finish(trial.number, result)
            return True
        self.executor.submit(request)
        return True

    def _trained_before(self, key: str) -> Any:
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("request_key") == key:
                return t
        return None

    def _finish(self, number: int, result: dict[str, Any]) -> TrialRecord:

        trial, record, spec = self.pending.pop(number)
        record = self._told(trial, record, spec, result)
        self.summary.complete += record.outcome == COMPLETE
        self.summary.failed += record.outcome == FAILED and not trial.user_attrs.get(RETRIED)
        return record

    def _told(self, trial: Any, record: TrialRecord, spec: Any, result: dict) -> TrialRecord:
        from optuna.trial import TrialState

        record.result = result
        for key in KEPT:
            if result.get(key) is not None:
                trial.set_user_attr(key, result[key])
        values = None
        if result.get("status") == "ok":
            values = [o.value(result, spec) for o in self.plan.objectives]
            if any(v is None for v in values):
                missing = [
                    o.label for o, v in zip(self.plan.objectives, values, strict=True) if v is None
                ]
                result = {**result, "failure_reason": f"no finite value for {missing}"}
                values = None
        if values is None:
            record.outcome, record.reason = FAILED, result.get("failure_reason") or "failed"
            trial.set_user_attr(OUTCOME, FAILED)
            trial.set_user_attr(REASON, record.reason)
            if result.get("fault"):
                record.fault = result["fault"]
                trial.set_user_attr("fault", result["fault"])
                attempt = int(trial.user_attrs.get("attempt", 1))
                if attempt <= self.plan.executor.retries:
                    # Run the same architecture again as a new trial (asked next); this one
                    # stays recorded as failed and no longer counts against the budget.
                    trial.set_user_attr(RETRIED, True)
                    self.study.enqueue_trial(
                        dict(trial.params),
                        user_attrs={"retry_of": trial.number, "attempt": attempt + 1},
                    )
                    record.retried = True
                    self.summary.retried += 1
            self.study.tell(trial, state=TrialState.FAIL)
            record.hypervolume = self.study.user_attrs.get("hypervolume")
            self.tracker.log_trial_finished(record)
            return record
        record.outcome = COMPLETE
        record.values = dict(zip(self.plan.labels, values, strict=True))
        previous = [
            t.values for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        ]
        hv = study_hypervolume([*previous, values], self.plan.directions, self.refs)
        record.hypervolume = hv
        trial.set_user_attr(OUTCOME, COMPLETE)
        trial.set_user_attr("hypervolume", hv)
        self.study.tell(trial, values)
        self.study.set_user_attr("hypervolume", hv)
        self.tracker.log_trial_finished(record)
        self.tracker.update_front(study_front(self.study, self.plan.labels), hv)
        return record

    def _recover_tracking(self, study: Any) -> None:
        """Send every finished trial to the trackers, which record those they missed: a driver
        killed between Optuna's tell and the tracker's log, trials interrupted by a crash (also
        one killed before its tracker heard of it), trials run before tracking was on."""
        from optuna.trial import TrialState

        recovered = False
        for trial in study.get_trials(deepcopy=False):
            attrs, outcome = trial.user_attrs, trial.user_attrs.get(OUTCOME)
            if outcome is None or trial.state in (TrialState.RUNNING, TrialState.WAITING):
                continue
            complete = trial.state == TrialState.COMPLETE
            values = dict(zip(self.plan.labels, trial.values, strict=True)) if complete else {}
            self.tracker.recover_trial(
                TrialRecord(
                    trial.number,
                    outcome,
                    values=values,
                    params=dict(trial.params),
                    stack=attrs.get("stack", ""),
                    pattern=attrs.get("pattern", ""),
                    reason=attrs.get(REASON),
                    result={k: attrs[k] for k in KEPT if k in attrs} or None,
                    hypervolume=attrs.get("hypervolume"),
                    fault=attrs.get("fault"),
                    retried=bool(attrs.get(RETRIED)),
                )
            )
            recovered = recovered or complete
        if recovered:
            self.tracker.update_front(
                study_front(study, self.plan.labels), study.user_attrs.get("hypervolume")
            )

    def _abandon_pending(self) -> None:
        """Trials still in flight when the driver stops (Ctrl-C, an error): interrupted."""
        if self.pending:
            recover_interrupted(self.study)
            self.pending.clear()

    def _count_trained(self) -> int:
        return sum(
            t.user_attrs.get(OUTCOME) in (COMPLETE, FAILED) and not t.user_attrs.get(RETRIED)
            for t in self.study.get_trials(deepcopy=False)
        )

    def _has_complete(self) -> bool:
        from optuna.trial import TrialState

        return bool(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _request_key(request: TrialRequest) -> str:
    """A digest of what determines a trial's result: spec, task and training settings."""
    payload = {"spec": request.spec, "task": request.task, "train": request.train}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]

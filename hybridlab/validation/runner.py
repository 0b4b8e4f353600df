"""Validation at a higher fidelity: does the proxy's ranking hold when the models train longer,
grow wider, or see longer sequences?

    plan = load_plan("studies/quickstart.yaml")
    fidelity = resolve_fidelity("studies/quickstart.yaml", [], ["train.steps=4x"], plan)
    report = validate_study(plan, fidelity, ValidateOptions(top=4, sample=4, seeds=2))
    report["rank_correlation"]["accuracy"]["kendall_tau"]

What runs (`hybridlab.validation.selection` says which trials; `hybridlab.validation.fidelity`
what the fidelity is): every selected trial is trained

- at the proxy under `seeds` seeds in all: the trial itself (seed `train.seed`) and
  `train.seed + 1 … + seeds − 1`. These are seed runs at the study's own settings, kept in the
  study's user attribute `seeds` beside the front's (`hybridlab.study.seed_runs`, same format), so
  `budget.front_seeds` and a validation reuse each other's runs;
- at the fidelity under seeds `s … s + seeds − 1` (`s`: `train.seed` at the fidelity), kept in
  the study's user attribute `validation/<fingerprint>`:
  `{"fidelity": {key: value as given}, "settings": {"task", "train", "model"}, "runs":
  {"<trial number>": [{"seed": s, "values": {label: value} | null, "failure_reason": ...}]}}`.

The runs go through the study's executor (Ray by default), as many at once as it takes, with
request numbers from `VALIDATION_NUMBERS` down (trials use 0 up, the front's seed runs -1 down).
Each run is recorded as it ends, so an interrupted validation keeps what finished and the next
invocation trains only what is missing (more seeds, a larger top or sample add runs; nothing
is trained twice). A failed run is a result and is not trained again. The study lock is held
throughout: a study does not run while it is validated.

The report (`validate_study`'s return, `hybridlab study validate --json`), per measured objective
on the mean over seeds at each fidelity (`hybridlab.validation.ranking`): Kendall's τ and Spearman's
ρ over the selected trials measured at both, with bootstrap 95% intervals; the seed noise at each
fidelity (the mean over trials of the standard deviation over seeds). Front retention: the share
of the proxy-front trials among those selected that no selected trial dominates at scale, with
measured objectives at their scaled means and exact costs computed for the scaled architecture
(at the fidelity's context where an objective's context follows the task's length); trials
with no scaled value in some measured objective are left out of it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hybridlab.config import StudyConfigError
from hybridlab.execution import Executor, TrialRequest, make_executor
from hybridlab.execution.batch import run_batch
from hybridlab.execution.environment import drop_mlflow_run_vars
from hybridlab.results import Status
from hybridlab.spec import ModelSpec
from hybridlab.study import StudyPlan
from hybridlab.study.attrs import StudyAttr, TrialAttr
from hybridlab.study.requests import measured_values, trial_request
from hybridlab.study.seed_runs import SEEDS_ATTR
from hybridlab.study.storage import make_storage, open_study, stored_refs, study_lock
from hybridlab.train.config import MAX_SEED
from hybridlab.validation.backends import make_validation_tracker
from hybridlab.validation.fidelity import Fidelity
from hybridlab.validation.options import ValidateOptions
from hybridlab.validation.records import PROXY, SCALED, Retraining, ValidationStart
from hybridlab.validation.report import Selected, build_report
from hybridlab.validation.selection import Selection, select_trials
from hybridlab.validation.trackers import ValidationTracker, ValidationTrackers

# The request number of a validation's first run; the next ones count down from it.
VALIDATION_NUMBERS = -1_000_000


def validation_attr(fingerprint: str) -> str:
    """The study user attribute of the validation at a fidelity."""
    return f"{StudyAttr.VALIDATION}/{fingerprint}"


def validate_study(
    plan: StudyPlan,
    fidelity: Fidelity,
    options: ValidateOptions,
    *,
    trackers: list[ValidationTracker] | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Validate the study of `plan` at `fidelity`; see the module docstring. Returns the report.

    The study's tracker (`tracking:`) and `trackers` hear of every run; `executor` replaces the
    study's (`executor:`).

    Raises:
        StudyConfigError: no study, a study created with other measuring settings than
            `plan`'s (`hybridlab.study.fingerprint`), a study
            that measures nothing, or one locked by a run.
    """
    options.validate()
    drop_mlflow_run_vars()
    storage = make_storage(plan, create=False)
    study = open_study(plan, create=False, storage=storage)
    if not plan.measured_labels:
        raise StudyConfigError(
            "the study measures no objective (every one is an exact cost): nothing to validate",
            where=plan.source,
            key="objectives",
        )
    for base in (plan.train.seed, fidelity.plan.train.seed):
        if base + options.seeds - 1 > MAX_SEED:
            raise StudyConfigError(
                f"{options.seeds} seeds from {base} pass the largest seed ({MAX_SEED})",
                key="train.seed",
            )
    tracker = ValidationTrackers([make_validation_tracker(plan.tracking), *(trackers or [])])
    with contextlib.ExitStack() as stack:
        executor = executor or make_executor(plan.executor, None, plan.folder)
        stack.callback(executor.shutdown)
        stack.enter_context(study_lock(plan))
        return _Validation(plan, fidelity, options, study, tracker, executor).run()


class _Validation:
    """One invocation: choose the trials, train what is missing, build the report."""

    def __init__(
        self,
        plan: StudyPlan,
        fidelity: Fidelity,
        options: ValidateOptions,
        study: Any,
        tracker: ValidationTracker,
        executor: Executor,
    ) -> None:
        self.plan, self.fidelity, self.options = plan, fidelity, options
        self.study, self.tracker, self.executor = study, tracker, executor
        self.attr = validation_attr(fidelity.fingerprint)
        self.seed_runs: dict[str, list[dict[str, Any]]] = dict(study.user_attrs.get(SEEDS_ATTR, {}))
        stored = study.user_attrs.get(self.attr, {})
        self.scaled_runs: dict[str, list[dict[str, Any]]] = dict(stored.get("runs", {}))
        self.proxy_seeds = [plan.train.seed + i for i in range(1, options.seeds)]
        base = fidelity.plan.train.seed
        self.scaled_seeds = [base + i for i in range(options.seeds)]
        # The selected trials by number, and request number → the run it trains.
        self.trials: dict[int, Selected] = {}
        self.running: dict[int, Retraining] = {}

    def run(self) -> dict[str, Any]:
        selected = self._select()
        self.trials = {trial.number: trial for trial in selected}
        todo = [run for trial in selected for run in self._missing(trial)]
        # Seed by seed, the scaled run first: a validation stopped early has whole seeds.
        order = {number: index for index, number in enumerate(self.trials)}
        todo.sort(key=lambda run: (self._seed_index(run), run.fidelity == PROXY, order[run.number]))
        self.tracker.start(self._info(selected, len(todo)))
        for trial in selected:
            for run in self._recorded(trial):
                self.tracker.recover_run(run)
        summary = None
        try:
            with self.executor.listening(self._on_metrics):
                self._train(todo)
            runs = {
                (trial.number, side): self._runs(trial, side)
                for trial in selected
                for side in (PROXY, SCALED)
            }
            summary = build_report(
                self.plan, self.fidelity, self.options, selected, runs, trained=len(todo)
            )
        finally:
            self.tracker.end(summary, interrupted=summary is None)
        return summary.report

    # -- choosing ---------------------------------------------------------------------------

    def _select(self) -> list[Selected]:
        """The selected trials, front first, each with its architecture at the fidelity."""
        from optuna.trial import TrialState

        plan = self.plan
        candidates = {
            t.number: t
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get(TrialAttr.DUPLICATE_OF) is None and TrialAttr.SPEC in t.user_attrs
        }
        if not candidates:
            raise StudyConfigError(
                "the study has no complete trial yet: run it first", where=plan.source
            )
        selection: Selection = select_trials(
            {n: t.values for n, t in candidates.items()},
            plan.directions,
            stored_refs(self.study, plan),
            top=self.options.top,
            sample=self.options.sample,
            seed=self.options.seed,
        )
        selected = []
        for number in selection.numbers:
            trial = candidates[number]
            spec: dict[str, Any] = trial.user_attrs[TrialAttr.SPEC]
            scaled: ModelSpec | None = None
            error = None
            try:
                scaled = self.fidelity.scale_spec(spec)
            except ValueError as err:
                error = str(err)
            selected.append(
                Selected(
                    number=number,
                    rank=selection.ranks[number],
                    stack=str(trial.user_attrs.get(TrialAttr.STACK, spec.get("stack", ""))),
                    spec=spec,
                    values=dict(zip(plan.labels, trial.values, strict=True)),
                    scaled_spec=scaled,
                    error=error,
                )
            )
        return selected

    def _missing(self, trial: Selected) -> list[Retraining]:
        """The runs of `trial` not recorded yet."""
        done = {int(r["seed"]) for r in self.seed_runs.get(str(trial.number), [])}
        runs = [
            self._retraining(trial, PROXY, seed) for seed in self.proxy_seeds if seed not in done
        ]
        if trial.scaled_spec is not None:
            done = {int(r["seed"]) for r in self.scaled_runs.get(str(trial.number), [])}
            runs += [
                self._retraining(trial, SCALED, seed)
                for seed in self.scaled_seeds
                if seed not in done
            ]
        return runs

    def _recorded(self, trial: Selected) -> list[Retraining]:
        """The runs of `trial` the study has recorded, at the seeds of this validation."""
        runs = []
        for fidelity, seeds, book in (
            (PROXY, self.proxy_seeds, self.seed_runs),
            (SCALED, self.scaled_seeds, self.scaled_runs),
        ):
            for record in book.get(str(trial.number), []):
                if int(record["seed"]) in seeds:
                    run = self._retraining(trial, fidelity, int(record["seed"]))
                    run.values, run.reason = record.get("values"), record.get("failure_reason")
                    runs.append(run)
        return runs

    def _runs(self, trial: Selected, fidelity: str) -> list[dict[str, Any]]:
        """The recorded runs of `trial` at `fidelity`, at this validation's seeds."""
        book, seeds = (
            (self.seed_runs, self.proxy_seeds)
            if fidelity == PROXY
            else (self.scaled_runs, self.scaled_seeds)
        )
        return [r for r in book.get(str(trial.number), []) if int(r["seed"]) in seeds]

    def _seed_index(self, run: Retraining) -> int:
        """Which of the validation's seeds `run` trains (0: the first at its fidelity; the
        proxy's first is the trial itself)."""
        base = self.plan.train.seed if run.fidelity == PROXY else self.fidelity.plan.train.seed
        return run.seed - base

    def _retraining(self, trial: Selected, fidelity: str, seed: int) -> Retraining:
        return Retraining(
            key=f"{trial.number}/{fidelity}/{seed}",
            number=trial.number,
            fidelity=fidelity,
            seed=seed,
            stack=trial.stack,
            d_model=int(trial.spec_at(fidelity)["d_model"]),
        )

    # -- training ---------------------------------------------------------------------------

    def _train(self, todo: list[Retraining]) -> None:
        """Train `todo` through the executor, recording each run as it ends."""
        requests = []
        for index, run in enumerate(todo):
            number = VALIDATION_NUMBERS - index
            self.running[number] = run
            requests.append(self._request(number, run))

        def started(request: TrialRequest) -> None:
            self.tracker.run_started(self.running[request.number])

        def done(request: TrialRequest, result: dict[str, Any]) -> None:
            run = self.running.pop(request.number)
            self._record(run, result)
            self.tracker.run_finished(run)

        run_batch(self.executor, requests, done, on_start=started)

    def _request(self, number: int, run: Retraining) -> TrialRequest:
        """What the executor trains for `run`: as the study's seed runs are (no rungs)."""
        plan = self.plan if run.fidelity == PROXY else self.fidelity.plan
        return trial_request(plan, number, self.trials[run.number].spec_at(run.fidelity), run.seed)

    def _record(self, run: Retraining, result: dict[str, Any]) -> None:
        """Keep a run's measured values (or why it failed) in the study."""
        values = measured_values(self.plan, result)
        record: dict[str, Any] = {"seed": run.seed, "values": values}
        if values is None:
            reason = str(result.get("failure_reason") or result.get("status") or Status.FAILED)
            record["failure_reason"] = run.reason = reason
        run.values = values
        if run.fidelity == PROXY:
            self.seed_runs.setdefault(str(run.number), []).append(record)
            self.study.set_user_attr(SEEDS_ATTR, self.seed_runs)
        else:
            self.scaled_runs.setdefault(str(run.number), []).append(record)
            stored = {
                "fidelity": self.fidelity.as_given(),
                "settings": self.fidelity.settings(),
                "runs": self.scaled_runs,
            }
            self.study.set_user_attr(self.attr, stored)

    def _on_metrics(self, number: int, step: int, metrics: dict[str, float]) -> bool:
        run = self.running.get(number)
        if run is not None:
            self.tracker.log_metrics(run.key, step, metrics)
        return False

    def _info(self, selected: list[Selected], todo: int) -> ValidationStart:
        fidelity, options = self.fidelity, self.options
        return ValidationStart(
            name=self.plan.name,
            folder=str(self.plan.folder),
            fingerprint=fidelity.fingerprint,
            fidelity=fidelity.as_given(),
            settings=fidelity.settings(),
            labels=self.plan.measured_labels,
            options={
                "top": options.top,
                "sample": options.sample,
                "seeds": options.seeds,
                "seed": options.seed,
            },
            trials=len(selected),
            front=sum(trial.on_front for trial in selected),
            todo=todo,
        )

"""Where a study persists, and crash recovery.

By default the Optuna study lives in `<study folder>/study.journal` (Optuna's JournalStorage
over a JournalFileBackend: an append-only operation log that is safe with several writers,
unlike SQLite); `storage:` may name any Optuna RDB URL instead. One driver runs a study at a
time: `study_lock` holds an exclusive `flock` on `<folder>/.lock` for the run (released by the
kernel even on SIGKILL).

Recovery (`recover_interrupted`): Optuna's heartbeat does not work with ask/tell, so trials left
RUNNING by a crash or a kill stay RUNNING forever. On every start the runner marks each of them
FAIL with user attrs `outcome="interrupted"`, `failure_reason="interrupted"`, and enqueues its
params again (`study.enqueue_trial`, with `retry_of` = the old number), so the next trial asked
reruns it. Finished trials are never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import warnings
from collections.abc import Iterator
from typing import Any

from hybridlab.search.config import StudyPlan, plan_summary
from hybridlab.search.errors import StudyConfigError
from hybridlab.search.tracker import INTERRUPTED

OUTCOME, REASON = "outcome", "failure_reason"


def make_storage(plan: StudyPlan, *, create: bool) -> Any:
    """The Optuna storage of `plan`; with `create=False` a missing journal is an error."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if plan.storage is not None:
        if plan.storage.startswith("sqlite:///") and not create:
            path = plan.storage.removeprefix("sqlite:///")
            if not os.path.exists(path):
                raise StudyConfigError(f"no study database at {path!r}", where=plan.source)
        return optuna.storages.RDBStorage(plan.storage)
    if not plan.journal_path.exists():
        if not create:
            raise StudyConfigError(
                f"no study at {str(plan.journal_path)!r}; run `hybridlab study run "
                f"{plan.source}` first",
                where=plan.source,
            )
        plan.folder.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(plan.journal_path)))


def open_study(plan: StudyPlan, sampler: Any = None, *, create: bool) -> Any:
    """Create or load the Optuna study of `plan`; check its objectives match the file's."""
    import optuna

    storage = make_storage(plan, create=create)
    names = optuna.get_all_study_names(storage)
    if plan.name not in names:
        if not create:
            raise StudyConfigError(
                f"no study named {plan.name!r} in the storage", where=plan.source
            )
        study = optuna.create_study(
            study_name=plan.name, storage=storage, directions=plan.directions, sampler=sampler
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(plan.labels)
        study.set_user_attr("hybridlab", plan_summary(plan))
        study.set_user_attr("hv_reference", plan.refs)
        return study
    study = optuna.load_study(study_name=plan.name, storage=storage, sampler=sampler)
    stored = [d.name.lower() for d in study.directions]
    if study.metric_names != plan.labels or stored != plan.directions:
        raise StudyConfigError(
            f"study {plan.name!r} in {storage_label(plan)} has objectives "
            f"{list(zip(study.metric_names or [], stored, strict=False))}, the file asks for "
            f"{list(zip(plan.labels, plan.directions, strict=True))}; change `name` or `output` "
            f"to start a new study",
            where=plan.source,
            key="objectives",
        )
    return study


def stored_refs(study: Any, plan: StudyPlan) -> list[float]:
    """The hypervolume reference fixed when the study was created (else the plan's)."""
    refs = study.user_attrs.get("hv_reference")
    return [float(r) for r in refs] if refs and len(refs) == len(plan.objectives) else plan.refs


def storage_label(plan: StudyPlan) -> str:
    return plan.storage if plan.storage is not None else str(plan.journal_path)


def recover_interrupted(study: Any) -> list[int]:
    """Mark RUNNING trials failed ("interrupted") and enqueue their params; return their numbers."""
    from optuna.trial import TrialState

    storage = study._storage
    numbers = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(trial._trial_id, OUTCOME, INTERRUPTED)
        storage.set_trial_user_attr(trial._trial_id, REASON, "interrupted")
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
        numbers.append(trial.number)
    return numbers


@contextlib.contextmanager
def study_lock(plan: StudyPlan) -> Iterator[None]:
    """Hold `<folder>/.lock` exclusively; raise `StudyConfigError` if another run holds it."""
    plan.folder.mkdir(parents=True, exist_ok=True)
    path = plan.folder / ".lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            raise StudyConfigError(
                f"another `hybridlab study run` (pid {pid}) is running this study",
                where=str(plan.folder),
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""Where a study persists, one driver at a time, and crash recovery.

By default the Optuna study lives in `<study folder>/study.journal` (Optuna's JournalStorage
over a JournalFileBackend: an append-only operation log that is safe with several writers,
unlike SQLite); `storage:` may name any Optuna RDB URL instead. One driver runs a study at a
time: `study_lock` holds `<folder>/.lock` (filelock's OS lock, released by the kernel even on
SIGKILL) and writes the holder's pid in it for the message a second driver gets.

Recovery (`recover_interrupted`): Optuna's heartbeat does not work with ask/tell, so trials left
RUNNING by a crash or a kill stay RUNNING forever. On every start the driver marks each of them
FAIL with user attrs `outcome="interrupted"`, `failure_reason="interrupted"`, and enqueues its
params again (`study.enqueue_trial`, with `retry_of` = the old number), so the next trial asked
reruns it. Finished trials are never touched. Only Optuna's public API is used here: a finished
trial's attributes are written through the storage (`BaseStorage.set_trial_user_attr`), which
`open_study` keeps beside the study.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, cast

from filelock import FileLock, Timeout

from hybridlab.config import StudyConfigError, first_line
from hybridlab.study.attrs import StudyAttr, TrialAttr
from hybridlab.study.interrupts import whole_write
from hybridlab.tracking import Outcome

if TYPE_CHECKING:
    from hybridlab.study.config import StudyPlan


def make_storage(plan: StudyPlan, *, create: bool) -> Any:
    """The Optuna storage of `plan`; with `create=False` a missing journal is an error."""
    import optuna

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
    try:
        # Optuna replays the whole journal here.
        return _journal_storage(str(plan.journal_path))
    except (ValueError, KeyError, TypeError) as err:
        raise StudyConfigError(
            f"the study journal {str(plan.journal_path)!r} cannot be read ({first_line(err)}): "
            f"it was changed by something other than Optuna; restore it, or start a new study "
            f"with another `name` or `output`",
            where=plan.source,
        ) from None


def _journal_storage(path: str) -> Any:
    """Optuna's journal storage on the file at `path`, every storage operation whole: an
    interrupt waits for it to end (`hybridlab.study.interrupts`). An operation writes the log
    and replays it into memory; cut in the middle, the file lock was left half released or a
    log entry was skipped in memory ("Record does not exist" later)."""
    import functools

    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    def whole(method: Any) -> Any:
        @functools.wraps(method)
        def run(*args: Any, **kwargs: Any) -> Any:
            with whole_write():
                return method(*args, **kwargs)

        return run

    methods = {
        name: whole(method)
        for name, method in vars(JournalStorage).items()
        if callable(method) and not name.startswith("_")
    }
    methods["__init__"] = whole(JournalStorage.__init__)  # it replays the whole journal
    return type("WholeJournalStorage", (JournalStorage,), methods)(JournalFileBackend(path))


def open_study(plan: StudyPlan, *, create: bool, storage: Any = None) -> Any:
    """Create or load the Optuna study of `plan` (in `storage`, default `make_storage(plan)`);
    check that its objectives match the file's."""
    import optuna

    storage = storage if storage is not None else make_storage(plan, create=create)
    names = optuna.get_all_study_names(storage)
    if plan.name not in names:
        if not create:
            raise StudyConfigError(
                f"no study named {plan.name!r} in the storage", where=plan.source
            )
        study = optuna.create_study(
            study_name=plan.name,
            storage=storage,
            # Objectives only take these two directions (checked when the plan is loaded).
            directions=cast(list[Literal["minimize", "maximize"]], plan.directions),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(plan.labels)
        study.set_user_attr(StudyAttr.SETTINGS, plan.summary())
        study.set_user_attr(StudyAttr.HV_REFERENCE, plan.refs)
        return study
    study = optuna.load_study(study_name=plan.name, storage=storage)
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
    refs = study.user_attrs.get(StudyAttr.HV_REFERENCE)
    return [float(r) for r in refs] if refs and len(refs) == len(plan.objectives) else plan.refs


def storage_label(plan: StudyPlan) -> str:
    return plan.storage if plan.storage is not None else str(plan.journal_path)


def recover_interrupted(study: Any, storage: Any) -> list[int]:
    """Mark RUNNING trials failed ("interrupted") and enqueue their params; return their numbers.

    `storage` is the study's storage (`make_storage`), whose public API writes the attributes.
    """
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    numbers = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, TrialAttr.OUTCOME, Outcome.INTERRUPTED)
        storage.set_trial_user_attr(trial_id, TrialAttr.REASON, "interrupted")
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(dict(trial.params), user_attrs={TrialAttr.RETRY_OF: trial.number})
        numbers.append(trial.number)
    return numbers


@contextlib.contextmanager
def study_lock(plan: StudyPlan) -> Iterator[None]:
    """Hold `<folder>/.lock`; raise `StudyConfigError` if another run holds it."""
    plan.folder.mkdir(parents=True, exist_ok=True)
    path = plan.folder / ".lock"
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        pid = path.read_text().strip() or "?"
        raise StudyConfigError(
            f"another `hybridlab study run` (pid {pid}) is running this study",
            where=str(plan.folder),
        ) from None
    try:
        path.write_text(str(os.getpid()))
        yield
    finally:
        lock.release()

"""Where a study persists, one driver at a time, and crash recovery.

By default the Optuna study lives in `<study folder>/study.journal` (Optuna's JournalStorage
over a JournalFileBackend: an append-only operation log that is safe with several writers,
unlike SQLite); `storage:` may name any Optuna RDB URL instead. One driver runs a study at a
time: `study_lock` holds `<folder>/.lock` (filelock's OS lock, released by the kernel even on
SIGKILL) and writes the holder's pid in it for the message a second driver gets.

A journal is checked before Optuna replays it (`make_storage`), since Optuna's reader skips a
torn last line and its next write lands right behind it, making a corrupt line in the middle
that no reader gets past:

- **A torn tail** (what a crash mid-write or a full disk leaves: a last line without its
  newline, or one that is no JSON) is set aside (`set_aside_torn_tail`): the whole
  journal is copied beside it (`study.journal.torn-<time>`), the journal is cut after its last
  complete record, and a `TornJournalWarning` names the copy; the study goes on with every
  record before the tail. The cut is made holding the study lock, so a running driver's write
  in flight is never cut; Optuna's own journal lock, left by a writer killed mid-write, is
  removed then too (else the next write waits 30 s for it).
- **A corrupt record before the tail** (no JSON object, an `op_code` Optuna does not know, a
  record its replay cannot apply) is a `StudyConfigError` naming the file and the line, raised
  before anything is written.

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
import json
import os
import shutil
import time
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from filelock import FileLock, Timeout

from hybridlab.config import StudyConfigError, first_line
from hybridlab.study.attrs import StudyAttr, TrialAttr
from hybridlab.study.fingerprint import check_same_settings, record_settings
from hybridlab.study.interrupts import whole_write
from hybridlab.tracking import Outcome

if TYPE_CHECKING:
    from hybridlab.study.config import StudyPlan

# The journal's end is read backwards in blocks of this many bytes to find its last line.
_TAIL_BLOCK = 1 << 16


class TornJournalWarning(UserWarning):
    """A study journal's torn last record was set aside; the message names the copy kept."""


class UnreadableRecordError(Exception):
    """A journal record that cannot be read or replayed: its 1-based `line` and the `problem`."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line} {problem}")
        self.line = line
        self.problem = problem


def make_storage(plan: StudyPlan, *, create: bool) -> Any:
    """The Optuna storage of `plan`; with `create=False` a missing journal is an error.

    A journal's torn tail is set aside first; a corrupt record is a `StudyConfigError` naming
    its line (see the module docstring).
    """
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
    else:
        set_aside_torn_tail(plan)
    try:
        # Optuna replays the whole journal here.
        return _journal_storage(str(plan.journal_path))
    except UnreadableRecordError as err:
        raise StudyConfigError(
            f"the study journal {str(plan.journal_path)!r} cannot be read: line {err.line} "
            f"{err.problem}. It was changed by something other than Optuna: restore it from a "
            f"copy, or start a new study with another `name` or `output`",
            where=plan.source,
        ) from None


def set_aside_torn_tail(plan: StudyPlan) -> Path | None:
    """Cut a torn last record off the existing journal of `plan`, first copying the whole
    journal beside it; return the copy's path, or None when the journal ends with a whole record
    (or another process holds the study lock: a running driver's write may be in flight, and
    Optuna's reader skips an unfinished last line).

    Warns (`TornJournalWarning`) naming the copy and the bytes cut.
    """
    path = plan.journal_path
    if _torn_tail_start(path) is None:
        return None
    with _study_lock_if_free(plan) as free:
        # Looked at again under the lock: a write that was in flight may have ended.
        start = _torn_tail_start(path) if free else None
        if start is None:
            return None
        cut = path.stat().st_size - start
        stamp = time.strftime("%Y%m%dT%H%M%S")
        backup = path.with_name(f"{path.name}.torn-{stamp}")
        copies = 1
        while backup.exists():
            copies += 1
            backup = path.with_name(f"{path.name}.torn-{stamp}-{copies}")
        shutil.copy2(path, backup)
        with open(path, "r+b") as f:
            f.truncate(start)
            os.fsync(f.fileno())
        # Optuna's journal lock (a symlink) left by a writer killed mid-write: none runs now.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}.lock")
    warnings.warn(
        f"the study journal {str(path)!r} ended with a torn record (a crash or a full disk "
        f"mid-write): its last {cut} bytes were cut off and the study goes on with every record "
        f"before them; the whole journal is kept in {str(backup)!r}",
        TornJournalWarning,
        stacklevel=2,
    )
    return backup


def _torn_tail_start(path: Path) -> int | None:
    """The offset where the journal's last line starts when that line is torn (no newline at
    its end, or no JSON); None when it is whole or the journal is empty."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        tail = b""
        # Grow `tail` backwards until it holds the newline ending the line before the last.
        while (cut := tail.rfind(b"\n", 0, len(tail) - 1)) < 0 and len(tail) < end:
            block = min(_TAIL_BLOCK, end - len(tail))
            f.seek(end - len(tail) - block)
            tail = f.read(block) + tail
    line = tail[cut + 1 :]
    if not line:
        return None
    start = end - len(line)
    if not line.endswith(b"\n"):
        return start
    try:
        json.loads(line)
    except ValueError:
        return start
    return None


@contextlib.contextmanager
def _study_lock_if_free(plan: StudyPlan) -> Iterator[bool]:
    """Yield True holding the study lock for the block (this process may hold it already), or
    False when another process holds it."""
    with contextlib.ExitStack() as stack:
        if plan.folder.resolve() not in _held:
            try:
                stack.enter_context(study_lock(plan))
            except StudyConfigError:
                yield False
                return
        yield True


def _journal_storage(path: str) -> Any:
    """Optuna's journal storage on the file at `path`, every storage operation whole: an
    interrupt waits for it to end (`hybridlab.study.interrupts`). An operation writes the log
    and replays it into memory; cut in the middle, the file lock was left half released or a
    log entry was skipped in memory ("Record does not exist" later).

    Raises `UnreadableRecordError` for the first record that cannot be read or replayed.
    """
    import functools

    from optuna.storages import JournalStorage

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
    backend = _numbered_backend(path)
    try:
        return type("WholeJournalStorage", (JournalStorage,), methods)(backend)
    except UnreadableRecordError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, AssertionError) as err:
        # The replay's own errors, for a record it cannot apply (a trial that does not exist).
        problem = f"cannot be replayed ({type(err).__name__}: {first_line(err)})"
        raise UnreadableRecordError(backend.records_read, problem) from None


def _numbered_backend(path: str) -> Any:
    """Optuna's journal file backend, counting the records it hands to the replay and refusing,
    by its line, one that is no JSON object with an `op_code` Optuna replays (Optuna raises a
    bare JSONDecodeError for the first, `AssertionError: Should not reach.` for the second)."""
    from optuna.storages.journal import JournalFileBackend

    # The operations the installed Optuna replays: its own enum, which it does not export.
    from optuna.storages.journal._storage import JournalOperation

    operations = sorted(int(op) for op in JournalOperation)

    class NumberedJournalFileBackend(JournalFileBackend):
        records_read = 0

        def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
            self.records_read = log_number_from
            logs = super().read_logs(log_number_from)
            while True:
                line = self.records_read + 1
                try:
                    log = next(logs)
                except StopIteration:
                    return
                except json.JSONDecodeError as err:
                    problem = f"is no JSON record ({err.msg} at column {err.colno})"
                    raise UnreadableRecordError(line, problem) from None
                except ValueError as err:  # Optuna's "Invalid log format.": no newline at its end
                    raise UnreadableRecordError(line, f"is no JSON record ({err})") from None
                op = log.get("op_code") if isinstance(log, dict) else None
                if isinstance(op, bool) or op not in operations:
                    raise UnreadableRecordError(
                        line, f"has no op_code Optuna knows (got {op!r}; valid: {operations})"
                    )
                self.records_read = line
                yield log

    return NumberedJournalFileBackend(path)


def open_study(plan: StudyPlan, *, create: bool, storage: Any = None) -> Any:
    """Create or load the Optuna study of `plan` (in `storage`, default `make_storage(plan)`);
    check that its objectives and measuring settings match the file's (`study.fingerprint`)."""
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
        record_settings(study, plan)
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
    check_same_settings(study, plan)
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


# The study folders whose lock this process holds (`study_lock`).
_held: set[Path] = set()


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
    folder = plan.folder.resolve()
    _held.add(folder)
    try:
        path.write_text(str(os.getpid()))
        yield
    finally:
        _held.discard(folder)
        lock.release()

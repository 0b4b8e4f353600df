"""A study journal damaged by a crash or by hand: a torn last record is set aside and the study
goes on with every record before it; a corrupt record before the tail is an error naming the
file and the line, and nothing is written. Through the API (`make_storage`, `open_study`) on a
journal written by Optuna in a fraction of a second, and through `hybridlab study run|pareto`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import optuna
import pytest
from filelock import FileLock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.execution import worker as worker_module
from hybridlab.study import StudyConfigError, load_plan
from hybridlab.study.storage import TornJournalWarning, make_storage, open_study
from hybridlab.train import TrainResult

optuna.logging.set_verbosity(optuna.logging.WARNING)
runner = CliRunner()


def _journal_of_three_trials(folder: Path) -> tuple[object, bytes]:
    """A study file and its journal holding three complete trials (Optuna only, no training)."""
    plan = load_plan(write_study(folder))
    study = open_study(plan, create=True)
    for i in range(3):
        trial = study.ask()
        trial.suggest_categorical("kind", ["ssd", "attn"])
        study.tell(trial, [0.1 * i, 1000.0 + i, 64.0])
    return plan, plan.journal_path.read_bytes()


def _whole_lines(data: bytes) -> bytes:
    """The complete lines at the start of `data` (up to its last newline)."""
    return data[: data.rfind(b"\n") + 1]


@pytest.fixture(scope="module")
def journal_bytes(tmp_path_factory):
    return _journal_of_three_trials(tmp_path_factory.mktemp("journal"))[1]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_journal_cut_anywhere_keeps_every_whole_record_and_a_copy(
    tmp_path_factory, journal_bytes, data
):
    # A crash or a full disk cuts the journal at any byte: the last line is then torn, or the
    # cut fell between two records and nothing is torn.
    cut = data.draw(st.integers(1, len(journal_bytes)), label="cut")
    plan = load_plan(write_study(tmp_path_factory.mktemp("cut")))
    plan.folder.mkdir(parents=True)
    plan.journal_path.write_bytes(journal_bytes[:cut])
    kept = _whole_lines(journal_bytes[:cut])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        storage = make_storage(plan, create=True)
    torn = [w for w in caught if issubclass(w.category, TornJournalWarning)]
    backups = sorted(plan.folder.glob("study.journal.torn-*"))
    assert plan.journal_path.read_bytes() == kept
    if kept == journal_bytes[:cut]:
        assert not torn and not backups
    else:
        (backup,) = backups
        assert backup.read_bytes() == journal_bytes[:cut]
        assert str(backup) in str(torn[0].message)
    # The study goes on: what the kept records hold is there, and new records follow them.
    # Four records create the study (it, its objectives' names, its settings, its reference).
    if kept.count(b"\n") >= 4:
        study = open_study(plan, create=True, storage=storage)
        complete = len(study.get_trials(states=(TrialState.COMPLETE,)))
        study.tell(study.ask(), [0.5, 1.0, 1.0])
        reloaded = open_study(plan, create=False)
        assert len(reloaded.get_trials(states=(TrialState.COMPLETE,))) == complete + 1


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b'{"op_code": 6, "worker_id": "w", "trial_id"', id="unfinished-record"),
        pytest.param(b'{"op_code": 6}', id="whole-record-without-newline"),
        pytest.param(b"\x00\x00\x00\x00\n", id="zeros-a-full-disk-left"),
        pytest.param(b'{"op_code": 6, "wor\n', id="record-cut-then-newline"),
    ],
)
def test_a_torn_tail_is_set_aside_and_the_study_continues(tmp_path, tail):
    plan, data = _journal_of_three_trials(tmp_path)
    plan.journal_path.write_bytes(data + tail)
    with pytest.warns(TornJournalWarning, match=r"study\.journal\.torn-"):
        study = open_study(plan, create=False)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert plan.journal_path.read_bytes() == data
    (backup,) = plan.folder.glob("study.journal.torn-*")
    assert backup.read_bytes() == data + tail


def test_a_stale_optuna_lock_left_with_a_torn_tail_is_removed(tmp_path):
    # A writer killed mid-append leaves Optuna's lock symlink; the next write would wait 30 s.
    plan, data = _journal_of_three_trials(tmp_path)
    plan.journal_path.write_bytes(data + b'{"op_code": 4')
    lock = Path(f"{plan.journal_path}.lock")
    lock.symlink_to(plan.journal_path)
    with pytest.warns(TornJournalWarning):
        make_storage(plan, create=False)
    assert not lock.is_symlink()


def test_a_torn_tail_is_left_alone_while_another_run_holds_the_study(tmp_path):
    # Another process's write may be in flight: Optuna's reader skips an unfinished last line.
    plan, data = _journal_of_three_trials(tmp_path)
    plan.journal_path.write_bytes(data + b'{"op_code": 4')
    with FileLock(plan.folder / ".lock", timeout=0), warnings.catch_warnings():
        warnings.simplefilter("error", TornJournalWarning)
        study = open_study(plan, create=False)
    assert len(study.trials) == 3
    assert plan.journal_path.read_bytes() == data + b'{"op_code": 4'


# A record that is not one Optuna wrote, and what the error says of it.
CORRUPT_RECORDS = [
    (b'{"op_code": 4, broken\n', "is no JSON record", "not-json"),
    (b'"a string"\n', "has no op_code Optuna knows", "json-string"),
    (b'{"worker_id": "w"}\n', "has no op_code Optuna knows (got None", "no-op-code"),
    (b'{"op_code": 42}\n', "has no op_code Optuna knows (got 42", "unknown-op-code"),
    (b'{"op_code": true}\n', "has no op_code Optuna knows (got True", "op-code-bool"),
    (b'{"op_code": 6, "worker_id": "w"}\n', "cannot be replayed", "fields-missing"),
]


@pytest.mark.parametrize(
    ("line", "says", "where"),
    [
        pytest.param(line, says, "middle", id=f"middle-{name}")
        for line, says, name in CORRUPT_RECORDS
    ]
    # A last line that is no JSON is a torn tail (set aside above); any other is corrupt.
    + [
        pytest.param(line, says, "last", id=f"last-{name}")
        for line, says, name in CORRUPT_RECORDS
        if says != "is no JSON record"
    ],
)
def test_a_corrupt_record_is_named_by_line_and_nothing_is_written(tmp_path, line, says, where):
    plan, data = _journal_of_three_trials(tmp_path)
    lines = data.splitlines(keepends=True)
    number = 3 if where == "middle" else len(lines) + 1
    lines.insert(number - 1, line)
    plan.journal_path.write_bytes(b"".join(lines))
    for create in (False, True):
        with pytest.raises(StudyConfigError) as caught:
            make_storage(plan, create=create)
        assert f"{plan.journal_path}' cannot be read: line {number} {says}" in str(caught.value)
    assert plan.journal_path.read_bytes() == b"".join(lines)
    assert not list(plan.folder.glob("study.journal.torn-*"))


@pytest.fixture
def instant_training(monkeypatch):
    monkeypatch.setattr(
        worker_module,
        "train_proxy",
        lambda spec, task, config, report=None: TrainResult(status="ok", accuracy=0.5, loss=1.0),
    )


def _cli(*args: str):
    return runner.invoke(app, list(args))


def test_study_run_after_a_torn_tail_keeps_every_record_and_reruns_the_torn_trial(
    tmp_path, instant_training
):
    path = write_study(tmp_path, trials=2)
    assert _cli("study", "run", str(path)).exit_code == 0
    journal = tmp_path / "out" / "study.journal"
    data = journal.read_bytes()
    # The record that completes trial 1, half written, as a crash or a full disk leaves it.
    told = data.rindex(b'{"op_code":6,"worker_id"')
    torn = data[: told + 40]
    journal.write_bytes(torn)
    with pytest.warns(TornJournalWarning):
        result = _cli("study", "run", str(write_study(tmp_path, trials=3)))
    assert result.exit_code == 0, result.output
    (backup,) = journal.parent.glob("study.journal.torn-*")
    assert backup.read_bytes() == torn
    assert journal.read_bytes().startswith(data[:told])
    storage = make_storage(load_plan(path), create=False)
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert trials[0].state == TrialState.COMPLETE
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["outcome"] == "interrupted"
    retries = [t for t in trials if t.user_attrs.get("retry_of") == 1]
    assert [t.state for t in retries] == [TrialState.COMPLETE]
    result = _cli("study", "pareto", str(path))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["run"], id="run"),
        pytest.param(["pareto"], id="pareto"),
        pytest.param(["validate", "--fidelity", "train.steps=2x"], id="validate"),
    ],
)
def test_study_commands_refuse_a_corrupt_record_by_line_and_append_nothing(
    tmp_path, instant_training, command
):
    path = write_study(tmp_path, trials=1)
    assert _cli("study", "run", str(path)).exit_code == 0
    journal = tmp_path / "out" / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines.insert(4, json.dumps({"op_code": 99, "worker_id": "w"}).encode() + b"\n")
    journal.write_bytes(b"".join(lines))
    result = _cli("study", command[0], str(write_study(tmp_path, trials=2)), *command[1:])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{journal}' cannot be read: line 5 has no op_code Optuna knows" in result.stderr
    assert journal.read_bytes() == b"".join(lines)

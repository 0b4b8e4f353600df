"""`hybridlab study run|pareto`: a run, its front as JSON and spec files, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState
from ray_helpers import descendants
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app

runner = CliRunner()
optuna.logging.set_verbosity(optuna.logging.WARNING)


def alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped); Ray's processes outlive a few seconds'
    shutdown, so this waits up to 15 s for one to go."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except OSError:
            return False
        time.sleep(0.2)
    return True


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "(gone)"


def load(folder):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(folder / "study.journal")))
    return optuna.load_study(study_name="tiny", storage=storage)


def test_run_then_pareto_json_export_and_train_the_exported_spec(tmp_path):
    path = write_study(tmp_path, trials=3, steps=2)
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.stdout and "accuracy" in result.stdout
    assert f"in {tmp_path / 'out'}" in result.stderr and "3 trained" in result.stderr

    result = runner.invoke(
        app, ["study", "pareto", str(path), "--json", "--export", str(tmp_path / "front")]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["study"] == "tiny" and data["hypervolume"] > 0
    assert [o["label"] for o in data["objectives"]] == ["accuracy", "params", "state_bytes"]
    front = data["front"]
    assert front and len(data["exported"]) == len(front)
    study = load(tmp_path / "out")
    assert sorted(p["number"] for p in front) == sorted(t.number for t in study.best_trials)
    for point in front:
        assert set(point) == {"number", "values", "params", "stack", "pattern"}
        assert set(point["values"]) == {"accuracy", "params", "state_bytes"}
    exported = sorted((tmp_path / "front").iterdir())
    assert len(exported) == len(front)
    train = [
        "train",
        "--spec",
        str(exported[0]),
        "--task",
        "mqar",
        "task.vocab_size=32",
        "task.seq_len=16",
        "task.num_kv_pairs=2",
        "task.num_train_examples=8",
        "task.num_eval_examples=4",
        "train.steps=1",
        "train.batch_size=2",
        "train.device=cpu",
        "--json",
    ]
    result = runner.invoke(app, train)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spec"] == front[0]["stack"]

    # The table form, and running again: the budget is spent, nothing is rerun.
    result = runner.invoke(app, ["study", "pareto", str(path)])
    assert result.exit_code == 0 and "Pareto front" in result.stdout
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    assert "resuming 3 trial(s)" in result.stderr
    assert len(load(tmp_path / "out").trials) == 3


def test_pareto_of_a_study_that_never_ran(tmp_path):
    path = write_study(tmp_path)
    result = runner.invoke(app, ["study", "pareto", str(path)])
    assert result.exit_code == 2
    assert "no study at" in result.stderr and "run `hybridlab study run" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_resume_after_sigkill_mid_trial(tmp_path):
    # Slow-enough trials (a second or more) so that the kill lands inside one.
    path = write_study(tmp_path, trials=3, steps=150)
    folder = tmp_path / "out"
    command = [sys.executable, "-m", "hybridlab", "study", "run", str(path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    try:
        while True:
            assert time.monotonic() < deadline, "no trial reached RUNNING after a COMPLETE one"
            assert process.poll() is None, "the study finished before it could be killed"
            if (folder / "study.journal").exists():
                trials = load(folder).get_trials(deepcopy=False)
                states = [t.state for t in trials]
                if TrialState.COMPLETE in states and states[-1] == TrialState.RUNNING:
                    break
            time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    before = load(folder).get_trials(deepcopy=False)
    finished = {t.number: t.values for t in before if t.state == TrialState.COMPLETE}
    killed = [t for t in before if t.state == TrialState.RUNNING]
    assert len(killed) == 1 and finished

    # Again, with the settings the study was created with (other ones are refused): resume,
    # finish the budget.
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    after = load(folder).get_trials(deepcopy=False)
    old = after[killed[0].number]
    assert old.state == TrialState.FAIL
    assert old.user_attrs["outcome"] == "interrupted"
    assert old.user_attrs["failure_reason"] == "interrupted"
    retry = [t for t in after if t.user_attrs.get("retry_of") == killed[0].number]
    assert len(retry) == 1 and retry[0].params == killed[0].params
    assert retry[0].state == TrialState.COMPLETE
    complete = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(complete) == 3  # the budget: trained trials, the interrupted one not counted
    assert len({t.number for t in complete}) == len(complete)  # no trial finished twice
    assert {t.number: t.values for t in complete if t.number in finished} == finished


def test_a_run_whose_every_trial_failed_exits_1_and_says_why(tmp_path, monkeypatch):
    from hybridlab.execution import worker as worker_module
    from hybridlab.train import TrainResult

    def diverging(spec, task, config, report=None):
        return TrainResult(status="failed", failure_reason="non-finite loss at step 1: nan")

    monkeypatch.setattr(worker_module, "train_proxy", diverging)
    result = runner.invoke(app, ["study", "run", str(write_study(tmp_path, trials=2))])
    assert result.exit_code == 1, result.output
    assert "every trial of this run failed: non-finite loss at step 1: nan (2×)" in result.stderr


def test_a_relative_sqlite_storage_is_read_from_the_study_files_folder(tmp_path, monkeypatch):
    path = write_study(tmp_path / "studies", trials=1, steps=1, extra="storage: sqlite:///rel.db\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert runner.invoke(app, ["study", "run", str(path)]).exit_code == 0
    assert (tmp_path / "studies" / "rel.db").is_file() and not (elsewhere / "rel.db").exists()
    monkeypatch.chdir(tmp_path)  # `pareto` from another folder again finds the study
    result = runner.invoke(app, ["study", "pareto", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["trials"]["complete"] == 1
    assert data["storage"] == f"sqlite:///{tmp_path / 'studies' / 'rel.db'}"


def test_pareto_export_onto_a_file_is_refused(tmp_path):
    path = write_study(tmp_path, trials=1, steps=1)
    assert runner.invoke(app, ["study", "run", str(path)]).exit_code == 0
    (tmp_path / "taken").write_text("mine")
    result = runner.invoke(app, ["study", "pareto", str(path), "--export", str(tmp_path / "taken")])
    assert result.exit_code == 2
    assert "--export:" in result.stderr and "is a file" in result.stderr
    assert (tmp_path / "taken").read_text() == "mine"


def test_a_wall_time_that_runs_out_before_a_trial_is_exit_1_saying_so(tmp_path):
    path = write_study(tmp_path, trials=2, steps=1)
    result = runner.invoke(app, ["study", "run", str(path), "budget.wall_time_s=0.001"])
    assert result.exit_code == 1, result.output
    assert (
        "error: budget.wall_time_s (0.001 s) ran out before the first trial of this run "
        "started: nothing was trained" in result.stderr
    )
    result = runner.invoke(app, ["study", "run", str(path)])  # the study goes on
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["study", "run", str(path), "budget.wall_time_s=0.001"])
    assert result.exit_code == 0, result.output  # its trials are done: nothing was to train


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """A study that has run (one trial), for the commands that read it."""
    path = write_study(tmp_path_factory.mktemp("ran"), trials=1, steps=1)
    assert runner.invoke(app, ["study", "run", str(path)]).exit_code == 0
    return path


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param(
            "", "--export needs a folder for the spec files, got an empty path", id="empty"
        ),
        pytest.param(
            "/proc/front", "--export: cannot write the folder '/proc/front'", id="under-proc"
        ),
        pytest.param(
            "{tmp}/mine",
            "holds files that are not spec files of an earlier export (notes.txt, "
            "trial_0000.yaml); give a new or empty folder, or --force to write beside them",
            id="a-users-files",
        ),
    ],
)
def test_pareto_export_refuses_what_it_cannot_or_should_not_write(
    ran, tmp_path, monkeypatch, target, message
):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    (mine / "trial_0000.yaml").write_text("not a spec: [")  # named like an export, but not one
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = runner.invoke(
        app, ["study", "pareto", str(ran), "--export", target.format(tmp=tmp_path)]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --export") and message in lines[0]
    assert "Traceback" not in result.output and result.stdout == ""
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_pareto_export_replaces_its_own_files_and_with_force_writes_beside_others(ran, tmp_path):
    front = tmp_path / "front"
    for _ in range(2):  # the second export replaces the first one's spec files
        result = runner.invoke(app, ["study", "pareto", str(ran), "--export", str(front)])
        assert result.exit_code == 0, result.output
    exported = sorted(p.name for p in front.iterdir())
    assert exported and all(name.startswith("trial_") for name in exported)
    (front / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["study", "pareto", str(ran), "--export", str(front)])
    assert result.exit_code == 2 and "(notes.txt)" in result.stderr
    result = runner.invoke(app, ["study", "pareto", str(ran), "--export", str(front), "--force"])
    assert result.exit_code == 0, result.output
    assert (front / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in front.iterdir()) == sorted([*exported, "notes.txt"])


def test_a_corrupted_study_journal_is_named_not_a_traceback(tmp_path):
    path = write_study(tmp_path, trials=1, steps=1)
    assert runner.invoke(app, ["study", "run", str(path)]).exit_code == 0
    journal = tmp_path / "out" / "study.journal"
    lines = journal.read_text().splitlines(keepends=True)
    lines[1] = '{"op_code": 4, broken\n'
    journal.write_text("".join(lines))
    for command in (["study", "pareto", str(path)], ["study", "run", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "the study journal" in result.stderr and "cannot be read" in result.stderr


@pytest.mark.parametrize(
    ("sig", "executor"),
    [
        pytest.param(signal.SIGTERM, "{backend: inline}", id="sigterm-inline"),
        pytest.param(signal.SIGHUP, "{backend: inline}", id="sighup-inline"),
        pytest.param(
            signal.SIGTERM, "{backend: ray}", id="sigterm-local-ray", marks=pytest.mark.ray
        ),
    ],
)
def test_sigterm_or_sighup_mid_trial_cleans_up_like_ctrl_c(tmp_path, sig, executor):
    """The trial in flight is recorded interrupted and re-enqueued, the lock released, and the
    exit code says which signal; a plain kill used to end the driver mid-write. On local Ray,
    every process the study started (GCS, raylet, workers, the trial's actor) ends with it."""
    path = write_study(tmp_path, trials=3, steps=150, executor=executor)
    folder = tmp_path / "out"
    command = [sys.executable, "-m", "hybridlab", "study", "run", str(path)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    try:
        while True:
            assert time.monotonic() < deadline, "no trial reached RUNNING"
            assert process.poll() is None, "the study finished before the signal"
            if (folder / "study.journal").exists():
                states = [t.state for t in load(folder).get_trials(deepcopy=False)]
                if states and states[-1] == TrialState.RUNNING:
                    break
            time.sleep(0.2)
        started = {pid: command_line(pid) for pid in descendants({process.pid}) - {process.pid}}
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + sig, stderr[-2000:]
    assert "interrupted: run the same command again to resume" in stderr
    if "ray" in executor:
        assert any("raylet" in line for line in started.values()), started
        left = {pid: line for pid, line in started.items() if alive(pid)}
        assert not left, left
    trials = load(folder).get_trials(deepcopy=False)
    assert TrialState.RUNNING not in [t.state for t in trials]
    interrupted = [t for t in trials if t.user_attrs.get("outcome") == "interrupted"]
    assert len(interrupted) == 1
    assert any(t.state == TrialState.WAITING for t in trials), "its params are re-enqueued"
    # The lock is free: the same command resumes at once.
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output

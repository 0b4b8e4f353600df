"""`hybridlab study validate`: the JSON and the table, bad input (exit 2, nothing written), every
scaled run failing (exit 1), and one real validation of a tiny study."""

from __future__ import annotations

import json

import optuna
import pytest
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.execution import worker as worker_module
from hybridlab.train import TrainResult

optuna.logging.set_verbosity(optuna.logging.WARNING)
runner = CliRunner()
STEPS = 3


def faked(*, fail_scaled: bool = False):
    """Fake training: accuracy by architecture, better with more steps, a little seed noise."""

    def train(spec, task, config, report=None):
        quality = (len(spec.format()) * 7 + spec.d_model) % 13 / 13
        if config.steps > STEPS:
            if fail_scaled:
                return TrainResult(status="failed", failure_reason="non-finite loss")
            quality = 0.5 + quality / 2
        return TrainResult(status="ok", accuracy=quality + 1e-3 * config.seed, loss=1.0)

    return train


def ran_study(tmp_path, monkeypatch, trials=6, **kwargs):
    monkeypatch.setattr(worker_module, "train_proxy", faked(**kwargs))
    path = write_study(tmp_path, trials=trials, steps=STEPS)
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    return path


def snapshot(folder):
    """Every file under `folder` with its size and contents' digest."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_the_json_holds_the_fidelity_trials_correlations_retention_and_noise(tmp_path, monkeypatch):
    path = ran_study(tmp_path, monkeypatch)
    args = ["study", "validate", str(path), "--fidelity", "train.steps=2x", "-f", "task.seed=1"]
    result = runner.invoke(app, [*args, "--seeds", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["study"] == "tiny"
    assert data["fidelity"] == {"train.steps": "2x", "task.seed": "1"}
    assert data["resolved"] == {"train.steps": 6, "task.seed": 1}
    assert data["trials"] and data["objectives"] == ["accuracy"]
    for trial in data["trials"]:
        assert {"number", "rank", "front", "stack", "proxy", "scaled", "values"} <= set(trial)
        assert trial["proxy"]["accuracy"]["n"] == 2 and trial["scaled"]["accuracy"]["n"] == 2
    correlation = data["rank_correlation"]["accuracy"]
    assert {"kendall_tau", "spearman", "ci95"} <= set(correlation)
    if correlation["kendall_tau"] is not None:
        lo, hi = correlation["ci95"]
        assert -1 <= lo <= correlation["kendall_tau"] <= hi <= 1
    assert 0 <= data["front_retention"] <= 1
    assert set(data["seed_noise"]["accuracy"]) >= {"proxy", "scaled"}
    assert "validating tiny at train.steps=2x" in result.stderr

    table = runner.invoke(
        app, [*args, "--seeds", "2"], env={"COLUMNS": "200"}
    )  # nothing left to train: the records answer
    assert table.exit_code == 0, table.output
    assert "accuracy proxy" in table.stdout and "front retention" in table.stdout
    assert "0 run(s) to train" in table.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "give the higher fidelity", id="no-fidelity"),
        pytest.param(["-f", "train.steps"], "expected key=value", id="no-value"),
        pytest.param(["-f", "optim.lr=2x"], "a fidelity sets train.", id="unknown-section"),
        pytest.param(["-f", "train.stepz=2x"], "unknown setting train.stepz", id="unknown-key"),
        pytest.param(["-f", "train.stepz=9"], "train.stepz", id="unknown-key-value"),
        pytest.param(["-f", "train.steps=0x"], "must be > 0", id="zero-multiplier"),
        pytest.param(["-f", "train.steps=-2x"], "not a multiplier", id="bad-multiplier"),
        pytest.param(["-f", "train.steps=1.5x"], "not a whole number", id="not-whole"),
        # Issue 25, item 10: multipliers scale what makes a bigger run; nothing is lowered.
        pytest.param(
            ["-f", "train.device=2x"],
            "a multiplier scales a setting whose larger value is a bigger run (train.steps, "
            "train.batch_size, task.seq_len, task.vocab_size, task.num_kv_pairs, "
            "task.num_train_examples, task.num_eval_examples, model.d_model); give train.device "
            "a value instead of 2x",
            id="device-multiplied",
        ),
        pytest.param(
            ["-f", "train.seed=2x"], "give train.seed a value instead of 2x", id="seed-multiplied"
        ),
        pytest.param(
            ["-f", "train.steps=0.5x"], "0.5x would lower the fidelity", id="lower-multiplier"
        ),
        pytest.param(
            ["-f", "model.d_model=0.5x"], "0.5x would lower the fidelity", id="narrower-model"
        ),
        pytest.param(
            ["-f", "train.steps=2"],
            "train.steps is 3 in the study and 2 would lower the fidelity",
            id="lower-value",
        ),
        pytest.param(["-f", "train.steps=2x", "--seed", "-1"], "--seed must be", id="seed"),
        pytest.param(
            ["-f", "train.lr_race=1e-3"],
            "train.lr_race: takes a list, e.g. [0.001]; got 0.001",
            id="lr-race-one-value",
        ),
        # Issue 25, item 6: fidelities in the one override grammar.
        pytest.param(
            ["-f", "train.steps=0x10"],
            "train.steps: takes a whole number, got '0x10' (text)",
            id="yaml-1.1-hex-int",
        ),
        pytest.param(["-f", "train.lr_race=[1e-3,"], "is not closed with ']'", id="unclosed-list"),
        pytest.param(
            ["-f", "train.steps=!!python/object/apply:os.system ['true']"],
            "starts with '!'",
            id="python-tag",
        ),
        pytest.param(["-f", "task.num_kv_pairs=4x"], "num_kv_pairs", id="invalid-task"),
        pytest.param(["-f", "task.name=bytes"], "keeps the study's task", id="task-name"),
        pytest.param(["-f", "model.heads=2"], "only d_model", id="model-key"),
        pytest.param(["-f", "model.d_model=wide"], "whole width", id="bad-width"),
        pytest.param(["-f", "train.steps=2x", "-f", "train.steps=3x"], "twice", id="twice"),
        pytest.param(["train.steps=2x"], "give it as --fidelity", id="positional"),
        pytest.param(["train.steps=9", "-f", "task.seed=1"], "other settings", id="other-study"),
        pytest.param(["-f", "train.steps=2x", "--seeds", "0"], "--seeds", id="seeds"),
        pytest.param(["-f", "train.steps=2x", "--top", "0"], "--top", id="top"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, args, message):
    path = ran_study(tmp_path, monkeypatch, trials=2)
    before = snapshot(tmp_path / "out")
    result = runner.invoke(app, ["study", "validate", str(path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output
    assert snapshot(tmp_path / "out") == before


def test_a_study_that_has_not_run_is_refused_and_nothing_is_created(tmp_path):
    path = write_study(tmp_path, steps=STEPS)
    result = runner.invoke(app, ["study", "validate", str(path), "-f", "train.steps=2x"])
    assert result.exit_code == 2 and "study run" in result.stderr
    assert not (tmp_path / "out").exists()


def test_every_scaled_run_failing_is_exit_1_with_the_reason(tmp_path, monkeypatch):
    path = ran_study(tmp_path, monkeypatch, trials=3, fail_scaled=True)
    args = ["study", "validate", str(path), "-f", "train.steps=2x", "--seeds", "1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "no trial could be trained at this fidelity: non-finite loss" in result.stderr
    data = json.loads(result.stdout)
    assert data["runs"]["scaled"] == {"complete": 0, "failed": len(data["trials"])}
    assert data["front_retention"] is None


@pytest.mark.slow
def test_a_real_validation_of_a_tiny_study_reads_back_as_json(tmp_path):
    path = write_study(tmp_path, trials=4, steps=4)
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 0, result.output
    args = ["study", "validate", str(path), "--fidelity", "train.steps=2x"]
    args += ["--fidelity", "model.d_model=2x", "--seeds", "1", "--sample", "2", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fidelity"] == {"train.steps": "2x", "model.d_model": "2x"}
    assert data["runs"]["scaled"]["complete"] >= 1
    for trial in data["trials"]:
        if trial["scaled_spec"] is not None:
            assert trial["scaled_spec"]["d_model"] == 2 * trial["d_model"]

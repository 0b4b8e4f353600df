"""A study's measuring settings are fixed when it is created: a run, a resume, a front or a
validation under other task, training or objective settings is refused (exit 2 from the CLI,
the settings named, nothing written), while settings that change how a study runs are not."""

from __future__ import annotations

import pytest
from study_helpers import write_study
from typer.testing import CliRunner

from hybridlab.cli import app
from hybridlab.study import StudyConfigError, load_plan, run_study
from hybridlab.study.fingerprint import differences, fingerprint, measuring_settings
from hybridlab.study.storage import open_study

runner = CliRunner()


@pytest.fixture
def study(tmp_path):
    path = write_study(tmp_path, trials=1, steps=2)
    run_study(load_plan(path))
    return path


@pytest.mark.parametrize(
    ("override", "named"),
    [
        pytest.param("train.steps=4", "train.steps is 2 in the study, 4 here", id="steps"),
        pytest.param("task.vocab_size=48", "task.vocab_size is 32", id="vocab"),
        pytest.param("task.num_kv_pairs=1", "task.num_kv_pairs is 2", id="pairs"),
        pytest.param("train.lr=0.01", "train.lr is 0.003", id="lr"),
        pytest.param("objectives.2.context=32", "objectives is", id="objective-context"),
    ],
)
def test_a_resume_under_other_measuring_settings_is_refused_naming_them(study, override, named):
    journal = (study.parent / "out" / "study.journal").read_bytes()
    result = runner.invoke(app, ["study", "run", str(study), override, "budget.trials=2"])
    assert result.exit_code == 2, result.output
    assert named in result.output and "start a separate study" in result.output
    assert "Traceback" not in result.output
    assert (study.parent / "out" / "study.journal").read_bytes() == journal
    assert runner.invoke(app, ["study", "pareto", str(study), override]).exit_code == 2


@pytest.mark.parametrize(
    "override",
    ["budget.trials=2", "train.num_threads=2", "sampler.seed=5", "executor.retries=0"],
    ids=["budget", "threads", "sampler", "executor"],
)
def test_settings_that_change_how_a_study_runs_may_change_on_a_resume(study, override):
    with_override = load_plan(study, [override, "budget.trials=2"])
    summary = run_study(with_override)
    assert summary.trained == 2
    assert len(open_study(with_override, create=False).trials) == 2


def test_the_error_says_how_to_start_a_separate_study(study):
    with pytest.raises(StudyConfigError, match=r"output=runs/tiny-2"):
        open_study(load_plan(study, ["train.steps=3"]), create=False)
    separate = load_plan(study, ["train.steps=3", f"output={study.parent / 'other'}"])
    assert run_study(separate).trained == 1


def test_the_fingerprint_ignores_threads_and_references_and_names_differences():
    base = {
        "task": {"name": "mqar"},
        "train": {"steps": 2, "num_threads": 1},
        "objectives": [{"name": "params", "ref": 10.0}],
    }
    other = {
        "task": {"name": "mqar"},
        "train": {"steps": 2, "num_threads": 4},
        "objectives": [{"name": "params", "ref": 99.0}],
    }
    assert fingerprint(measuring_settings(base)) == fingerprint(measuring_settings(other))
    changed = {**base, "train": {"steps": 3}}
    assert differences(measuring_settings(base), measuring_settings(changed)) == [
        "train.steps is 2 in the study, 3 here"
    ]


def test_a_setting_added_after_the_study_was_created_counts_only_off_its_default():
    stored = {"train": {"steps": 2}}
    assert differences(stored, {"train": {"steps": 2, "seeds": 1}}, {"train": {"seeds": 1}}) == []
    assert differences(stored, {"train": {"steps": 2, "seeds": 3}}, {"train": {"seeds": 1}}) == [
        "train.seeds is not set in the study, 3 here"
    ]

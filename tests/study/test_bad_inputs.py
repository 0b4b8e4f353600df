"""A corpus of bad study and space files: one clear message each, exit 2, nothing written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from study_helpers import KIND_SPACE
from typer.testing import CliRunner

from hybridlab.cli import app

runner = CliRunner()

BASE = """\
name: bad
space: space.yaml
task: {name: mqar, vocab_size: 32, seq_len: 16, num_kv_pairs: 2, num_train_examples: 32}
train: {steps: 2, batch_size: 4, device: cpu, num_threads: 1}
objectives:
  - {name: accuracy}
  - {name: params}
sampler: {name: random, seed: 0}
budget: {trials: 2}
"""


def study(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


def space(old: str, new: str) -> str:
    assert old in KIND_SPACE, old
    return KIND_SPACE.replace(old, new)


# (study text, space text, overrides, the message stderr must contain)
CASES = [
    pytest.param(
        BASE + "train: {steps: 3\n",
        None,
        [],
        "study.yaml:11: malformed YAML: did not find expected ',' or '}' (while parsing a flow "
        "mapping started at line 10)",
        id="malformed-yaml",
    ),
    pytest.param(
        BASE + "x: !!python/object/apply:os.system ['touch pwned']\n",
        None,
        [],
        "study.yaml:10: malformed YAML",
        id="yaml-python-tag",
    ),
    pytest.param("- a\n- b\n", None, [], "a study file must be a YAML mapping", id="not-a-mapping"),
    pytest.param(
        BASE + "trian: {steps: 3}\n",
        None,
        [],
        "study.yaml:10: trian: unknown key 'trian'; valid: name,",
        id="unknown-key",
    ),
    pytest.param(
        study("steps: 2", "stepz: 2"),
        None,
        [],
        "study.yaml:4: train.stepz: unknown setting train.stepz; valid train settings",
        id="unknown-train-setting",
    ),
    pytest.param(
        study("batch_size: 4", "batch_size: four"),
        None,
        [],
        "study.yaml:4: train.batch_size:",
        id="wrong-type",
    ),
    pytest.param(
        study("steps: 2", "steps: 0"), None, [], "train.steps must be ≥ 1", id="train-invalid"
    ),
    pytest.param(
        study("name: mqar", "name: mqa"),
        None,
        [],
        "study.yaml:3: task.name: unknown task 'mqa'; valid tasks: mqar,",
        id="unknown-task",
    ),
    pytest.param(
        study("num_kv_pairs: 2", "num_kv_pair: 2"),
        None,
        [],
        "task.num_kv_pair: unknown setting task.num_kv_pair",
        id="unknown-task-setting",
    ),
    pytest.param(
        study("vocab_size: 32", "vocab_size: 8"),
        None,
        [],
        "mqar: vocab_size must exceed seq_len",
        id="task-invalid",
    ),
    pytest.param(
        study("{name: params}", "{name: acc}"),
        None,
        [],
        "study.yaml:7: objectives.1.name: unknown objective 'acc'; valid: accuracy,",
        id="unknown-objective",
    ),
    pytest.param(
        study("{name: params}", "{name: params, direction: up}"),
        None,
        [],
        "objectives.1.direction: direction must be minimize or maximize",
        id="bad-direction",
    ),
    pytest.param(
        study("{name: params}", "{name: bits_per_byte}"),
        None,
        [],
        "task 'mqar' reports no bits per byte",
        id="bits-per-byte-on-mqar",
    ),
    pytest.param(
        study("{name: params}", "{name: accuracy}"),
        None,
        [],
        "two objectives are labelled 'accuracy'",
        id="duplicate-objective",
    ),
    pytest.param(
        study("{name: params}", "{name: params, context: 64}"),
        None,
        [],
        "objectives.1.context: params takes no context",
        id="objective-option",
    ),
    pytest.param(
        study("objectives:\n  - {name: accuracy}\n  - {name: params}\n", "objectives: []\n"),
        None,
        [],
        "objectives must be a non-empty list",
        id="no-objectives",
    ),
    pytest.param(
        study("name: random", "name: tpx"),
        None,
        [],
        "study.yaml:8: sampler.name: unknown sampler 'tpx'; valid: tpe, nsga2, gp,",
        id="unknown-sampler",
    ),
    pytest.param(
        study("seed: 0}", "seed: 0, options: {n_startup: 3}}"),
        None,
        [],
        "RandomSampler takes no option 'n_startup'",
        id="sampler-option",
    ),
    pytest.param(
        study("name: random", "name: grid"),
        space(
            "  d_state: {choice: [4, 8]}\n",
            "  d_state: {choice: [4, 8]}\n  lr: {float: [0.1, 0.2]}\n",
        ),
        [],
        "sampler grid needs finite knobs; 'lr' is continuous",
        id="grid-needs-finite-knobs",
    ),
    pytest.param(
        study("budget: {trials: 2}", "budget: {}"),
        None,
        [],
        "give budget.trials or budget.wall_time_s",
        id="no-budget",
    ),
    pytest.param(
        study("budget: {trials: 2}", "budget: {trials: 0}"),
        None,
        [],
        "budget.trials: must be >= 1",
        id="zero-trials",
    ),
    pytest.param(
        BASE + "executor: {backend: slurm}\n",
        None,
        [],
        "executor.backend: unknown executor backend 'slurm'; available: inline, ray",
        id="unknown-executor",
    ),
    pytest.param(
        BASE,
        None,
        ["executor.address=ray://head:10001"],
        "executor.address: 'ray://head:10001' is a Ray Client address",
        id="ray-client-address",
    ),
    pytest.param(
        BASE + "executor: {backend: ray, resources: {cpu: 1, tpu: 1}}\n",
        None,
        [],
        "executor.resources: a mapping with cpu and/or gpu per trial",
        id="unknown-resource",
    ),
    pytest.param(
        BASE + "executor: {backend: ray, resources: {cpu: 0}}\n",
        None,
        [],
        "executor.resources.cpu: a number > 0, got 0",
        id="zero-cpus",
    ),
    pytest.param(
        BASE + "executor: {backend: ray, resources: {gpu: -0.5}}\n",
        None,
        [],
        "executor.resources.gpu: a number >= 0",
        id="negative-gpu",
    ),
    pytest.param(
        BASE + "executor: {backend: ray, max_concurrent: 0}\n",
        None,
        [],
        "executor.max_concurrent: >= 1 or null, got 0",
        id="zero-concurrency",
    ),
    pytest.param(
        BASE + "executor: {backend: ray, options: {num_gpus: 2}}\n",
        None,
        [],
        "executor.options: unknown ['num_gpus']; the ray backend takes num_cpus",
        id="unknown-ray-option",
    ),
    pytest.param(
        BASE + "executor: {backend: inline, address: auto}\n",
        None,
        [],
        "executor.address: only the ray backend takes it",
        id="inline-with-address",
    ),
    pytest.param(
        BASE + "executor: {backend: inline, max_concurrent: 2}\n",
        None,
        [],
        "executor.max_concurrent: the inline executor runs 1 trial at a time, got 2",
        id="inline-concurrency",
    ),
    pytest.param(
        BASE + "executor: {retries: -1}\n",
        None,
        [],
        "executor.retries: must be a whole number >= 0, got -1",
        id="negative-retries",
    ),
    pytest.param(
        BASE + "tracking: {backend: wandb}\n",
        None,
        [],
        "unknown tracking backend 'wandb'; available: none, mlflow",
        id="unknown-tracker",
    ),
    pytest.param(BASE + "storage: study.db\n", None, [], "or an Optuna RDB URL", id="storage-path"),
    pytest.param(
        study("name: bad", "name: ${nope}"),
        None,
        [],
        "name: cannot resolve",
        id="bad-interpolation",
    ),
    pytest.param(
        study("space: space.yaml", "space: nowhere.yaml"),
        None,
        [],
        "space file",
        id="missing-space-file",
    ),
    # The space file.
    pytest.param(
        None,
        "knbos: {}\n" + KIND_SPACE,
        [],
        "space.yaml:1: knbos: unknown key 'knbos'",
        id="space-unknown-key",
    ),
    pytest.param(
        None,
        space("{choice: [4, 8]}", "{int: [5, 2]}"),
        [],
        "space.yaml:4: knobs.d_state.int: empty range [5, 2]",
        id="int-range-reversed",
    ),
    pytest.param(
        None,
        space("{choice: [4, 8]}", "{int: [1, 4], stp: 2}"),
        [],
        "knobs.d_state: unknown option 'stp' of a int leaf; valid options: step, log",
        id="leaf-unknown-option",
    ),
    pytest.param(
        None,
        space("{choice: [4, 8]}", "{float: [0.0, 1.0], log: true}"),
        [],
        "a log float range needs low > 0",
        id="float-log-zero",
    ),
    pytest.param(
        None,
        space("{choice: [4, 8]}", "{int: [1, 9], step: 2, log: true}"),
        [],
        "a log int range needs low >= 1 and step 1",
        id="int-log-step",
    ),
    pytest.param(
        None,
        space("{choice: [4, 8]}", "{choice: [4, 4]}"),
        [],
        "choice lists a value twice",
        id="choice-duplicate",
    ),
    pytest.param(
        None,
        space("{choice: [4, 8]}", "[4, 8]"),
        [],
        "knobs.d_state: a list is not a knob; write {choice: [4, 8]}",
        id="bare-list",
    ),
    pytest.param(
        None,
        KIND_SPACE + "constraints: [\"__import__('os').system('true')\"]\n",
        [],
        "constraints.0: only cost functions may be called",
        id="constraint-call",
    ),
    pytest.param(
        None,
        KIND_SPACE + "constraints: ['depht > 2']\n",
        [],
        "unknown name 'depht'",
        id="constraint-unknown-name",
    ),
    pytest.param(
        None,
        KIND_SPACE + "constraints: ['params < 0']\n",
        [],
        "no feasible architecture in 64 random samples",
        id="nothing-feasible",
    ),
    pytest.param(
        None,
        space("  d_state: {choice: [4, 8]}\n", "  g: {when: 'later > 1', x: 1}\n  later: 2\n"),
        [],
        "knobs.g.when: `when` refers to 'later'",
        id="when-forward-reference",
    ),
    pytest.param(
        None,
        space('stack: "${knobs.kind}"', 'stack: "${knobs.kind}"\n  pattern: M'),
        [],
        "model: give exactly one of layout, stack or pattern",
        id="stack-and-pattern",
    ),
    pytest.param(
        None,
        space("d_model: ${knobs.d_model}", "d_model: ${knobs.width}"),
        [],
        "cannot resolve the model template",
        id="template-missing-knob",
    ),
    # Overrides.
    pytest.param(
        None,
        None,
        ["budget.trailz=4"],
        "override 'budget.trailz=4': budget.trailz: unknown setting",
        id="override-unknown",
    ),
    pytest.param(
        None, None, ["foo.bar=1"], "names no setting: unknown section 'foo'", id="override-section"
    ),
    pytest.param(None, None, ["train.steps"], "expected key=value", id="override-no-value"),
    pytest.param(
        None, None, ["sampler.name=cmaes"], "override 'sampler.name=cmaes'", id="override-bad-value"
    ),
    # Found by issue 13's sweep: each once a traceback, a wrong exit code or a written file.
    pytest.param(
        None, None, ["sampler.seed=-1"], "sampler.seed: a whole number from 0", id="sampler-seed"
    ),
    pytest.param(
        None, None, ["train.seed=-1"], "train.seed must be a whole number >= 0", id="train-seed"
    ),
    pytest.param(
        None, None, ["task.seed=-1"], "task.seed must be a whole number >= 0", id="task-seed"
    ),
    pytest.param(
        None,
        None,
        ["train.seed=4294967295", "budget.front_seeds=2"],
        "budget.front_seeds: the seed runs use train.seed + 1 … + 2, past the largest seed",
        id="front-seeds-past-the-largest-seed",
    ),
    pytest.param(
        None,
        None,
        ["pruner=median"],
        "pruner.name: Optuna's median pruner takes one objective",
        id="pruner-median-two-objectives",
    ),
    pytest.param(
        None,
        None,
        ["storage=bogus://x"],
        "storage: not a database URL SQLAlchemy can open",
        id="storage-unknown-scheme",
    ),
    pytest.param(
        None, None, ["name=" + "x" * 300], "a study name has at most 100 characters", id="long-name"
    ),
    pytest.param(
        study("name: bad", "name: étude"),
        None,
        [],
        "a study name is ASCII letters, digits",
        id="non-ascii-name",
    ),
    pytest.param(
        None,
        None,
        ["train.device=cuda", "executor.backend=inline"],
        "train.device: cuda, but this machine has no CUDA device",
        id="cuda-without-cuda",
    ),
    pytest.param(
        None,
        None,
        ["train.num_threads=100000", "executor.backend=inline"],
        "train.num_threads: 100000 threads, but this machine has",
        id="threads-over-cores",
    ),
    pytest.param(
        None, None, ["train.steps="], "train.steps needs a value", id="override-empty-value"
    ),
    pytest.param(
        None,
        None,
        ["train.device=tpu"],
        "override 'train.device=tpu': train.device: invalid value 'tpu'",
        id="key-named-once",
    ),
    # Issue 25, items 4 and 7: a database or tracking store that cannot work, and folders that
    # cannot be written, refused before anything is written.
    pytest.param(
        None,
        None,
        ["storage=sqlite://"],
        "storage: 'sqlite://' is a SQLite database in memory: nothing would be kept",
        id="storage-in-memory",
    ),
    pytest.param(
        None,
        None,
        ["storage=sqlite:///:memory:"],
        "is a SQLite database in memory",
        id="storage-in-memory-by-name",
    ),
    pytest.param(
        None,
        None,
        ["storage=mysql://user@localhost/db"],
        "storage: the mysql driver of 'mysql' is not installed",
        id="storage-mysql-without-driver",
    ),
    pytest.param(
        None,
        None,
        ["storage=postgresql+pg8000://user@localhost/db"],
        "storage: the postgresql driver of 'postgresql+pg8000' is not installed",
        id="storage-postgresql-without-driver",
    ),
    pytest.param(
        None,
        None,
        ["storage=sqlite:////nonexistent/dir/x.db"],
        "storage: the folder of the SQLite file '/nonexistent/dir/x.db' does not exist",
        id="storage-sqlite-folder-missing",
    ),
    pytest.param(
        None,
        None,
        ["tracking.uri=htp:/oops"],
        "tracking.uri: 'htp:/oops' is no MLflow tracking URI",
        id="tracking-uri-typo",
    ),
    pytest.param(
        BASE + "tracking: {uri: 'file:./mlruns'}\n",
        None,
        [],
        "study.yaml:10: tracking.uri: 'file:./mlruns' is MLflow's file store",
        id="tracking-file-store",
    ),
    pytest.param(
        None,
        None,
        ["tracking.uri=sqlite:////nonexistent/dir/mlflow.db"],
        "tracking.uri: the folder of the SQLite file '/nonexistent/dir/mlflow.db' does not",
        id="tracking-sqlite-folder-missing",
    ),
    pytest.param(
        None,
        None,
        ["tracking.uri=http://127.0.0.1:9"],
        "tracking.uri: the MLflow tracking server http://127.0.0.1:9 cannot be reached",
        id="tracking-server-down",
    ),
    pytest.param(
        None,
        None,
        ["output=/proc/hybridlab-study"],
        "output: cannot write the study folder '/proc/hybridlab-study': cannot write in '/proc'",
        id="output-under-proc",
    ),
    pytest.param(
        None,
        None,
        ["output=study.yaml/runs"],
        "output: cannot write the study folder 'study.yaml/runs': ",
        id="output-under-a-file",
    ),
    # Issue 25, item 5: objectives whose reference or label cannot work, pruner options that
    # change nothing.
    pytest.param(
        study("{name: params}", "{name: params, ref: -5}"),
        None,
        [],
        "study.yaml:7: objectives.1.ref: -5 is on the wrong side: params is never below 0",
        id="params-ref-negative",
    ),
    pytest.param(
        study("{name: accuracy}", "{name: accuracy, ref: 1.5}"),
        None,
        [],
        "objectives.0.ref: 1.5 is on the wrong side: accuracy is never above 1",
        id="accuracy-ref-above-1",
    ),
    pytest.param(
        study("{name: params}", "{name: params, ref: 10}"),
        None,
        [],
        "objectives.1.ref: 10 leaves every sampled architecture above the reference",
        id="params-ref-below-every-sample",
    ),
    pytest.param(
        None,
        None,
        ["objectives=[{name: tokens_per_s, direction: minimize}]"],
        "objectives.0.ref: tokens_per_s minimized has no default reference",
        id="no-default-ref-against-the-natural-direction",
    ),
    pytest.param(
        study("{name: accuracy}", "{name: accuracy, label: ''}"),
        None,
        [],
        "study.yaml:6: objectives.0.label: a label is ASCII letters, digits",
        id="label-empty",
    ),
    pytest.param(
        None,
        None,
        ["pruner={name: none, min_steps: 5}"],
        "pruner.min_steps: no pruner runs, so min_steps would change nothing",
        id="pruner-none-with-an-option",
    ),
    pytest.param(
        None,
        None,
        ["objectives=[accuracy]", "train.steps=90", "pruner={name: hyperband, min_trials: 2}"],
        "pruner.min_trials: the hyperband pruner reads min_steps, reduction_factor, so "
        "min_trials would change nothing",
        id="pruner-option-it-does-not-read",
    ),
    # Issue 25, items 5 and 8: a constraint is a condition, evaluated with bounded work.
    pytest.param(
        None,
        KIND_SPACE + "constraints: ['params']\n",
        [],
        "constraints.0: params is ",
        id="constraint-a-number",
    ),
    pytest.param(
        None,
        KIND_SPACE + "constraints: [\"'yes'\"]\n",
        [],
        "space.yaml:12: constraints.0: 'yes' is no condition (true or false)",
        id="constraint-a-string",
    ),
    pytest.param(
        None,
        KIND_SPACE + "constraints: ['((((10**256)**256)**256)**256) > 0']\n",
        [],
        "constraints.0: (10 ** 256) ** 256 is beyond a float's range (1e308)",
        id="constraint-nested-powers",
    ),
    pytest.param(
        None,
        KIND_SPACE + "constraints: [\"'x' * 10**8 == 'x'\"]\n",
        [],
        "constraints.0: arithmetic takes numbers; 'x' is 'x'",
        id="constraint-string-repetition",
    ),
    # Issue 25, items 5 and 7: sampler options checked by building the sampler.
    pytest.param(
        None,
        None,
        ["sampler.name=nsga2", "sampler.options.mutation_prob=5.0"],
        "sampler.options: NSGAIISampler refuses these options: `mutation_prob`",
        id="nsga2-mutation-prob",
    ),
    pytest.param(
        None,
        None,
        ["sampler.name=tpe", "sampler.options.constraints_func=5"],
        "sampler.options.constraints_func: TPESampler's constraints_func takes a Python object",
        id="tpe-constraints-func",
    ),
    pytest.param(
        None,
        None,
        ["sampler.name=tpe", "sampler.options.n_startup_trials=-3"],
        "TPESampler's n_startup_trials takes a count >= 0, got -3",
        id="tpe-startup-negative",
    ),
    # Issue 25, item 7: a section or a setting of the wrong shape.
    pytest.param(
        BASE + "tracking: 5\n",
        None,
        [],
        "study.yaml:10: tracking: must be a backend name (e.g. tracking: none) or a mapping",
        id="tracking-int",
    ),
    pytest.param(
        None,
        None,
        ["train=[1, 2]"],
        "override 'train=[1, 2]': train: must be a mapping of settings",
        id="train-list",
    ),
    pytest.param(
        None, None, ["train=5"], "override 'train=5': train: must be a mapping", id="train-int"
    ),
    pytest.param(
        None,
        None,
        ["sampler={options: [1]}"],
        "sampler.options: takes a mapping of name: value",
        id="sampler-options-list",
    ),
    pytest.param(
        None,
        None,
        ["train.lr_race=1e-3"],
        "train.lr_race: takes a list, e.g. [0.001]; got 0.001",
        id="lr-race-one-value",
    ),
    # Issue 25, item 10: an error names the key it is about, even when an override set a key
    # below it (it was blamed on the override's key).
    pytest.param(
        study("space: space.yaml", "space: {knobs: {d: {choice: [1, 2]}}}"),
        None,
        ["space.knobs.e={choice: [3]}"],
        "override 'space.knobs.e={choice: [3]}': space: missing 'model'",
        id="error-names-its-own-key",
    ),
    pytest.param(
        study("space: space.yaml", "space: {knobs: {weird: [8, 16]}, model: {stack: ssd}}"),
        None,
        [],
        "study.yaml:2: space.knobs.weird: a list is not a knob; write {choice: [8, 16]}",
        id="knob-named-by-its-key",
    ),
    # Issue 25, item 6: every override value in the one grammar.
    pytest.param(
        None,
        None,
        ["train.steps=0x10"],
        "train.steps: takes a whole number, got '0x10' (text)",
        id="yaml-1.1-hex-int",
    ),
    pytest.param(
        None,
        None,
        ["train.steps=1_0"],
        "train.steps: takes a whole number, got '1_0' (text)",
        id="yaml-1.1-underscore-int",
    ),
    pytest.param(
        None,
        None,
        ["train.steps=!!python/object/apply:os.system ['touch pwned']"],
        "starts with '!', which YAML reads as more than text",
        id="override-python-tag",
    ),
    pytest.param(
        None,
        None,
        ["train.lr_race=[1e-3,"],
        "a list in '[1e-3,' is not closed with ']'",
        id="override-unclosed-list",
    ),
]


@pytest.mark.parametrize(("study_text", "space_text", "overrides", "message"), CASES)
def test_bad_input_gives_one_clear_message_and_writes_nothing(
    tmp_path, monkeypatch, study_text, space_text, overrides, message
):
    monkeypatch.chdir(tmp_path)
    # The CUDA case holds on a GPU machine too: this one has none.
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    (tmp_path / "study.yaml").write_text(study_text if study_text is not None else BASE)
    (tmp_path / "space.yaml").write_text(space_text if space_text is not None else KIND_SPACE)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["study", "run", "study.yaml", *overrides])
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("error: ") and "Traceback" not in err
    assert message in err, err
    assert not re.search(r"([\w.]+): \1:", err), "the message names its key twice"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no runs/, no journal
    assert not (tmp_path / "pwned").exists()


def test_a_missing_study_file():
    result = runner.invoke(app, ["study", "run", "/nonexistent/study.yaml"])
    assert result.exit_code == 2
    assert "error: /nonexistent/study.yaml: study file does not exist" in result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p.write_bytes(b"\x00\xbe\xff" * 40), "not a text file", id="binary"),
        pytest.param(lambda p: p.mkdir(), "a folder, not a study file", id="folder"),
        pytest.param(
            lambda p: p.write_text("42\n"), "a study file must be a YAML mapping", id="42"
        ),
    ],
)
def test_a_study_file_that_cannot_be_read_is_named(tmp_path, make, message):
    path = tmp_path / "study.yaml"
    make(path)
    result = runner.invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: {path}: {message}" in result.stderr


def test_a_binary_space_file_is_named(tmp_path):
    (tmp_path / "study.yaml").write_text(BASE)
    (tmp_path / "space.yaml").write_bytes(b"\x00\xbe\xff" * 40)
    result = runner.invoke(app, ["study", "run", str(tmp_path / "study.yaml")])
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'space.yaml'}: not a text file" in result.stderr


@pytest.fixture
def read_only_folder(tmp_path):
    """An empty folder nobody may write in: mode 555, and for root, whom modes do not stop, the
    immutable attribute (`chattr +i`); where neither holds (root without CAP_LINUX_IMMUTABLE),
    /proc, where no folder can be made either."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK) and shutil.which("chattr"):
        chattr = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        immutable = chattr.returncode == 0
    yield folder if immutable or not os.access(folder, os.W_OK) else Path("/proc")
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("where", ["working-directory", "output"])
def test_a_read_only_folder_is_refused_before_anything_is_written(
    tmp_path, monkeypatch, read_only_folder, where
):
    (tmp_path / "study.yaml").write_text(BASE)
    (tmp_path / "space.yaml").write_text(KIND_SPACE)
    args = ["study", "run", str(tmp_path / "study.yaml")]
    if where == "working-directory":  # the study folder is runs/bad under it
        monkeypatch.chdir(read_only_folder)
    else:
        args.append(f"output={read_only_folder}/runs/bad")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "output: cannot write the study folder" in result.stderr
    assert f"cannot write in {str(read_only_folder)!r}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (read_only_folder / "runs").exists()

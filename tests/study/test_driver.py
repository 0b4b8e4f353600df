"""The study driver: failures, infeasibility, hypervolume, trackers, resume, reproducibility."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from study_helpers import KIND_SPACE, write_study

from hybridlab.execution import worker as worker_module
from hybridlab.pareto import study_hypervolume
from hybridlab.study import StudyFailed, load_plan, run_study
from hybridlab.study.storage import open_study
from hybridlab.tracking import Tracker
from hybridlab.train import TrainResult

optuna.logging.set_verbosity(optuna.logging.WARNING)


def trials_of(plan):
    return open_study(plan, create=False).get_trials(deepcopy=False)


class Recorder(Tracker):
    def __init__(self):
        self.calls = []

    def start_study(self, info):
        self.calls.append(("start", info.name))

    def log_trial_started(self, trial):
        self.calls.append(("started", trial.number))

    def log_metrics(self, number, step, metrics):
        self.calls.append(("metrics", number))

    def log_trial_finished(self, record):
        self.calls.append((record.outcome, record.number))

    def update_front(self, update):
        self.calls.append(("front", len(update.front)))

    def end_study(self, summary):
        self.calls.append(("end", summary.trained))


def test_a_study_runs_records_hypervolume_and_reports_to_trackers(tmp_path):
    plan = load_plan(write_study(tmp_path, trials=3, steps=2))
    recorder = Recorder()
    summary = run_study(plan, trackers=[recorder])
    assert (summary.trained, summary.complete, summary.failed) == (3, 3, 0)
    trials = trials_of(plan)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    for t in complete:
        assert t.user_attrs["outcome"] == "complete" and t.user_attrs["status"] == "ok"
        assert t.user_attrs["stack"] and t.user_attrs["pattern"] and t.user_attrs["spec"]
    # The hypervolume after each trial is that of the trials so far, and never decreases.
    refs = open_study(plan, create=False).user_attrs["hv_reference"]
    hvs = [t.user_attrs["hypervolume"] for t in complete]
    for i, t in enumerate(complete):
        expected = study_hypervolume([c.values for c in complete[: i + 1]], plan.directions, refs)
        assert t.user_attrs["hypervolume"] == pytest.approx(expected)
    assert hvs == sorted(hvs)
    assert summary.hypervolume == pytest.approx(hvs[-1])
    kinds = [c[0] for c in recorder.calls]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("started") == kinds.count("complete") == kinds.count("front") == 3
    assert "metrics" in kinds


def test_training_failures_are_recorded_and_the_study_goes_on(tmp_path, monkeypatch):
    real = worker_module.train_proxy
    calls = []

    def flaky(spec, task, config, report=None):
        calls.append(spec)
        if len(calls) == 1:
            raise RuntimeError("boom inside training")
        if len(calls) == 2:
            return TrainResult(status="failed", failure_reason="non-finite loss at step 1")
        return real(spec, task, config, report)

    monkeypatch.setattr(worker_module, "train_proxy", flaky)
    plan = load_plan(write_study(tmp_path, trials=3, steps=2))
    summary = run_study(plan)
    # The exception is a fault: retried once (executor.retries defaults to 1) as trial 1, which
    # then diverges: a result, not a fault, so it is not retried. The retried attempt does not
    # count against the budget of 3.
    assert (summary.trained, summary.complete, summary.failed, summary.retried) == (3, 2, 1, 1)
    trials = trials_of(plan)
    states = [TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert [t.state for t in trials] == states
    first, retry = trials[0], trials[1]
    assert first.user_attrs["failure_reason"].startswith("RuntimeError: boom inside training")
    assert first.user_attrs["fault"] == "exception" and first.user_attrs["retried"] is True
    assert (retry.user_attrs["retry_of"], retry.user_attrs["attempt"]) == (0, 2)
    assert retry.params == first.params and calls[0] == calls[1]
    assert retry.user_attrs["failure_reason"] == "non-finite loss at step 1"
    assert "fault" not in retry.user_attrs and "retried" not in retry.user_attrs
    assert all(t.user_attrs["outcome"] == "failed" for t in trials[:2])


@pytest.mark.parametrize("retries", [0, 2], ids=["no-retries", "two-retries"])
def test_a_trial_that_keeps_faulting_is_retried_up_to_the_configured_count(
    tmp_path, monkeypatch, retries
):
    def broken(spec, task, config, report=None):
        raise MemoryError("worker ran out")

    monkeypatch.setattr(worker_module, "train_proxy", broken)
    plan = load_plan(write_study(tmp_path, trials=1, steps=2), [f"executor.retries={retries}"])
    summary = run_study(plan)
    trials = trials_of(plan)
    assert len(trials) == retries + 1 and all(t.state == TrialState.FAIL for t in trials)
    assert [t.user_attrs.get("attempt", 1) for t in trials] == list(range(1, retries + 2))
    assert [bool(t.user_attrs.get("retried")) for t in trials] == [True] * retries + [False]
    assert (summary.trained, summary.failed, summary.retried) == (1, 1, retries)


def test_infeasible_samples_are_recorded_never_trained_and_not_counted(tmp_path, monkeypatch):
    trained = []
    real = worker_module.train_proxy
    monkeypatch.setattr(
        worker_module, "train_proxy", lambda s, *a, **k: trained.append(s) or real(s, *a, **k)
    )
    space = KIND_SPACE + "constraints:\n  - \"kind != 'scan'\"\n  - 'd_model == 16'\n"
    plan = load_plan(write_study(tmp_path, space=space, trials=3, steps=2))
    summary = run_study(plan)
    trials = trials_of(plan)
    infeasible = [t for t in trials if t.user_attrs.get("infeasible")]
    assert summary.trained == 3 and len(trained) == 3
    assert len(infeasible) == summary.infeasible >= 1
    for t in infeasible:
        assert t.state == TrialState.FAIL and t.user_attrs["outcome"] == "infeasible"
        assert "does not hold" in t.user_attrs["failure_reason"]
        assert "stack" not in t.user_attrs
    assert all(s.pattern() != "S" and s.d_model == 16 for s in trained)


def test_too_many_infeasible_samples_in_a_row_end_the_study(tmp_path):
    space = KIND_SPACE + "constraints:\n  - \"kind == 'attn' and d_model == 16 and d_state == 4\"\n"
    extra = "  max_consecutive_infeasible: 2\n"
    path = write_study(tmp_path, space=space, trials=5)
    path.write_text(
        path.read_text().replace("budget: {trials: 5}", "budget:\n  trials: 5\n" + extra)
    )
    with pytest.raises(StudyFailed, match="2 infeasible samples in a row"):
        run_study(load_plan(path))


def test_resume_marks_interrupted_trials_failed_and_reruns_their_params(tmp_path):
    plan = load_plan(write_study(tmp_path, trials=2, steps=2))
    run_study(plan)
    before = {t.number: t.values for t in trials_of(plan) if t.state == TrialState.COMPLETE}
    # A crash mid-trial: a trial asked, sampled and left RUNNING.
    study = open_study(plan, create=False)
    zombie = study.ask()
    plan.space.propose(zombie, plan.task.vocab_size)
    params = dict(zombie.params)
    plan = load_plan(write_study(tmp_path, trials=4, steps=2))
    summary = run_study(plan)
    assert summary.interrupted == [zombie.number]
    trials = trials_of(plan)
    old = trials[zombie.number]
    assert old.state == TrialState.FAIL and old.user_attrs["outcome"] == "interrupted"
    rerun = [t for t in trials if t.user_attrs.get("retry_of") == zombie.number]
    assert len(rerun) == 1 and rerun[0].params == params and rerun[0].state == TrialState.COMPLETE
    after = {t.number: t.values for t in trials if t.state == TrialState.COMPLETE}
    assert {n: after[n] for n in before} == before  # finished trials are kept as they were
    assert summary.trained == 4 and len(after) == 4


@pytest.mark.slow
def test_a_seeded_sequential_study_is_reproducible(tmp_path):
    runs = []
    for name in ("a", "b"):
        plan = load_plan(write_study(tmp_path / name, trials=4, steps=3, sampler="tpe"))
        run_study(plan)
        runs.append([(t.params, t.values, t.state) for t in trials_of(plan)])
    assert runs[0] == runs[1]
    assert len({str(p) for p, _, _ in runs[0]}) >= 2
    assert all(v is None or all(math.isfinite(x) for x in v) for _, v, _ in runs[0])


def test_a_second_driver_on_the_same_study_is_refused(tmp_path):
    from hybridlab.config import StudyConfigError
    from hybridlab.study.storage import study_lock

    plan = load_plan(write_study(tmp_path, trials=1))
    with study_lock(plan), pytest.raises(StudyConfigError, match="is running this study"):
        run_study(plan)


def fake_training(spec, task, config, report=None):
    """A stand-in for train_proxy: instant, deterministic in the spec."""
    if report is not None:
        report(1, {"train/loss": 1.0})
    return TrainResult(status="ok", accuracy=(len(spec.format()) % 7) / 7, loss=1.0)


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random", "grid"])
def test_every_sampler_drives_a_study(tmp_path, monkeypatch, sampler):
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    plan = load_plan(write_study(tmp_path, trials=4, sampler=sampler))
    summary = run_study(plan)
    assert summary.trained == summary.complete == 4 and summary.front_size >= 1
    params = [t.params for t in trials_of(plan) if t.state == TrialState.COMPLETE]
    assert all(set(p) == {"d_model", "kind", "d_state"} for p in params)


def test_gp_sampler_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    path = write_study(tmp_path, trials=2, sampler="gp")
    assert run_study(load_plan(path)).complete == 2


def test_gp_sampler_without_scipy_fails_clearly_before_writing(tmp_path, monkeypatch):
    import importlib.util

    from hybridlab.config import StudyConfigError
    from hybridlab.study import samplers

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        samplers.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "scipy" else real_find_spec(name, *a),
    )
    path = write_study(tmp_path, trials=2, sampler="gp")
    with pytest.raises(StudyConfigError, match=r"needs scipy: .venv/bin/pip install scipy"):
        load_plan(path)
    assert not (tmp_path / "out").exists(), "a study folder was created for an invalid study"


def test_a_sampler_stuck_on_infeasible_samples_falls_back_to_random(tmp_path, monkeypatch):
    from hybridlab.study import driver as runner_module

    # A sampler that only ever proposes an infeasible knob value (TPE can do this: it learns
    # from completed trials only).
    def stuck(config, space, seed_offset=0):
        base = optuna.samplers.RandomSampler(seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.PartialFixedSampler({"kind": "scan"}, base)

    monkeypatch.setattr(runner_module, "make_sampler", stuck)
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    space = KIND_SPACE + "constraints:\n  - \"kind != 'scan'\"\n"
    summary = run_study(load_plan(write_study(tmp_path, space=space, trials=3)))
    assert summary.complete == 3 and summary.infeasible >= 3 * runner_module.FALLBACK_AFTER
    plan = load_plan(write_study(tmp_path, space=space, trials=3))
    complete = [t for t in trials_of(plan) if t.state == TrialState.COMPLETE]
    assert all(t.user_attrs.get("sampled_by") == "random-fallback" for t in complete)


def test_an_rdb_url_stores_the_study_instead_of_the_journal(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    path = write_study(tmp_path, trials=2, extra=f"storage: {url}\n")
    plan = load_plan(path)
    assert run_study(plan).complete == 2
    assert (tmp_path / "studies.db").exists() and not (tmp_path / "out" / "study.journal").exists()
    study = optuna.load_study(study_name="tiny", storage=url)
    assert len(study.best_trials) >= 1 and study.user_attrs["hypervolume"] > 0


def test_a_repeated_architecture_reuses_the_earlier_result(tmp_path, monkeypatch):
    calls = []

    def counting(spec, task, config, report=None):
        calls.append((spec.format(), spec.d_model))
        return fake_training(spec, task, config, report)

    monkeypatch.setattr(worker_module, "train_proxy", counting)
    # 12 architectures in the space, 16 trials: some must repeat.
    plan = load_plan(write_study(tmp_path, trials=16))
    assert run_study(plan).complete == 16
    trials = {t.number: t for t in trials_of(plan)}
    duplicates = [t for t in trials.values() if "duplicate_of" in t.user_attrs]
    assert duplicates and len(calls) == 16 - len(duplicates) == len(set(calls))
    for t in duplicates:
        earlier = trials[t.user_attrs["duplicate_of"]]
        assert earlier.user_attrs["spec"] == t.user_attrs["spec"] and earlier.values == t.values


def test_a_grid_study_ends_when_every_point_was_tried(tmp_path):
    # KIND_SPACE has 2 x 3 x 2 = 12 grid points; the budget would allow 20 trials.
    plan = load_plan(write_study(tmp_path, trials=20, steps=1, sampler="grid"))
    summary = run_study(plan)
    trials = trials_of(plan)
    assert summary.stopped_by == "grid" and len(trials) == 12
    points = {(t.params["d_model"], t.params["kind"], t.params["d_state"]) for t in trials}
    assert len(points) == 12


def test_a_repeat_of_a_trial_still_training_waits_for_its_result_instead_of_training(
    tmp_path, monkeypatch
):
    from hybridlab.execution import Executor, TrialOutcome, run_trial

    class TwoAtOnce(Executor):
        max_concurrent = 2

        def __init__(self):
            super().__init__()
            self.submitted, self.trained = [], []

        def submit(self, request):
            self.submitted.append(request)
            self.trained.append(request.number)
            return request.number

        def wait(self, timeout=None):
            done, self.submitted = self.submitted, []
            return [TrialOutcome(r.number, run_trial(r.to_dict())) for r in done]

        @classmethod
        def check_config(cls, config):
            pass

    monkeypatch.setattr(worker_module, "train_proxy", fake_training)
    one_arch = KIND_SPACE.replace("kind: {choice: [ssd, scan, attn]}", "kind: {choice: [attn]}")
    one_arch = one_arch.replace("d_model: {choice: [16, 32]}", "d_model: {choice: [16]}")
    one_arch = one_arch.replace("d_state: {choice: [4, 8]}", "d_state: {choice: [4]}")
    plan = load_plan(write_study(tmp_path, space=one_arch, trials=4))
    executor = TwoAtOnce()
    summary = run_study(plan, executor=executor)
    assert summary.complete == 4 and executor.trained == [0]
    trials = sorted(trials_of(plan), key=lambda t: t.number)
    assert [t.user_attrs.get("duplicate_of") for t in trials] == [None, 0, 0, 0]
    assert len({tuple(t.values) for t in trials}) == 1


def test_a_relative_output_in_the_file_is_read_from_the_file_like_space(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_study(tmp_path / "project" / "studies", trials=1, output="../runs/x")
    plan = load_plan(path)
    assert plan.folder == tmp_path / "project" / "studies" / ".." / "runs" / "x"
    # On the command line, a relative path is read from the working directory.
    assert load_plan(path, ["output=here"]).folder == Path("here")
    # The default stays runs/<name> under the working directory.
    text = path.read_text().replace("output: ../runs/x\n", "")
    path.write_text(text)
    assert load_plan(path).folder == Path("runs") / "tiny"

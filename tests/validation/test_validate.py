"""Validation at a higher fidelity: which trials, what they are trained at, what is recorded and
resumed, the statistics on known inputs, MLflow's runs. Training is faked (fractions of a
second); `tests/test_cli_validate.py` runs the command line, one test with real training."""

from __future__ import annotations

import hashlib

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from scipy.stats import kendalltau, spearmanr
from study_helpers import write_study

from hybridlab.execution import worker as worker_module
from hybridlab.pareto import study_hypervolume
from hybridlab.spec import parse
from hybridlab.study import load_plan, run_study
from hybridlab.study.seed_runs import SEEDS_ATTR
from hybridlab.study.storage import open_study
from hybridlab.train import TrainResult
from hybridlab.validation import ValidateOptions, resolve_fidelity, validate_study
from hybridlab.validation.ranking import kendall_tau_b, rank_correlation, spearman_rho
from hybridlab.validation.report import Selected, build_report
from hybridlab.validation.runner import validation_attr
from hybridlab.validation.selection import select_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)
STEPS = 3


def quality(stack: str, d_model: int) -> float:
    """A fixed accuracy per architecture, in [0.1, 0.9)."""
    digest = hashlib.sha1(f"{stack}/{d_model}".encode()).hexdigest()
    return 0.1 + 0.8 * (int(digest, 16) % 9973) / 9973


class Scaling:
    """Fake training: accuracy set by the architecture, a little seed noise, and at more
    steps than the study's a monotone (or, with `reverse`, reversed) transform of it. Records
    what every run received; raises `KeyboardInterrupt` at run `interrupt_at` (1-based), as
    Ctrl-C would."""

    def __init__(self, *, reverse: bool = False) -> None:
        self.reverse = reverse
        self.calls: list[dict] = []
        self.interrupt_at: int | None = None

    def __call__(self, spec, task, config, report=None):
        scaled = config.steps > STEPS
        self.calls.append(
            {
                "stack": spec.format(),
                "d_model": spec.d_model,
                "vocab_size": spec.vocab_size,
                "steps": config.steps,
                "seed": config.seed,
                "seq_len": task.seq_len,
                "num_kv_pairs": task.config.num_kv_pairs,
                "scaled": scaled,
            }
        )
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        q = quality(spec.format(), spec.d_model)
        if scaled:
            q = 1.0 - q if self.reverse else 0.5 + q / 2
        return TrainResult(status="ok", accuracy=q + 1e-4 * (config.seed % 3), loss=1.0)


@pytest.fixture
def fake(monkeypatch):
    training = Scaling()
    monkeypatch.setattr(worker_module, "train_proxy", training)
    return training


def study_with_trials(tmp_path, fake, trials=8, extra=""):
    """A finished tiny study (fake training) and its path; the fake's calls are cleared."""
    path = write_study(tmp_path, trials=trials, steps=STEPS, extra=extra)
    run_study(load_plan(path))
    fake.calls.clear()
    return path


def validate(path, fidelity, **options):
    plan = load_plan(path)
    scaled = resolve_fidelity(path, [], fidelity, plan)
    return validate_study(plan, scaled, ValidateOptions(**options))


def candidates(path):
    """The study's complete trials without repeats: number → trial."""
    study = open_study(load_plan(path), create=False)
    return {
        t.number: t
        for t in study.get_trials(states=(TrialState.COMPLETE,))
        if t.user_attrs.get("duplicate_of") is None
    }


# -- which trials ---------------------------------------------------------------------------


def test_the_sample_spreads_over_the_ranks_and_top_k_spreads_along_the_front():
    directions, refs = ["maximize", "minimize"], [0.0, 100.0]
    # A front of 4 (0..3) trading accuracy for cost, then ranks 2, 3 and 4: each layer is the
    # one before it, a little worse in both.
    values = {}
    for layer in range(4):
        for i in range(4):
            values[layer * 4 + i] = [0.9 - 0.2 * i - 0.05 * layer, 70.0 - 20 * i + 5 * layer]
    selection = select_trials(values, directions, refs, top=None, sample=3, seed=0)
    assert selection.front == [0, 1, 2, 3] and selection.front_size == 4
    assert sorted(selection.ranks[n] for n in selection.sampled) == [2, 3, 4]
    assert select_trials(values, directions, refs, top=None, sample=3, seed=0) == selection
    # Two of three ranks: evenly spaced; all asked for: everything dominated.
    two = select_trials(values, directions, refs, top=None, sample=2, seed=1).sampled
    assert sorted(selection.ranks[n] for n in two) == [2, 4]
    every = select_trials(values, directions, refs, top=None, sample=50, seed=0).sampled
    assert sorted(every) == list(range(4, 16))
    # By default as many dominated trials as front trials.
    assert len(select_trials(values, directions, refs, top=2, sample=None).sampled) == 2
    # Top 2: greedily by hypervolume: the trial adding most alone, then the best partner.
    top = select_trials(values, directions, refs, top=2, sample=0).front
    alone = max(range(4), key=lambda n: study_hypervolume([values[n]], directions, refs))
    partner = max(
        (n for n in range(4) if n != alone),
        key=lambda n: study_hypervolume([values[alone], values[n]], directions, refs),
    )
    assert top == [alone, partner]


# -- statistics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scaled", "expected"),
    [
        pytest.param([0.2, 0.4, 0.6, 0.8, 0.95], 1.0, id="preserved"),
        pytest.param([0.9, 0.7, 0.5, 0.3, 0.1], -1.0, id="reversed"),
    ],
)
def test_a_kept_ranking_has_tau_and_rho_one_and_a_reversed_one_minus_one(scaled, expected):
    c = rank_correlation([0.1, 0.2, 0.3, 0.4, 0.5], scaled, seed=0)
    assert c.kendall_tau == pytest.approx(expected) and c.spearman == pytest.approx(expected)
    assert c.ci95 == pytest.approx([expected, expected])
    assert c.n == 5 and c.reason is None


@pytest.mark.filterwarnings("ignore:An input array is constant")
def test_the_coefficients_agree_with_scipy_with_ties_and_the_interval_is_seeded():
    rng = np.random.default_rng(0)
    for n in (3, 7, 40):
        x = rng.integers(0, 5, size=(6, n)).astype(float)
        y = rng.integers(0, 4, size=(6, n)).astype(float)
        taus, rhos = kendall_tau_b(x, y), spearman_rho(x, y)
        for i in range(6):
            assert taus[i] == pytest.approx(kendalltau(x[i], y[i]).statistic, nan_ok=True)
            assert rhos[i] == pytest.approx(spearmanr(x[i], y[i]).statistic, nan_ok=True)
    x, y = list(rng.normal(size=12)), list(rng.normal(size=12))
    first, again = rank_correlation(x, y, seed=3), rank_correlation(x, y, seed=3)
    assert first == again
    assert first.ci95[0] <= first.kendall_tau <= first.ci95[1]
    assert first.spearman_ci95[0] <= first.spearman <= first.spearman_ci95[1]


def test_too_few_trials_or_no_variation_give_no_coefficient_and_say_why():
    c = rank_correlation([0.1, 0.2], [0.3, 0.4])
    assert c.kendall_tau is None and c.ci95 is None and "needs 3" in c.reason
    c = rank_correlation([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])
    assert c.kendall_tau is None and "same value at the proxy" in c.reason


def test_front_retention_counts_the_proxy_front_trials_dominated_at_scale(tmp_path):
    plan = load_plan(write_study(tmp_path, steps=STEPS))
    fidelity = resolve_fidelity(tmp_path / "study.yaml", [], ["train.steps=2x"], plan)
    spec = parse("attn(heads=2)", d_model=16, vocab_size=32)
    costly = parse("attn(heads=2)*2", d_model=16, vocab_size=32)

    def trial(number, rank, spec, accuracy):
        values = {"accuracy": accuracy, "params": 0.0, "state_bytes": 0.0}
        return Selected(number, rank, spec.format(), spec.to_dict(), values, spec)

    selected = [
        trial(0, 1, spec, 0.6),
        trial(1, 1, spec, 0.5),
        trial(2, 1, costly, 0.9),
        trial(3, 2, costly, 0.4),
    ]
    # At scale trial 1 falls behind trial 0 (same costs), trial 3 overtakes trial 2.
    scaled = {0: 0.8, 1: 0.7, 2: 0.85, 3: 0.95}

    runs = {
        (t.number, side): [
            {"seed": 1, "values": {"accuracy": t.values["accuracy"] if side == "proxy" else s}}
        ]
        for t in selected
        for side, s in (("proxy", None), ("scaled", scaled[t.number]))
    }
    summary = build_report(plan, fidelity, ValidateOptions(seeds=2), selected, runs, trained=0)
    report = summary.report
    assert report["front"]["retained"] == [0] and report["front"]["lost"] == [1, 2]
    assert report["front_retention"] == pytest.approx(1 / 3)
    assert report["front"]["front_at_scale"] == [0, 3]
    by_number = {t["number"]: t for t in report["trials"]}
    assert by_number[3]["front_at_scale"] and by_number[3]["retained"] is None
    assert by_number[0]["scaled_costs"]["params"] < by_number[2]["scaled_costs"]["params"]
    # Two runs per side and trial: the study's own value and one seed run at the proxy.
    assert by_number[0]["proxy"]["accuracy"]["n"] == 2
    assert summary.metrics["front_retention"] == pytest.approx(1 / 3)


# -- what runs, what is recorded ------------------------------------------------------------


def test_the_front_and_a_sample_are_trained_at_the_fidelity_each_under_every_seed(tmp_path, fake):
    path = study_with_trials(tmp_path, fake)
    trials = candidates(path)
    before = len(open_study(load_plan(path), create=False).trials)
    report = validate(
        path,
        [
            "train.steps=2x",
            "model.d_model=2x",
            "task.seq_len=2x",
            "task.num_kv_pairs=2x",
            "task.vocab_size=2x",
        ],
        seeds=2,
        sample=2,
    )
    chosen = [t["number"] for t in report["trials"]]
    front = [t["number"] for t in report["trials"] if t["front"]]
    best = open_study(load_plan(path), create=False).best_trials
    assert front == sorted(t.number for t in best if t.number in trials)
    assert len(chosen) == len(front) + min(2, len(trials) - len(front))
    scaled = [c for c in fake.calls if c["scaled"]]
    proxy = [c for c in fake.calls if not c["scaled"]]
    # At the fidelity: 2 seeds per trial, twice the steps, width, length and pairs.
    assert len(scaled) == 2 * len(chosen) and {c["seed"] for c in scaled} == {0, 1}
    assert {(c["steps"], c["seq_len"], c["num_kv_pairs"]) for c in scaled} == {(6, 32, 4)}
    assert {c["vocab_size"] for c in scaled} == {64}
    widths = {trials[n].user_attrs["spec"]["d_model"] * 2 for n in chosen}
    assert {c["d_model"] for c in scaled} == widths
    # At the proxy: the trial itself is seed 0; one more seed, at the study's settings.
    assert len(proxy) == len(chosen) and {c["seed"] for c in proxy} == {1}
    assert {(c["steps"], c["seq_len"], c["num_kv_pairs"]) for c in proxy} == {(3, 16, 2)}
    assert {c["vocab_size"] for c in proxy} == {32}
    study = open_study(load_plan(path), create=False)
    assert sorted(int(n) for n in study.user_attrs[SEEDS_ATTR]) == sorted(chosen)
    record = study.user_attrs[validation_attr(report["fingerprint"])]
    assert record["fidelity"] == {
        "train.steps": "2x",
        "model.d_model": "2x",
        "task.seq_len": "2x",
        "task.num_kv_pairs": "2x",
        "task.vocab_size": "2x",
    }
    assert record["settings"]["train"]["steps"] == 6 and record["settings"]["model"] == {
        "d_model": "2x"
    }
    assert all(len(record["runs"][str(n)]) == 2 for n in chosen)
    assert report["resolved"] == {
        "train.steps": 6,
        "task.seq_len": 32,
        "task.num_kv_pairs": 4,
        "task.vocab_size": 64,
    }
    # Validation runs are not trials.
    assert len(study.trials) == before


def test_a_second_run_trains_only_what_is_missing_and_an_interrupted_one_keeps_what_ended(
    tmp_path, fake
):
    path = study_with_trials(tmp_path, fake)
    fake.interrupt_at = 3
    with pytest.raises(KeyboardInterrupt):
        validate(path, ["train.steps=2x"], seeds=1, top=2, sample=1)
    assert len(fake.calls) == 3
    fake.calls.clear()
    fake.interrupt_at = None
    report = validate(path, ["train.steps=2x"], seeds=1, top=2, sample=1)
    # Three trials, one scaled run each (seeds=1: the proxy is the trial itself); two had ended.
    assert len(report["trials"]) == 3 and len(fake.calls) == 1
    assert report["runs"]["trained"] == 1

    fake.calls.clear()
    again = validate(path, ["train.steps=2x"], seeds=1, top=2, sample=1)
    assert fake.calls == [] and again["runs"]["trained"] == 0
    assert again["rank_correlation"] == report["rank_correlation"]

    # More seeds: only the new seed at each fidelity; the same fidelity written as a value.
    report = validate(path, ["train.steps=6"], seeds=2, top=2, sample=1)
    assert report["fingerprint"] == again["fingerprint"]
    assert (
        sorted((c["scaled"], c["seed"]) for c in fake.calls) == [(False, 1)] * 3 + [(True, 1)] * 3
    )


def test_a_kept_ranking_scores_one_and_a_reversed_one_minus_one_end_to_end(tmp_path, fake):
    path = study_with_trials(tmp_path, fake, trials=10)
    report = validate(path, ["train.steps=2x"], seeds=2, sample=3)
    c = report["rank_correlation"]["accuracy"]
    assert c["n"] == len(report["trials"]) >= 3
    assert c["kendall_tau"] == pytest.approx(1.0) and c["spearman"] == pytest.approx(1.0)
    # A monotone change of one objective keeps every dominance: the whole front stays.
    assert report["front_retention"] == 1.0
    noise = report["seed_noise"]["accuracy"]
    assert noise["proxy"] == pytest.approx(np.std([0.0, 1e-4], ddof=1))
    assert noise["scaled"] == pytest.approx(np.std([0.0, 1e-4], ddof=1))

    fake.reverse = True
    reversed_ = validate(path, ["train.steps=4x"], seeds=2, sample=3)
    assert reversed_["rank_correlation"]["accuracy"]["kendall_tau"] == pytest.approx(-1.0)
    assert reversed_["rank_correlation"]["accuracy"]["spearman"] == pytest.approx(-1.0)
    assert reversed_["fingerprint"] != report["fingerprint"]


def test_an_architecture_that_cannot_be_built_at_the_new_width_is_reported_for_its_trial(
    tmp_path, fake
):
    path = study_with_trials(tmp_path, fake, trials=10)
    # At width 18 an SSD layer's heads (2·18 / headdim 8) and attention's head size (18 / 2
    # heads, odd: RoPE rotates pairs) do not work; a selective scan does.
    report = validate(path, ["train.steps=2x", "model.d_model=18"], seeds=1)
    built = [t for t in report["trials"] if t["scaled_spec"] is not None]
    for trial in report["trials"]:
        if trial["stack"].startswith("scan"):
            assert trial in built and trial["scaled_spec"]["d_model"] == 18
        else:
            assert "cannot be built at d_model=18" in trial["error"] and trial["scaled"] == {}
    assert report["runs"]["unbuildable"] == len(report["trials"]) - len(built)
    assert len([c for c in fake.calls if c["scaled"]]) == len(built)


def test_mlflow_has_a_validation_run_linked_to_the_study_a_child_per_run_and_no_pareto_tag(
    tmp_path, fake
):
    import mlflow

    path = study_with_trials(tmp_path, fake, trials=5, extra="tracking: mlflow\n")
    report = validate(path, ["train.steps=2x"], seeds=2, sample=1)
    plan = load_plan(path)
    client = mlflow.MlflowClient(f"sqlite:///{plan.folder.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny").experiment_id
    (study_run,) = client.search_runs([experiment], "tags.`hybridlab.role` = 'study'")
    (parent,) = client.search_runs([experiment], "tags.`hybridlab.role` = 'validation'")
    tags = parent.data.tags
    assert tags["hybridlab.validates"] == study_run.info.run_id
    assert tags["hybridlab.validation"] == report["fingerprint"]
    assert parent.info.run_name == f"validate-{report['fingerprint']}"
    assert parent.data.params["fidelity.train.steps"] == "2x"
    assert parent.data.params["scaled.train.steps"] == "6"
    assert parent.data.metrics["kendall_tau/accuracy"] == pytest.approx(
        report["rank_correlation"]["accuracy"]["kendall_tau"]
    )
    children = client.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert len(children) == report["runs"]["trained"] == 3 * len(report["trials"])
    assert all(run.data.tags["hybridlab.role"] == "validation-run" for run in children)
    assert all("value/accuracy" in run.data.metrics for run in children)
    # The study's front view lists trials only.
    front = client.search_runs([experiment], "tags.pareto = 'true'")
    assert front and all(run.data.tags["hybridlab.role"] == "trial" for run in front)
    assert not any("pareto" in run.data.tags for run in [parent, *children])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"validation.json", "validation.png"} <= artifacts

    # Again with one more seed: the same validation run, children for the new runs only.
    validate(path, ["train.steps=2x"], seeds=3, sample=1)
    (again,) = client.search_runs([experiment], "tags.`hybridlab.role` = 'validation'")
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    children = client.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert len(children) == 5 * len(report["trials"])

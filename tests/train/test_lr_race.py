"""The learning-rate race: each candidate from the same start on the same batches, the winner
continues, the dropped candidates' steps are counted, and training loss or the validation split
(never the test split) decides; a race over every step is a full sweep."""

from __future__ import annotations

import pytest

from hybridlab.spec import parse
from hybridlab.tasks import make_task
from hybridlab.train import TrainConfig, train_proxy


def _task(**overrides):
    settings = {"vocab_size": 80, "num_kv_pairs": 4, "num_train_examples": 256}
    return make_task("mqar", {**settings, "num_eval_examples": 32, **overrides})


def _config(**overrides):
    settings = {"steps": 10, "batch_size": 8, "eval_every": None, "log_every": 1}
    settings.update(device="cpu", num_threads=1, lr_race_fraction=0.4)
    return TrainConfig(**{**settings, **overrides})


SPEC = parse("ssd(d_state=8, headdim=16), attn(heads=2)", d_model=32)


def test_the_winner_continues_as_if_it_had_trained_alone():
    raced = train_proxy(SPEC, _task(), _config(lr_race=[1e-4, 3e-3, 1e-2]))
    assert [lr for lr, _ in raced.lr_race] == [1e-4, 3e-3, 1e-2]
    scores = {lr: score for lr, score in raced.lr_race}
    assert raced.lr == min(scores, key=lambda lr: scores[lr])
    # Four race steps per candidate; the two dropped ones are extra compute.
    assert raced.race_steps == 2 * 4 and raced.steps_done == 10
    alone = train_proxy(SPEC, _task(), _config(lr=raced.lr))
    assert alone.lr == raced.lr and alone.lr_race == [] and alone.race_steps == 0
    assert raced.loss == alone.loss and raced.accuracy == alone.accuracy

    def train_losses(result):
        return [(h["step"], h["train/loss"]) for h in result.history if "train/loss" in h]

    # The winner's history starts after the race, where the lone run's is the same.
    assert train_losses(raced) == [(s, v) for s, v in train_losses(alone) if s > 4]
    assert {"race/lr": raced.lr, "race/loss": scores[raced.lr], "step": 4} in raced.history


def test_the_race_score_is_the_mean_training_loss_of_its_last_fifth():
    raced = train_proxy(SPEC, _task(), _config(lr_race=[1e-3, 2e-3], lr_race_fraction=0.5))
    for lr, score in raced.lr_race:
        alone = train_proxy(SPEC, _task(), _config(lr=lr, steps=10))
        # 5 race steps: the last fifth is the fifth step alone.
        fifth = [h["train/loss"] for h in alone.history if h.get("step") == 5]
        assert score == pytest.approx(fifth[0], rel=1e-6)


def test_a_rate_that_diverges_is_out_of_the_race():
    raced = train_proxy(SPEC, _task(), _config(lr_race=[1e3, 1e-3], grad_clip=None))
    assert raced.status == "ok" and raced.lr == 1e-3
    assert raced.lr_race[0] == [1e3, None]


def test_one_candidate_is_no_race():
    result = train_proxy(SPEC, _task(), _config(lr_race=[2e-3]))
    assert result.lr == 2e-3 and result.race_steps == 0 and result.lr_race == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"lr_race": [1e-3, -1.0]}, "every rate must be a positive", id="negative"),
        pytest.param({"lr_race": [1e-3, 1e-3]}, "listed twice", id="repeated"),
        pytest.param({"lr_race_fraction": 1.5}, r"lr_race_fraction must be in \(0, 1\]", id="frac"),
        pytest.param({"lr_race_judge": "test"}, "lr_race_judge must be one of", id="judge"),
    ],
)
def test_bad_race_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        _config(**settings).validate()


VALIDATED = {"num_valid_examples": 16}


def test_the_validation_judge_scores_each_rate_by_its_loss_on_the_validation_split():
    config = _config(lr_race=[1e-3, 1e-2], lr_race_judge="validation")
    raced = train_proxy(SPEC, _task(**VALIDATED), config)
    validation = _task(**VALIDATED).valid_set()
    for lr, score in raced.lr_race:
        # The race's 4 steps alone, scored on the validation split put where the test split was.
        probe = _task(**VALIDATED)
        probe._eval = validation
        alone = train_proxy(SPEC, probe, _config(lr=lr, eval_at=[4]))
        at_4 = next(h["eval/loss"] for h in alone.history if h["step"] == 4 and "eval/loss" in h)
        assert score == pytest.approx(at_4, rel=1e-5)
    scores = {lr: score for lr, score in raced.lr_race}
    assert raced.lr == min(scores, key=lambda lr: scores[lr])


def test_the_test_split_never_chooses_the_rate():
    config = _config(lr_race=[1e-3, 1e-2], lr_race_judge="validation")
    raced = train_proxy(SPEC, _task(**VALIDATED), config)
    scrambled = _task(**VALIDATED)
    scrambled.valid_set()  # drawn against the true test split, then the test split is changed
    ids, targets = scrambled.eval_set()
    scrambled._eval = (ids.flip(0), targets.flip(0).roll(1, dims=1))
    rerun = train_proxy(SPEC, scrambled, config)
    assert rerun.lr_race == raced.lr_race and rerun.lr == raced.lr


def test_a_race_over_every_step_is_a_full_sweep():
    swept = train_proxy(SPEC, _task(), _config(lr_race=[1e-3, 1e-2], lr_race_fraction=1.0))
    assert swept.steps_done == 10 and swept.race_steps == 10
    alone = train_proxy(SPEC, _task(), _config(lr=swept.lr))
    assert swept.loss == alone.loss and swept.accuracy == alone.accuracy


def test_the_validation_judge_needs_a_validation_split():
    config = _config(lr_race=[1e-3, 1e-2], lr_race_judge="validation")
    with pytest.raises(ValueError, match=r"task\.num_valid_examples"):
        train_proxy(SPEC, _task(), config)

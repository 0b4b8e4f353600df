"""train_members: each member equals its lone train_proxy run; failures, stops and bad input."""

import pytest
import torch
from helpers import assert_close

import hybridlab
from hybridlab.tasks import make_task
from hybridlab.train import StopTraining, TrainConfig, train_proxy
from hybridlab.train.members import Member, MemberStack, member_grid, train_members

# Two seeds and two rates, not a full grid: members differ in one or the other.
MEMBERS = [Member(0, 3e-3), Member(1, 3e-3), Member(0, 1e-2)]

ARCHITECTURES = [
    pytest.param("ssd(d_state=16, headdim=16)*2", id="ssd"),
    pytest.param("attn(heads=2), attn(heads=4, kv_heads=2, window=8)", id="attn"),
    pytest.param("scan(d_state=8)*2", id="scan"),
    pytest.param("gdn(heads=2)*2", id="gdn"),
    pytest.param("ssd(d_state=16, headdim=16, ngroups=2), attn(heads=2), mlp", id="hybrid"),
    pytest.param(
        "scan(d_state=8, inner_norms=true), gdn(heads=2, use_gate=false, allow_neg_eigval=true), "
        "mlp(activation=relu2)",
        id="other-knobs",
    ),
]


def _spec(text="attn(heads=2), mlp"):
    return hybridlab.parse(text, d_model=32)


def _task(**overrides):
    settings = {"vocab_size": 80, "num_kv_pairs": 4, "num_train_examples": 256}
    return make_task("mqar", {**settings, "num_eval_examples": 32, **overrides})


def _config(**overrides):
    settings = {"steps": 6, "batch_size": 8, "eval_every": 3, "log_every": 2, "device": "cpu"}
    settings |= {"num_threads": 1, "weight_decay": 0.1}
    return TrainConfig(**{**settings, **overrides})


def _lone(spec, task, config, member):
    """The lone train_proxy run of `member`."""
    return train_proxy(spec, task, TrainConfig(**{**vars(config), **vars(member)}))


def _assert_same_history(actual, expected):
    assert [sorted(h) for h in actual] == [sorted(h) for h in expected]
    for got, want in zip(actual, expected, strict=True):
        for key, value in want.items():
            if key != "train/tokens_per_s":  # a clock, not a result
                assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (got["step"], key)


@pytest.mark.parametrize("text", ARCHITECTURES)
def test_each_member_equals_its_lone_run(text):
    spec, task, config = _spec(text), _task(), _config(keep_weights=True)
    results = train_members(spec, task, config, MEMBERS)
    labelled = 32 * 4  # evaluation examples × queries
    for member, result in zip(MEMBERS, results, strict=True):
        lone = _lone(spec, task, config, member)
        assert (result.status, result.stop_reason, result.steps_done, result.lr) == (
            lone.status,
            lone.stop_reason,
            lone.steps_done,
            member.lr,
        )
        assert result.loss == pytest.approx(lone.loss, rel=1e-5)
        # An argmax may flip on a near-tie at float32 rounding: one position at most.
        assert abs(result.accuracy - lone.accuracy) <= 1 / labelled
        _assert_same_history(result.history, lone.history)
        # Float32 rounding differs in the last bits (a batched matmul, folded kernels); AdamW
        # turns such differences in a near-zero gradient into a step of up to lr.
        assert result.weights.keys() == lone.weights.keys()
        for name, weight in lone.weights.items():
            assert_close(result.weights[name], weight, rel_rms=1e-4, name=f"{member} {name}")


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "per-member"])
@pytest.mark.parametrize("text", ARCHITECTURES)
def test_both_kernel_layouts_give_each_members_logits_and_gradients(text, fold):
    spec = hybridlab.parse(text, d_model=32, vocab_size=40)
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(hybridlab.build_model(spec))
    stack = MemberStack(models, fold_kernels=fold)
    ids = torch.randint(0, 40, (3, 4, 24))
    logits = stack(ids)
    logits.square().mean((1, 2, 3)).sum().backward()
    for m, model in enumerate(models):
        expected = model(ids[m])
        expected.square().mean().backward()
        assert_close(logits[m], expected, rel_rms=1e-6, name=f"member {m} logits")
        for name, param in model.named_parameters():
            assert_close(stack.params[name].grad[m], param.grad, rel_rms=1e-5, name=name)


def test_members_draw_fresh_examples_of_a_training_mixture_as_their_lone_runs_do():
    task = _task(num_train_examples=None, train_num_kv_pairs=[1, 2, 4])
    spec, config = _spec(), _config(keep_weights=True)
    results = train_members(spec, task, config, MEMBERS)
    for member, result in zip(MEMBERS, results, strict=True):
        lone = _lone(spec, task, config, member)
        _assert_same_history(result.history, lone.history)
        for name, weight in lone.weights.items():
            assert_close(result.weights[name], weight, rel_rms=1e-4, name=f"{member} {name}")


def test_a_diverging_member_fails_alone():
    # A rate of 1e30 sends the weights past float32's range within a few steps.
    members = [Member(0, 3e-3), Member(0, 1e30), Member(1, 1e-2)]
    spec, task, config = _spec(), _task(), _config(log_every=1, keep_weights=True)
    results = train_members(spec, task, config, members)
    for member, result in zip(members, results, strict=True):
        lone = _lone(spec, task, config, member)
        assert (result.status, result.failure_reason, result.steps_done) == (
            lone.status,
            lone.failure_reason,
            lone.steps_done,
        )
        assert (result.weights is None) == (lone.weights is None)
        _assert_same_history(result.history, lone.history)
    assert results[1].failure_reason.startswith("non-finite loss at step")
    assert results[0].ok and results[2].ok


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate"), id="torch"),
        pytest.param(RuntimeError("DefaultCPUAllocator: can't allocate memory"), id="cpu"),
    ],
)
def test_out_of_memory_fails_every_member(monkeypatch, error):
    def out_of_memory(stack, ids):
        raise error

    monkeypatch.setattr(MemberStack, "__call__", out_of_memory)
    results = train_members(_spec(), _task(), _config(), MEMBERS)
    for result in results:
        assert result.status == "failed" and result.stop_reason is None
        assert result.failure_reason.startswith("out of memory at step 0")
        assert result.wall_time_s > 0 and result.peak_memory_bytes > 0


def test_other_errors_propagate(monkeypatch):
    def bug(stack, ids):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(MemberStack, "__call__", bug)
    with pytest.raises(ZeroDivisionError):
        train_members(_spec(), _task(), _config(), MEMBERS)


def test_each_member_stops_at_its_target_accuracy():
    # With 16 ids, chance alone gets some of the ~300 labelled positions right.
    settings = {"seq_len": 32, "num_train_examples": 64, "num_eval_examples": 32}
    task = make_task("in-context-recall", settings)
    config = _config(steps=12, eval_every=2, target_accuracy=0.09, keep_weights=True)
    spec, members = _spec(), member_grid([0, 1, 2], [3e-3])
    results = train_members(spec, task, config, members)
    for member, result in zip(members, results, strict=True):
        lone = _lone(spec, task, config, member)
        assert (result.stop_reason, result.steps_done) == (lone.stop_reason, lone.steps_done)
        _assert_same_history(result.history, lone.history)
        # The weights of a member that stopped early are those it stopped with.
        for name, weight in lone.weights.items():
            assert_close(result.weights[name], weight, rel_rms=1e-4, name=f"{member} {name}")
    assert {r.stop_reason for r in results} == {"target_accuracy", "completed"}


@pytest.mark.parametrize(
    ("stop_on", "stop_step"),
    [pytest.param("train/loss", 2, id="at-a-log"), pytest.param("eval/loss", 3, id="at-an-eval")],
)
def test_report_names_the_member_and_can_stop_them_all(stop_on, stop_step):
    calls = []

    def report(member, step, metrics):
        calls.append((member, step, metrics))
        if stop_on in metrics and member == 0:
            raise StopTraining

    results = train_members(_spec(), _task(), _config(steps=50), MEMBERS, report=report)
    for m, result in enumerate(results):
        assert result.stop_reason == "report" and result.steps_done == stop_step
        # Every member's metrics of the step the report stopped at are recorded and reported.
        assert result.history == [{"step": s, **x} for member, s, x in calls if member == m]
        assert result.history[-1]["step"] == stop_step and "eval/accuracy" in result.history[-1]


@pytest.mark.parametrize(
    ("members", "overrides", "error", "message"),
    [
        pytest.param([], {}, ValueError, "members is empty", id="no-members"),
        pytest.param(
            [(0, 1e-3), (0, 1e-3)], {}, ValueError, r"members\[1\] repeats", id="duplicate"
        ),
        pytest.param([(0, 0.0)], {}, ValueError, r"members\[0\].*train\.lr", id="zero-lr"),
        pytest.param([(-1, 1e-3)], {}, ValueError, r"members\[0\].*train\.seed", id="bad-seed"),
        pytest.param([(0, "fast")], {}, TypeError, r"members\[0\]: lr", id="lr-not-a-number"),
        pytest.param([0], {}, TypeError, r"members\[0\] must be a Member", id="not-a-pair"),
        pytest.param(Member(0, 1e-3), {}, TypeError, "sequence of Member", id="one-member-bare"),
        pytest.param(
            [(0, 1e-3)], {"lr_race": [1e-3, 1e-2]}, ValueError, "member_grid", id="lr-race"
        ),
    ],
)
def test_bad_members_are_refused(members, overrides, error, message):
    with pytest.raises(error, match=message):
        train_members(_spec(), _task(), _config(**overrides), members)


def test_a_last_state_task_is_refused():
    task = make_task("compression", {"num_train_examples": 64, "num_eval_examples": 16})
    with pytest.raises(ValueError, match=r"compression.*last state"):
        train_members(_spec(), task, _config(), MEMBERS)


def test_the_stack_refuses_models_of_other_architectures():
    first = hybridlab.build_model(_spec("attn(heads=2)"))
    other = hybridlab.build_model(_spec("attn(heads=4)"))
    with pytest.raises(ValueError, match="share one architecture"):
        MemberStack([first, other])
    stack = MemberStack([first, first])
    with pytest.raises(ValueError, match=r"ids must be \(members=2"):
        stack(torch.zeros(3, 1, 4, dtype=torch.long))

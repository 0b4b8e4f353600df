"""The task's vocabulary wins; an explicit smaller one is an error."""

import pytest

import hybridlab
from hybridlab.tasks import make_task
from hybridlab.train import fit_spec

MQAR = make_task("mqar", {"vocab_size": 512})


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("attn, mlp", id="stack-text"),
        pytest.param("*-", id="pattern"),
        pytest.param("d_model: 32\nstack: attn, mlp\n", id="yaml-without-vocab"),
        pytest.param(hybridlab.parse("attn, mlp", vocab_size=16), id="model-spec"),
    ],
)
def test_task_vocab_replaces_an_unstated_one(source):
    assert fit_spec(source, MQAR).vocab_size == 512


def test_explicit_smaller_vocab_is_an_error(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("vocab_size: 256\nstack: attn, mlp\n")
    for source in (str(path), path.read_text()):
        with pytest.raises(ValueError, match=r"vocab_size=256 is smaller than task 'mqar'"):
            fit_spec(source, MQAR)
    with pytest.raises(ValueError, match="smaller"):
        fit_spec("attn", MQAR, vocab_size=100)


def test_explicit_larger_vocab_is_reduced_with_a_warning():
    with pytest.warns(UserWarning, match="reduced"):
        spec = fit_spec("vocab_size: 1024\nstack: attn\n", MQAR)
    assert spec.vocab_size == 512


def test_d_model_override():
    assert fit_spec("d_model: 32\nstack: attn\n", MQAR, d_model=64).d_model == 64

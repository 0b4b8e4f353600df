"""`train.keep_weights`: the trained HybridLM's state_dict comes back with the result (never in
its plain data), and a worker writes it where the request says, whole or not at all."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from hybridlab.execution import TrialRequest
from hybridlab.execution.worker import run_trial
from hybridlab.model import HybridLM
from hybridlab.spec import parse
from hybridlab.tasks import make_task
from hybridlab.train import TrainConfig, train_proxy

TASK = {"vocab_size": 32, "seq_len": 16, "num_kv_pairs": 2, "num_train_examples": 16,
        "num_eval_examples": 8}  # fmt: skip
TRAIN = {"steps": 2, "batch_size": 4, "eval_every": None, "device": "cpu"}


@pytest.mark.parametrize("keep", [False, True], ids=["dropped", "kept"])
def test_weights_are_kept_only_when_asked_and_never_in_the_data(keep):
    task = make_task("mqar", TASK)
    result = train_proxy("ssd(d_state=4, headdim=8), attn(heads=2)", task,
                         TrainConfig(**TRAIN, keep_weights=keep))  # fmt: skip
    assert "weights" not in result.to_dict()
    json.dumps(result.to_dict())
    if not keep:
        assert result.weights is None
        return
    model = HybridLM(parse(result.spec, vocab_size=32))
    model.load_state_dict(result.weights)  # strict: every name and shape
    assert all(t.device.type == "cpu" for t in result.weights.values())


def test_the_worker_writes_the_weights_where_the_request_says(tmp_path):
    path = tmp_path / "weights" / "trial-3.safetensors"
    request = TrialRequest(
        number=3,
        spec={"d_model": 16, "stack": "attn(heads=2), mlp"},
        task={"name": "mqar", **TASK},
        train={**TRAIN, "keep_weights": True},
        weights_path=str(path),
    )
    result = run_trial(request.to_dict())
    assert result["weights_path"] == str(path)
    assert not path.with_name(path.name + ".partial").exists()
    weights = load_file(path)
    model = HybridLM(parse("attn(heads=2), mlp", d_model=16, vocab_size=32))
    model.load_state_dict(weights)  # strict: every name and shape of the architecture
    assert all(torch.isfinite(t).all() for t in weights.values())

"""A study's front leaves the lab: with `train.keep_weights` each trial's trained weights are
kept beside the study, and `export_front` writes every front trial as a transformers model
that loads with those weights (equal logits to the trained proxy), refuses what its family
cannot express with the reason, and attaches the files to the trial's MLflow run."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from study_helpers import write_study

from hybridlab.model import HybridLM
from hybridlab.spec import parse
from hybridlab.study import load_plan, run_study
from hybridlab.study.front import study_front
from hybridlab.study.handoff import export_front
from hybridlab.study.storage import open_study
from hybridlab.testing import assert_close
from hybridlab.tracking import FrontPoint

# Llama expresses an attention + MLP stack; a scan + attention stack has no family.
SPACE = """\
knobs:
  mixer: {choice: ["attn(heads=2), mlp", "scan(d_state=4), attn(heads=2)"]}
model:
  d_model: 16
  stack: "${knobs.mixer}"
"""


def write(tmp_path, extra=""):
    return write_study(tmp_path, space=SPACE, trials=2, steps=2, sampler="grid", extra=extra)


@pytest.mark.slow
def test_kept_weights_export_as_loadable_models_and_refusals_say_why(tmp_path, transformers):
    plan = load_plan(write(tmp_path), ["train.keep_weights=true"])
    run_study(plan)
    study = open_study(plan, create=False)
    weights = {t.number: t.user_attrs["weights_path"] for t in study.trials}
    assert all(load_file(path) for path in weights.values())
    front = study_front(study, plan.labels)

    done = {h.stack: h for h in export_front(plan, front, weights, tmp_path / "hf", to="hf")}
    llama = next(h for stack, h in done.items() if stack.startswith("attn"))
    assert llama.family == "llama" and llama.with_weights and llama.refused is None
    model = transformers.AutoModelForCausalLM.from_pretrained(llama.out)
    ours = HybridLM(parse(front[[p.number for p in front].index(llama.number)].spec))
    ours.load_state_dict(load_file(weights[llama.number]))
    ids = torch.randint(0, ours.spec.vocab_size, (2, 9))
    with torch.no_grad():
        theirs, mine = model(ids).logits, ours(ids)
    assert_close(theirs, mine, rel_rms=1e-5, name="logits")
    assert (theirs - mine).abs().max().item() <= 1e-4
    # The scan + attention trial, on the front or not, is refused by name, and nothing written.
    trial = next(t for t in study.trials if t.user_attrs["stack"].startswith("scan"))
    point = FrontPoint(
        number=trial.number,
        values={},
        params=trial.params,
        stack=trial.user_attrs["stack"],
        pattern=trial.user_attrs["pattern"],
        spec=trial.user_attrs["spec"],
    )
    (refused,) = export_front(plan, [point], weights, tmp_path / "refused", to="hf")
    assert refused.refused.startswith("cannot export to Jamba: layer 1 (attn(heads=2))")
    assert refused.out is None and not (tmp_path / "refused" / f"trial_{trial.number:04d}").exists()


def test_without_kept_weights_the_export_is_the_config_alone(tmp_path, transformers):
    plan = load_plan(write(tmp_path))
    run_study(plan)
    study = open_study(plan, create=False)
    front = study_front(study, plan.labels)
    done = export_front(plan, front, {}, tmp_path / "hf", to="hf")
    exported = [h for h in done if h.refused is None]
    assert exported and all(not h.with_weights for h in exported)
    assert all([f.name for f in h.files] == ["config.json"] for h in exported)
    assert "weights_path" not in study.trials[0].user_attrs


@pytest.mark.slow
def test_exported_configs_are_attached_to_the_trials_mlflow_runs(tmp_path, transformers):
    from mlflow.tracking import MlflowClient

    plan = load_plan(write(tmp_path, extra="tracking: mlflow\n"))
    run_study(plan)
    study = open_study(plan, create=False)
    done = export_front(plan, study_front(study, plan.labels), {}, tmp_path / "hf", to="hf")
    client = MlflowClient(tracking_uri=f"sqlite:///{plan.folder.resolve() / 'mlflow.db'}")
    runs = client.search_runs(
        [client.get_experiment_by_name(plan.name).experiment_id],
        "tags.trial_number != ''",
    )
    by_number = {int(r.data.tags["trial_number"]): r.info.run_id for r in runs}
    for handoff in done:
        listed = [a.path for a in client.list_artifacts(by_number[handoff.number], "export/hf")]
        assert listed == ([] if handoff.refused else ["export/hf/config.json"])


def test_study_pareto_exports_the_front_to_transformers(tmp_path, transformers):
    from typer.testing import CliRunner

    from hybridlab.cli import app

    runner = CliRunner()
    path = write(tmp_path)
    assert runner.invoke(app, ["study", "run", str(path), "train.keep_weights=true"]).exit_code == 0
    out = tmp_path / "front"
    args = ["study", "pareto", str(path), "train.keep_weights=true", "--export", str(out)]
    result = runner.invoke(app, [*args, "--to", "hf", "--json"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)["exported"]
    loaded = [e for e in exported if not e["refused"]]
    assert loaded and all(e["with_weights"] for e in loaded)
    for item in loaded:
        model = transformers.AutoModelForCausalLM.from_pretrained(item["out"])
        assert model.config.model_type == item["family"]
    # Again into the same folder: an earlier export's folders are replaced, not refused.
    assert runner.invoke(app, [*args, "--to", "hf"]).exit_code == 0
    bad = runner.invoke(app, ["study", "pareto", str(path), "--to", "onnx", "--export", str(out)])
    assert bad.exit_code == 2 and "--to: 'onnx' is not a target" in bad.output
    alone = runner.invoke(app, ["study", "pareto", str(path), "--to", "hf"])
    assert alone.exit_code == 2 and "give --export FOLDER too" in alone.output

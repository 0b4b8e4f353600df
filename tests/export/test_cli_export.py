"""`hybridlab export` end to end: exit codes, one-line messages, the files written."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

import hybridlab
from hybridlab.cli import app

runner = CliRunner()
STACK = "[ssd(d_state=16, headdim=16), mlp(activation=relu2)]*2, attn(rope=false)"


def run(*args: str):
    return runner.invoke(app, ["export", *args])


def test_hf_with_a_checkpoint_writes_config_and_weights(transformers, tmp_path):
    spec = hybridlab.parse(STACK, d_model=64, vocab_size=50)
    torch.save(hybridlab.build_model(spec).state_dict(), tmp_path / "proxy.pt")
    out = tmp_path / "nh"
    result = run(
        STACK,
        "--d-model",
        "64",
        "--vocab-size",
        "50",
        "--to",
        "hf",
        "--out",
        str(out),
        "--weights",
        str(tmp_path / "proxy.pt"),
    )
    assert result.exit_code == 0, result.output
    assert "nemotron_h (config.json and model.safetensors)" in result.output
    assert "note: Nemotron-H ties no output head" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == "NemotronHForCausalLM"


def test_hf_without_weights_writes_the_config_only(tmp_path):
    result = run("[attn, mlp]*2", "--to", "hf", "--out", str(tmp_path / "llama"))
    assert result.exit_code == 0, result.output
    assert "llama (config.json, no weights)" in result.output
    assert [p.name for p in (tmp_path / "llama").iterdir()] == ["config.json"]


def test_megatron_prints_and_writes_the_block(tmp_path):
    result = run(STACK, "--to", "megatron", "--out", str(tmp_path / "mega"))
    assert result.exit_code == 0, result.output
    assert "--hybrid-override-pattern 'M-M-*'" in result.output
    assert (tmp_path / "mega" / "megatron_args.sh").read_text() in result.output


def refused(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message


def test_a_refused_stack_exits_2_naming_the_layer_and_writes_nothing(tmp_path):
    refused(run("ssd, mlp, gdn", "--to", "hf", "--out", str(tmp_path / "x")), "layer 2 (gdn)")
    refused(
        run("ssd, scan", "--to", "hf", "--out", str(tmp_path / "x")), "layer 1 (scan)", "Mamba-1"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_that_does_not_fit_is_a_clear_error(tmp_path):
    other = hybridlab.build_model(hybridlab.parse("[attn, mlp]*3", d_model=32, vocab_size=50))
    torch.save(other.state_dict(), tmp_path / "other.pt")
    result = run(
        "[attn, mlp]*2",
        "--d-model",
        "32",
        "--vocab-size",
        "50",
        "--to",
        "hf",
        "--out",
        str(tmp_path / "x"),
        "--weights",
        str(tmp_path / "other.pt"),
    )
    refused(result, "do not fit the stack", "unexpected: blocks.4.norm.weight")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    result = run(
        "[attn, mlp]*2",
        "--to",
        "hf",
        "--out",
        str(tmp_path / "y"),
        "--weights",
        str(tmp_path / "junk.pt"),
    )
    refused(result, "could not be read")
    result = run(
        "[attn, mlp]*2",
        "--to",
        "hf",
        "--out",
        str(tmp_path / "z"),
        "--weights",
        str(tmp_path / "missing.pt"),
    )
    refused(result, "is not a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt", "other.pt"]


def test_bad_target_and_existing_out_exit_2(tmp_path):
    refused(
        run("ssd", "--to", "onnx", "--out", str(tmp_path / "x")), "to must be one of hf, megatron"
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("")
    refused(run("ssd", "--to", "megatron", "--out", str(tmp_path / "full")), "--force")
    result = run("ssd", "--to", "megatron", "--out", str(tmp_path / "full"), "--force")
    assert result.exit_code == 0

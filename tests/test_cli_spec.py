"""`hybridlab spec`: the table, --json, and exit code 2 with a positioned message."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

import hybridlab
from hybridlab.cli import app

runner = CliRunner()


def test_table_shows_canonical_pattern_and_totals():
    result = runner.invoke(
        app, ["spec", "[ssd(d_state=64), mlp]*3, attn(heads=4), mlp", "--d-model", "128"]
    )
    assert result.exit_code == 0, result.output
    assert "[ssd(d_state=64), mlp]*3, attn, mlp" in result.output
    assert "M-M-M-*-" in result.output
    spec = hybridlab.parse("[ssd(d_state=64), mlp]*3, attn, mlp", d_model=128)
    assert f"{hybridlab.count_params(spec):,}" in result.output


def test_json_has_the_promised_keys_and_exact_numbers():
    result = runner.invoke(
        app,
        ["spec", "M-M*-", "--d-model", "64", "--vocab-size", "100", "--context", "512", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"canonical", "pattern", "params", "state_bytes", "flops_per_token", "layers"} <= set(
        data
    )
    spec = hybridlab.parse("M-M*-", d_model=64, vocab_size=100)
    assert data["canonical"] == "ssd, mlp, ssd, attn, mlp" and data["pattern"] == "M-M*-"
    assert data["params"] == hybridlab.count_params(spec)
    assert data["state_bytes"] == hybridlab.state_bytes(spec, 512)
    assert data["flops_per_token"] == hybridlab.flops_per_token(spec, 512)
    assert [layer["kind"] for layer in data["layers"]] == ["ssd", "mlp", "ssd", "attn", "mlp"]


def test_bad_spec_exits_2_with_caret_and_no_traceback():
    result = runner.invoke(app, ["spec", "ssd, attn(heads=3)"])
    assert result.exit_code == 2
    assert "heads=3 must divide d_model=128" in result.stderr
    assert "line 1, column 11, layer 1" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_bad_context_and_dtype_exit_2():
    assert runner.invoke(app, ["spec", "ssd", "--context", "0"]).exit_code == 2
    result = runner.invoke(app, ["spec", "ssd", "--dtype", "int3"])
    assert result.exit_code == 2 and "unknown dtype" in result.stderr


def test_console_script_runs_as_a_process(tmp_path):
    spec_file = tmp_path / "m.yaml"
    spec_file.write_text("d_model: 64\nstack: 'ssd(d_state=16), mlp'\n")
    exe = [sys.executable, "-m", "hybridlab", "spec", str(spec_file), "--json"]
    done = subprocess.run(exe, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["canonical"] == "ssd(d_state=16), mlp"
    bad = subprocess.run([*exe[:-2], "ssd(", "--json"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_help_shows_the_example_spec_with_its_brackets():
    result = CliRunner().invoke(app, ["spec", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert '"[ssd(d_state=64), mlp]*3, attn(heads=4), mlp"' in result.stdout


def test_a_spec_file_that_cannot_be_read_is_named(tmp_path):
    binary, scalar = tmp_path / "binary.yaml", tmp_path / "scalar.yaml"
    binary.write_bytes(b"\x00\xbe\xff" * 40)
    scalar.write_text("42\n")
    for path, message in (
        (binary, "not a text file"),
        (scalar, "a spec file must be a YAML mapping with a 'stack' key"),
    ):
        result = CliRunner().invoke(app, ["spec", str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert str(path) in result.stderr and message in result.stderr


def test_gated_deltanet_prints_with_its_letter_and_exact_costs():
    text = "gdn, mlp, attn, mlp"
    table = runner.invoke(app, ["spec", text])
    assert table.exit_code == 0, table.output
    spec = hybridlab.parse(text, d_model=128)
    assert "G-*-" in table.output and f"{hybridlab.count_params(spec):,}" in table.output
    data = json.loads(runner.invoke(app, ["spec", text, "--json"]).stdout)
    assert data["pattern"] == "G-*-" and data["params"] == hybridlab.count_params(spec)
    # d_model 128: 4 heads of dk 24, dv 48; one layer's conv states and delta-rule state in fp32.
    assert data["layers"][0]["state_bytes"] == 4 * ((2 * 96 + 192) * 4 + 4 * 24 * 48)
    assert data["state_bytes"] == hybridlab.state_bytes(spec, 2048)
    assert data["flops_per_token"] == hybridlab.flops_per_token(spec, 2048)

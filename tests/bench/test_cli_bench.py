"""`hybridlab bench`: the table, the JSON object, and exit code 2 for a usage error."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hybridlab.cli import app

runner = CliRunner()
TINY = ["--d-model", "32", "--vocab-size", "64", "--repeats", "1", "--decode-steps", "2"]


def test_json_has_every_number_per_context():
    result = runner.invoke(
        app, ["bench", "--spec", "attn(heads=2), mlp", "--context", "16,32", *TINY, "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["protocol"]["threads"] == 1 and payload["protocol"]["device"] == "cpu"
    assert [c["context"] for c in payload["contexts"]] == [16, 32]
    for row in payload["contexts"]:
        for key in ("train_tokens_per_s", "prefill_tokens_per_s", "decode_tokens_per_s"):
            assert row[key] > 0
        assert row["peak_memory_bytes"] > row["state_bytes"] > 0
    # Attention keeps every token: its state doubles with the context.
    assert payload["contexts"][1]["state_bytes"] == 2 * payload["contexts"][0]["state_bytes"]


def test_table_prints_the_protocol():
    result = runner.invoke(
        app,
        ["bench", "--spec", "ssd(d_state=8, headdim=8)", "--context", "16", *TINY, "--skip-train"],
    )
    assert result.exit_code == 0, result.output
    assert "1 thread(s)" in result.stdout and "median of 1" in result.stdout
    assert "prefill" in result.stdout and "decode" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--context", "16,x"], "is not an integer"),
        (["--context", "0"], "must be >= 1"),
        (["--spec", "ssd(d_stat=3)"], "d_stat"),
        (["--batch", "0"], "--batch must be >= 1"),
        (["--dtype", "int3"], "unknown dtype"),
        (["--threads", "999"], "threads=999"),
    ],
)
def test_usage_errors_exit_2(args, message):
    base = {"--spec": "mlp", "--context": "16"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["bench", *[x for kv in base.items() for x in kv], *TINY]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr

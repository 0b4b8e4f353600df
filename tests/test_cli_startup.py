"""What every `hybridlab` command settles first: a deleted working directory is a clear error
before torch is imported, stdout that cannot be written ends the command in one line, and
warnings read as one line. Each case runs the real entry point in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

HYBRIDLAB = [sys.executable, "-m", "hybridlab"]


def test_a_deleted_working_directory_is_refused_before_torch_is_imported(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    # The child starts in the folder, which is then deleted under it: `cd gone; rm -r ../gone`.
    script = "import os, runpy, sys; os.rmdir(os.getcwd()); sys.argv[1:] = ['spec', 'mlp']; "
    script += "runpy.run_module('hybridlab', run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=gone, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "error: the working directory cannot be found" in result.stderr
    assert "oneMKL" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["spec", "[ssd, mlp]*3"], id="rich-table"),
        pytest.param(["spec", "[ssd, mlp]*3", "--json"], id="json-echo"),
    ],
)
def test_stdout_on_a_full_device_ends_in_one_line_and_exit_1(args):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*HYBRIDLAB, *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert result.returncode == 1
    assert result.stderr == "error: cannot write to stdout (No space left on device)\n"


def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly():
    # More output than a pipe holds, so that the write after the reader has gone fails.
    process = subprocess.Popen(
        [*HYBRIDLAB, "spec", "[ssd, mlp]*500", "--d-model", "64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(10)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert stderr == ""


@pytest.mark.slow
def test_a_warning_is_one_line_on_stderr(tmp_path):
    # A spec whose vocab_size the task reduces warns (`fit_spec`); the line names no source file.
    spec = tmp_path / "spec.yaml"
    spec.write_text("d_model: 16\nvocab_size: 512\nstack: mlp\n")
    result = subprocess.run(
        [*HYBRIDLAB, "train", "--spec", str(spec), "--task", "mqar", "task.vocab_size=128",
         "train.steps=1", "train.eval_every=null"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: vocab_size 512 of the spec reduced to task 'mqar''s 128\n" in result.stderr
    assert "UserWarning" not in result.stderr

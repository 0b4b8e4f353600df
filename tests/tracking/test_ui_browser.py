"""The user's last step, in a real headless browser: a finished study's runs in the MLflow UI,
filtered to the Pareto front with `tags.pareto = 'true'`.

Chromium comes from the OS packages (.ci/run installs it); without it the test skips, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that keep a root, headless Chromium off the (closed) network and out of its sandbox.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
    "--window-size=1400,900",
]

FILTER = "tags.pareto = 'true'"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def chromium(url: str, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=90,
        )
    return done.stdout


def test_front_is_one_filter_away_in_the_mlflow_ui(tmp_path):
    hybridlab = [sys.executable, "-m", "hybridlab"]
    study = ROOT / "studies" / "quickstart.yaml"
    overrides = ["budget.trials=3", "train.steps=5", "tracking=mlflow", f"output={tmp_path}/qs"]
    subprocess.run([*hybridlab, "study", "run", str(study), *overrides], check=True, timeout=300)

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/qs/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name == "quickstart"]
    front = client.search_runs([experiment.experiment_id], "tags.pareto = 'true'")
    assert front, "no run is tagged pareto=true"

    port = free_port()
    ui = subprocess.Popen(
        [*hybridlab, "ui", str(study), f"output={tmp_path}/qs", "--port", str(port)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # It prints the address with the study's experiment selected.
        printed = ui.stdout.readline()
        experiment_url = f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/runs"
        assert experiment_url in printed, printed
        wait_for(f"http://127.0.0.1:{port}/health", timeout=120)
        url = f"{experiment_url}?searchFilter={quote(FILTER)}"
        chromium(url, f"--screenshot={tmp_path}/front.png")
        assert (tmp_path / "front.png").stat().st_size > 10_000
        dom = chromium(url, "--dump-dom")
        assert "tags.pareto = 'true'" in dom or "tags.pareto = &#39;true&#39;" in dom, dom[-2000:]
        assert "matching runs" in dom and "quickstart" in dom
    finally:
        # Ctrl-C, as a person would: `hybridlab ui` stops MLflow's whole process group.
        os.killpg(ui.pid, signal.SIGINT)
        ui.wait(timeout=60)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the UI still listens after Ctrl-C"

"""The user's last step, in a real headless browser: the first screen `hybridlab ui` opens is
the Pareto front, every front trial's objective values and stack on it with no clicks.

Chromium comes from the OS packages (.ci/run installs it); without it the test skips, saying so.
Run with HYBRIDLAB_SCREENSHOT=path to keep the screenshot (README's comes from the quickstart).
"""

from __future__ import annotations

import html
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
    # A laptop's screen (MacBook Air); MLflow's assistant panel takes a third of it.
    "--window-size=1440,900",
]

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


def as_shown(value: float) -> str:
    """A metric as the UI writes it (JavaScript's number formatting: 38080, 0.0361328125)."""
    return str(int(value)) if value == int(value) else repr(value)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_first_screen_of_hybridlab_ui_is_the_pareto_front(tmp_path):
    hybridlab = [sys.executable, "-m", "hybridlab"]
    study = ROOT / "studies" / "quickstart.yaml"
    # The quickstart as shipped (it logs to MLflow), made short.
    overrides = ["budget.trials=3", "train.steps=5", f"output={tmp_path}/qs"]
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
        printed = ui.stdout.readline()
        url = (
            f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/runs"
            "?viewStateShareKey=pareto-front"
        )
        assert url in printed, printed
        wait_for(f"http://127.0.0.1:{port}/health", timeout=120)
        shot = Path(os.environ.get("HYBRIDLAB_SCREENSHOT", tmp_path / "front.png"))
        chromium(url, f"--screenshot={shot}")
        assert shot.stat().st_size > 10_000
        dom = chromium(url, "--dump-dom")
        assert f"<strong>{len(front)}</strong> matching runs" in dom, dom[-3000:]
        for run in front:
            # The grid renders the cells of the columns in view (and a small margin) only.
            # Its name is "<number>: <stack>" (the stack is its tag too, further right).
            stack = run.data.tags["stack"]
            assert run.info.run_name == f"{run.data.tags['trial_number']}: {stack}"
            assert html.escape(run.info.run_name, quote=False) in dom, run.info.run_name
            for label in ("accuracy", "params", "state_bytes"):
                value = run.data.metrics[f"obj/{label}"]
                assert f">{as_shown(value)}<" in dom, (label, value)
    finally:
        # SIGTERM to `hybridlab ui` alone, as `kill` or a supervisor would send it.
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the UI still listens after SIGTERM"
    deadline = time.monotonic() + 10
    while group_alive(ui.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(ui.pid), "MLflow's helpers outlived `hybridlab ui`"

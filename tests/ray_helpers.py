"""Real Ray for the tests: a two-node cluster on loopback, and ending only our own processes.

`ray stop` would end every Ray process on the machine (other sessions' included), so the
cluster here is stopped by process id: the processes whose command line names its temp folder,
and everything they started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
TRAINING = "ray::ImplicitFunc.train"  # the process title of a Tune actor running a trial


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) for every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        table[int(entry)] = (ppid, cmd)
    return table


def descendants(roots: set[int]) -> set[int]:
    """`roots` and every process below them."""
    table = _processes()
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {p for p, (ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def end_processes(pids: set[int], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is left after `grace_s` (0: SIGKILL at once)."""
    for sig in (signal.SIGTERM, signal.SIGKILL) if grace_s else (signal.SIGKILL,):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + max(grace_s, 5.0)
        while time.monotonic() < deadline:
            pids = {p for p in pids if os.path.exists(f"/proc/{p}") and not _zombie(p)}
            if not pids:
                return
            time.sleep(0.2)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@dataclass
class Cluster:
    """`env`: what a process joining the cluster needs (token authentication, as Ray's default)."""

    address: str
    temp_dir: str
    env: dict[str, str]
    owned: set[int] = field(default_factory=set)
    worker_raylet: int | None = None  # the worker node's raylet: its workers are its children

    def worker_node_busy(self) -> bool:
        """A trial is running on the worker node (a Tune actor inside `train`)."""
        table = _processes()
        on_worker = descendants({self.worker_raylet})
        return any(table.get(p, (0, ""))[1].startswith(TRAINING) for p in on_worker)

    def kill_worker_node(self) -> None:
        """Lose the worker node: SIGKILL its raylet and everything under it."""
        end_processes(descendants({self.worker_raylet}), grace_s=0)

    def processes(self) -> set[int]:
        """Every process of this cluster (found by its temp folder, plus their children)."""
        own = {
            p for p, (_, cmd) in _processes().items() if self.temp_dir in cmd and p != os.getpid()
        }
        self.owned |= descendants(own)
        return self.owned


def _node_args(temp_dir: str, cpus: int) -> list[str]:
    return [
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={cpus}",
        f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        "--disable-usage-stats",
    ]


@contextlib.contextmanager
def two_node_cluster(cpus_per_node: int = 1) -> Iterator[Cluster]:
    """A head and a worker node started with `ray start` on 127.0.0.1; stopped by pid."""
    temp_dir = tempfile.mkdtemp(prefix="hlray-")
    port = free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    cluster = Cluster(f"127.0.0.1:{port}", temp_dir, env=auth)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **auth}
    try:
        head = [
            RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
            *_node_args(temp_dir, cpus_per_node),
        ]  # fmt: skip
        subprocess.run(head, check=True, env=env, capture_output=True, timeout=120)
        head_processes = set(cluster.processes())
        worker = [
            RAY,
            "start",
            f"--address={cluster.address}",
            *_node_args(temp_dir, cpus_per_node),
        ]
        subprocess.run(worker, check=True, env=env, capture_output=True, timeout=120)
        table = _processes()
        (cluster.worker_raylet,) = {
            p for p in cluster.processes() - head_processes if "raylet/raylet" in table[p][1]
        }
        yield cluster
    finally:
        end_processes(cluster.processes())

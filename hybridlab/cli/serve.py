"""Serving a web UI from a child process group that always ends with this process.

`hybridlab ui` (MLflow) and `hybridlab dashboard` (optuna-dashboard) run their server in its own
session, since the servers leave helper processes behind (MLflow: uvicorn, its job runner, huey
consumers) when only the leader is killed. However the command ends — Ctrl-C (SIGINT), SIGTERM
(`kill`, `timeout`, a supervisor), SIGHUP (a closed terminal), or the server exiting by itself —
the whole group is stopped (SIGTERM, then SIGKILL after a grace period) and the port is free.
The exit code after a signal is 128 + its number, as a shell reports it.

A SIGKILL (`kill -9`, the out-of-memory killer) leaves no handler to run: the group's leader is
then `serve_guard`, which holds the read end of a pipe whose write end only this process holds,
and ends the group when the kernel closes it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

GRACE_S = 10.0
SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# How long helpers that outlived the leader get to exit on their own before SIGKILL.
HELPERS_GRACE_S = 2.0
STDERR_FD = 2
# How often a starting server's port is tried.
READY_POLL_S = 0.2
# The group's leader, run by path (`python -I`: the standard library only, no hybridlab import).
GUARD = str(Path(__file__).with_name("serve_guard.py"))


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


def serve(command: list[str], port: int, on_ready: Callable[[], None]) -> int:
    """Run `command` in a process group of its own, under `serve_guard`, until it exits or this
    process is signalled; either way the whole group is stopped (by the guard when this process
    is killed outright). `on_ready` is called once the server answers on 127.0.0.1:`port`
    (where it prints the address: never one where nothing listens yet).

    Returns the exit code for `hybridlab ui`: 0 when the server exited cleanly, 1 when it failed
    (before answering: said on stderr), 128 + the signal's number when stopped by one."""
    # The guard's pipe: the write end stays in this process (not inherited) while it lives.
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", GUARD, str(read_end), *command],
            start_new_session=True,
            pass_fds=(read_end,),
            # The server's own log lines go to stderr: stdout holds the address, once it answers.
            stdout=STDERR_FD,
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = _wait(process, port, on_ready)
    except KeyboardInterrupt:
        stop_group(process)
        return 128 + signal.SIGINT
    except _Stopped as stopped:
        stop_group(process)
        return 128 + stopped.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(write_end)
    # The server ended by itself: its helpers may still run in its group.
    stop_group(process)
    return 0 if code == 0 else 1


def _wait(process: subprocess.Popen[bytes], port: int, on_ready: Callable[[], None]) -> int:
    """The leader's exit code, once it exits; `on_ready()` when the port answers before."""
    from hybridlab.config.addresses import connect_error

    while (code := process.poll()) is None:
        if connect_error("127.0.0.1", port, timeout_s=READY_POLL_S) is None:
            on_ready()
            return process.wait()
        time.sleep(READY_POLL_S)
    print(
        f"error: the server exited (code {code}) before it answered on port {port}", file=sys.stderr
    )
    return code


def check_port(port: int, *, free: bool = False) -> None:
    """Exit 2 unless `port` is a TCP port (and, with `free`, nothing listens on it here)."""
    from hybridlab.cli.errors import fail

    if not 1 <= port <= 65535:
        fail(f"--port must be a TCP port, 1 to 65535, got {port}")
    if free and not port_is_free(port):
        fail(f"port {port} on 127.0.0.1 is in use; pick another with --port")


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` (binding it succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop_group(process: subprocess.Popen[bytes]) -> int:
    """Stop the process group `process` leads (its own session): SIGTERM, the leader's exit
    awaited for GRACE_S (else SIGKILL), then a moment for the helpers still in the group and
    SIGKILL for those left. Returns the leader's exit code."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        code = process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        code = process.wait()
    deadline = time.monotonic() + HELPERS_GRACE_S
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return code


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Interrupted(KeyboardInterrupt):
    """SIGTERM, SIGHUP (or SIGINT), raised like Ctrl-C so that every cleanup for Ctrl-C runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def terminate_like_ctrl_c() -> Iterator[None]:
    """Within the block, SIGTERM (`kill`, a supervisor) and SIGHUP (a closed terminal) raise
    `Interrupted`, a KeyboardInterrupt: the same cleanup as Ctrl-C instead of dying mid-write.
    All three (Ctrl-C too) wait for a study journal write under way to end
    (`hybridlab.study.interrupts`)."""
    from hybridlab.study.interrupts import raise_or_defer

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise_or_defer(Interrupted(signum))

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, *SIGNALS)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process ended by it (Ctrl-C: 130)."""
    return 128 + (interrupt.signum if isinstance(interrupt, Interrupted) else signal.SIGINT)

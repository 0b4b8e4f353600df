"""The leader of a web UI's process group: it runs the server and ends the whole group once the
`hybridlab` command that started it is gone, however it went (kill -9 included).

Run by path, with the standard library only, so that it starts in a few milliseconds:
    python -I serve_guard.py PIPE_FD COMMAND...
PIPE_FD is the read end of a pipe whose write end only the `hybridlab` command holds: the
kernel closes it when that process ends, even by SIGKILL, and the read here sees end-of-file.
Linux's PR_SET_PDEATHSIG would reach only a direct child, not the helpers the servers start
(MLflow's uvicorn, job runner and huey consumers); the whole group is ended here instead:
SIGTERM, `GRACE_S` for the server to exit, then SIGKILL for everything left, this guard too.

Signals sent to the group (`hybridlab.cli.serve.stop_group`) reach the server directly: the
guard outlives it to report its exit code (a signal's as 128 + its number).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from types import FrameType

GRACE_S = 10.0
# How often the guard looks at the server while it waits for the pipe.
POLL_S = 0.5


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Outlive a signal sent to the group; a handler, unlike SIG_IGN, is reset in the server."""


def _end_group(server: subprocess.Popen[bytes]) -> None:
    os.killpg(0, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=GRACE_S)
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    pipe = int(argv[1])
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _ignore)
    server = subprocess.Popen(argv[2:])
    while True:
        ready, _, _ = select.select([pipe], [], [], POLL_S)
        if ready and not os.read(pipe, 1):
            _end_group(server)
        code = server.poll()
        if code is not None:
            return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Addresses named in settings (a Ray cluster, an MLflow server) are tried before use.

Ray's `init` and MLflow's client retry an address that does not answer for minutes; a study
should say at once that nothing listens there, in a message that names the setting.
"""

from __future__ import annotations

import socket

TIMEOUT_S = 5.0


def connect_error(host: str, port: int, timeout_s: float = TIMEOUT_S) -> str | None:
    """Why a TCP connection to `host:port` fails ("Connection refused"), or None if it opens.

    Example:
        >>> connect_error("127.0.0.1", 9) is not None   # the discard port: nothing listens
        True
    """
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        return err.strerror or str(err)
    return None

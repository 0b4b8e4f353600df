"""The URIs of MLflow stores a study names (`tracking.uri`), checked before anything is written.

A module of its own, below both the `tracking:` section (`config`) and the MLflow store
(`mlflow_store`), which check the same URIs.
"""

from __future__ import annotations

from urllib.parse import urlparse

from hybridlab.config import SettingError
from hybridlab.config.addresses import connect_error

# The stores MLflow logs to, by URI scheme (a database scheme may name its driver: "+psycopg2").
SERVER_SCHEMES = ("http", "https")
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def check_mlflow_uri(uri: str) -> None:
    """Raise `SettingError` (key `tracking.uri`) for a URI no MLflow store of a study takes:
    an unknown scheme (`htp:/oops`), a server without a host, or MLflow's file store
    (`file://`, a plain path), which MLflow 3 keeps in maintenance mode and refuses to open."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.partition("+")[0].lower()
    if scheme in ("", "file"):
        raise SettingError(
            f"{uri!r} is MLflow's file store, which MLflow keeps in maintenance mode and refuses "
            f"to open; use a database, e.g. sqlite:///mlflow.db, or leave tracking.uri unset (a "
            f"sqlite file in the study folder)",
            key="tracking.uri",
        )
    if scheme in SERVER_SCHEMES and parsed.hostname:
        return
    if scheme in DATABASE_SCHEMES and uri.partition(":")[2].startswith("//"):
        return
    raise SettingError(
        f"{uri!r} is no MLflow tracking URI; use http(s)://host:port (a tracking server), "
        f"sqlite:///path/mlflow.db or postgresql://user@host/db, or leave it unset (a sqlite "
        f"file in the study folder)",
        key="tracking.uri",
    )


def is_server(uri: str) -> bool:
    """Whether `uri` names a tracking server (http or https)."""
    return urlparse(uri).scheme in SERVER_SCHEMES


def check_reachable(uri: str) -> None:
    """Raise `SettingError` (key `tracking.uri`) when the tracking server at `uri` does not
    accept connections."""
    parsed = urlparse(uri)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    reason = connect_error(parsed.hostname or "localhost", port)
    if reason is not None:
        raise SettingError(
            f"the MLflow tracking server {uri} cannot be reached ({reason}); start it, or leave "
            f"tracking.uri unset to log to a sqlite file in the study folder",
            key="tracking.uri",
        )

"""A study's `tracking:` section and the tracker backends by name.

`tracking: mlflow` (or `{backend: mlflow, uri: ...}`) logs to MLflow; `none` logs nowhere but
Optuna's own storage. A backend's factory imports its library only when a study uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hybridlab.config import SettingError
from hybridlab.tracking.base import Tracker
from hybridlab.tracking.uris import check_mlflow_uri, check_reachable, is_server


def _mlflow_tracker(uri: str | None) -> Tracker:
    # Imported here: choosing a tracker must not import MLflow.
    from hybridlab.tracking.mlflow_tracker import MLflowTracker

    return MLflowTracker(uri=uri)


def _null_tracker(uri: str | None) -> Tracker:
    return Tracker()


# backend name → factory(uri); a factory imports its backend's library when called.
TRACKERS: dict[str, Callable[[str | None], Tracker]] = {
    "none": _null_tracker,
    "mlflow": _mlflow_tracker,
}


@dataclass(kw_only=True)
class TrackingConfig:
    """A study's `tracking:` section.

    backend: a name in `TRACKERS`, MLflow unless the study says otherwise (`tracking: none`
    logs nowhere but Optuna's storage); uri: where it logs (mlflow: null is a sqlite file in the
    study folder). In a study file `tracking: mlflow` is short for `tracking: {backend: mlflow}`.
    """

    backend: str = "mlflow"
    uri: str | None = None

    def validate(self) -> None:
        """Raise `SettingError` naming the first setting that cannot work."""
        if self.backend not in TRACKERS:
            raise SettingError(
                f"unknown tracking backend {self.backend!r}; available: {', '.join(TRACKERS)}",
                key="tracking.backend",
            )
        if self.uri is not None and self.backend == "none":
            raise SettingError(
                "tracking.uri needs a tracking backend, e.g. tracking.backend=mlflow",
                key="tracking.uri",
            )
        if self.uri is not None:
            check_mlflow_uri(self.uri)

    def check_server(self) -> None:
        """Raise `SettingError` when `uri` names a tracking server that does not accept
        connections; asked before a study writes anything (MLflow's client would retry for
        minutes, after the study's files were made)."""
        if self.backend == "mlflow" and self.uri is not None and is_server(self.uri):
            check_reachable(self.uri)


def make_tracker(config: TrackingConfig) -> Tracker:
    """The tracker of a validated `TrackingConfig`."""
    config.validate()
    return TRACKERS[config.backend](config.uri)

"""The validation tracker of a study's `tracking:` section, by backend name.

A backend's factory imports its library only when called.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from hybridlab.tracking import TrackingConfig
from hybridlab.validation.trackers import ValidationTracker


def _mlflow(uri: str | None) -> ValidationTracker:
    from hybridlab.validation.mlflow_log import MLflowValidationTracker

    return MLflowValidationTracker(uri=uri)


# Tracking backend name → the factory of its validation tracker.
VALIDATION_TRACKERS: dict[str, Callable[[str | None], ValidationTracker]] = {
    "none": lambda uri: ValidationTracker(),
    "mlflow": _mlflow,
}


def make_validation_tracker(config: TrackingConfig) -> ValidationTracker:
    """The validation tracker of a study's validated `tracking:` section."""
    factory = VALIDATION_TRACKERS.get(config.backend)
    if factory is None:
        warnings.warn(
            f"tracking backend {config.backend!r} does not record validations; they are kept in "
            f"the study's storage only",
            stacklevel=2,
        )
        return ValidationTracker()
    return factory(config.uri)

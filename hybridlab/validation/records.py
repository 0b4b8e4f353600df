"""What a validation at a higher fidelity (`hybridlab study validate`) records, as plain data.

A re-training is not a trial: it never enters the study's Pareto front, its tags, or its view.
`hybridlab.validation.trackers` says who hears of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROXY, SCALED = "proxy", "scaled"


@dataclass
class Retraining:
    """One trial trained again at one fidelity under one seed.

    Attributes:
        key: "<trial number>/<fidelity>/<seed>", unique in a validation.
        number: the trial's number.
        fidelity: `PROXY` (the study's settings, another seed) or `SCALED`.
        seed: the training seed.
        stack: the canonical stack; d_model: its width at this fidelity.
        values: measured objective label → value once it ended well; None before or on failure.
        reason: why it failed.
    """

    key: str
    number: int
    fidelity: str
    seed: int
    stack: str
    d_model: int
    values: dict[str, float] | None = None
    reason: str | None = None


@dataclass
class ProxyScaled:
    """One trial's measured objectives at both fidelities: label → (mean, std, runs)."""

    number: int
    on_front: bool
    proxy: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)
    scaled: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)


@dataclass
class ValidationSummary:
    """What a validation ends with.

    Attributes:
        labels: the measured objectives compared.
        metrics: `kendall_tau/<label>`, `spearman/<label>`, `front_retention`, ... (finite only).
        points: every selected trial at both fidelities, for the proxy-against-scaled figure.
        report: the whole report as plain JSON data (`hybridlab study validate --json`).
        correlations: label → (Kendall's τ, Spearman's ρ), where both are defined.
    """

    labels: list[str]
    metrics: dict[str, float]
    points: list[ProxyScaled]
    report: dict[str, Any]
    correlations: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class ValidationStart:
    """What a validation's trackers hear when it starts.

    Attributes:
        name, folder: the study's name and folder.
        fingerprint: of the fidelity's resolved settings (the study attribute's key).
        fidelity: the overrides as given ({key: value}); settings: as resolved ({"task",
            "train", "model"}).
        labels: the measured objectives compared.
        options: top, sample, seeds, seed as chosen.
        trials, front, todo: trials selected, of them on the proxy's front, runs to train.
    """

    name: str
    folder: str
    fingerprint: str
    fidelity: dict[str, Any]
    settings: dict[str, Any]
    labels: list[str]
    options: dict[str, Any]
    trials: int
    front: int
    todo: int

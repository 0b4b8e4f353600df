"""What `hybridlab study validate` is asked for: how many trials, seeds and resamples."""

from __future__ import annotations

from dataclasses import dataclass

from hybridlab.config import SettingError
from hybridlab.train.config import MAX_SEED
from hybridlab.validation.ranking import RESAMPLES


@dataclass(kw_only=True)
class ValidateOptions:
    """top: front trials to validate (None: the whole front); sample: dominated trials (None:
    as many as the front trials); seeds: runs per trial at each fidelity (≥ 1); seed: of the
    sample and the bootstrap; resamples: of the bootstrap."""

    top: int | None = None
    sample: int | None = None
    seeds: int = 2
    seed: int = 0
    resamples: int = RESAMPLES

    def validate(self) -> None:
        """Raise `SettingError` naming the first option that cannot work."""
        if self.top is not None and self.top < 1:
            raise SettingError(f"--top must be >= 1 (or left out: all), got {self.top}", key="top")
        if self.sample is not None and self.sample < 0:
            raise SettingError(f"--sample must be >= 0, got {self.sample}", key="sample")
        if self.seeds < 1:
            raise SettingError(f"--seeds must be >= 1, got {self.seeds}", key="seeds")
        if not 0 <= self.seed <= MAX_SEED:
            raise SettingError(
                f"--seed must be a whole number from 0 to {MAX_SEED}, got {self.seed}", key="seed"
            )
        if self.resamples < 100:
            raise SettingError(f"resamples must be >= 100, got {self.resamples}", key="resamples")

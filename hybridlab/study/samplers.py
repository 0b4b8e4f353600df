"""Optuna samplers by name: tpe, nsga2, gp, random, grid; each seeded.

`options` in the study file are passed to the sampler's constructor (e.g. `n_startup_trials` for
tpe, `population_size` for nsga2). `gp` (Optuna's GPSampler, logEHVI for several objectives)
needs scipy and torch: without scipy the study fails at validation with the install command.
`grid` enumerates every combination of the space's finite leaves (choices, int ranges; a float
leaf needs a `step`); conditional knobs are in the grid too, so some grid points repeat an
architecture. A grid study ends when every point was tried, whatever is left of the budget.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hybridlab.config import SettingError, first_line
from hybridlab.space import Choice, FloatRange, IntRange, SearchSpace, leaves

SAMPLERS = ("tpe", "nsga2", "gp", "random", "grid")
_CLASS = {
    "tpe": "TPESampler",
    "nsga2": "NSGAIISampler",
    "gp": "GPSampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
}


@dataclass(kw_only=True)
class SamplerConfig:
    """A study's `sampler:` section: a name in `SAMPLERS`, its seed (None: unseeded) and the
    keyword arguments of its Optuna class."""

    name: str = "tpe"
    seed: int | None = 0
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self, space: SearchSpace) -> None:
        """Raise `SettingError` if no sampler can be built for `space` (an unknown name, a
        missing dependency, an option the sampler does not take, a continuous grid knob)."""
        if self.name not in SAMPLERS:
            raise SettingError(
                f"unknown sampler {self.name!r}; valid: {', '.join(SAMPLERS)}", key="sampler.name"
            )
        # Optuna seeds numpy with seed + the number of trials so far: below 2**32.
        if self.seed is not None and not 0 <= self.seed < 2**31:
            raise SettingError(
                f"a whole number from 0 to 2**31 - 1, or null, got {self.seed}", key="sampler.seed"
            )
        try:
            check_sampler(self, space)
        except SettingError:
            raise
        except ValueError as err:
            raise SettingError(str(err), key="sampler") from None


def grid_space(space: SearchSpace) -> dict[str, list[Any]]:
    """Every sampled knob's finite list of values; raise ValueError for a continuous leaf."""
    grid: dict[str, list[Any]] = {}
    for leaf in leaves(space.knobs):
        if isinstance(leaf, Choice):
            grid[leaf.name] = list(leaf.values)
        elif isinstance(leaf, IntRange) and not leaf.log:
            grid[leaf.name] = list(range(leaf.low, leaf.high + 1, leaf.step))
        elif isinstance(leaf, FloatRange) and leaf.step is not None:
            count = round((leaf.high - leaf.low) / leaf.step)
            grid[leaf.name] = [leaf.low + i * leaf.step for i in range(count + 1)]
        else:
            raise ValueError(
                f"sampler grid needs finite knobs; {leaf.name!r} is continuous (give it a step "
                f"or make it a choice)"
            )
    return grid


def check_sampler(config: SamplerConfig, space: SearchSpace) -> None:
    """Raise ValueError if `config` cannot build a sampler (a missing dependency, an option the
    sampler does not take or a file cannot give, a value of the wrong type, or one the sampler
    refuses when it is built: the sampler is built here, as a run will build it)."""
    import optuna

    if config.name == "gp" and importlib.util.find_spec("scipy") is None:
        raise ValueError(
            "sampler gp (Optuna's GPSampler) needs scipy: .venv/bin/pip install scipy "
            "(or use tpe or nsga2)"
        )
    if config.name == "grid":
        grid_space(space)
    cls = getattr(optuna.samplers, _CLASS[config.name])
    accepted = inspect.signature(cls).parameters
    for option, value in config.options.items():
        if option in ("seed", "search_space") or option not in accepted:
            valid = [p for p in accepted if p not in ("seed", "search_space")]
            raise SettingError(
                f"sampler.options: {_CLASS[config.name]} takes no option {option!r}; valid: "
                f"{', '.join(valid)}",
                key="sampler.options",
            )
        problem = _option_problem(value, str(accepted[option].annotation))
        if problem is not None:
            raise SettingError(
                f"{_CLASS[config.name]}'s {option} {problem}", key=f"sampler.options.{option}"
            )
    try:
        # Optuna checks the ranges of its options when the sampler is built.
        make_sampler(config, space)
    except (ValueError, TypeError) as err:
        raise SettingError(
            f"{_CLASS[config.name]} refuses these options: {first_line(err)}",
            key="sampler.options",
        ) from None


# What a study file can give an option typed so in Optuna's signature: (accepts, in words).
_PLAIN_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a count >= 0"),
    "float": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "text"),
    "None": (lambda v: v is None, "null"),
}


def _option_problem(value: Any, annotation: str) -> str | None:
    """What is wrong with `value` for an option annotated `annotation` (Optuna's annotations
    are text: "int", "float | None", "Callable[[FrozenTrial], Sequence[float]] | None"), or
    None. Every int option of Optuna's samplers is a count (of trials, of candidates, a
    population); an option that takes a Python object (a function, a crossover) cannot be
    given in a file."""
    members = [m.strip() for m in annotation.split("|")]
    plain = [m for m in members if m in _PLAIN_TYPES]
    if not [m for m in plain if m != "None"]:
        if value is None and "None" in plain:
            return None
        return f"takes a Python object ({annotation}), which a study file cannot give; leave it out"
    if any(_PLAIN_TYPES[m][0](value) for m in plain):
        return None
    return f"takes {' or '.join(_PLAIN_TYPES[m][1] for m in plain)}, got {value!r}"


def make_sampler(config: SamplerConfig, space: SearchSpace, seed_offset: int = 0) -> Any:
    """The Optuna sampler of `config`, seeded with `seed + seed_offset`.

    The offset is the number of trials already in the study, so a resumed study does not replay
    the random draws of its first run (and a resume is itself reproducible). A grid has no draws
    to replay: its order is the study's seed's in every run.
    """
    import optuna

    cls = getattr(optuna.samplers, _CLASS[config.name])
    kwargs = dict(config.options)
    seed = None if config.seed is None else config.seed + seed_offset
    if config.name == "grid":
        from hybridlab.study.grid import AskTellGridSampler

        # Not offset: Optuna shuffles the grid by the seed, and a grid point's number must name
        # the same point in every run of the study (a resume with another order gave trials one
        # point's number and another point's params, and trained some points twice).
        return AskTellGridSampler(grid_space(space), seed=config.seed, **kwargs)
    try:
        return cls(seed=seed, **kwargs)
    except (ImportError, ModuleNotFoundError) as err:
        raise ValueError(f"sampler {config.name} cannot be used here: {err}") from None

"""Study files: load, apply dotted overrides, validate every section into a `StudyPlan`.

    name: quickstart                     # default: the file's stem
    space: ../search_spaces/hybrid_small.yaml   # relative to this file, or an inline mapping
    task: {name: mqar, vocab_size: 128, num_kv_pairs: 4}   # name + the task's settings
    train: {steps: 40, batch_size: 32, lr: 3e-3}           # TrainConfig fields
    objectives:
      - {name: accuracy}                                   # direction: the natural one
      - {name: state_bytes, context: 4096, dtype: bf16, direction: minimize}
    sampler: {name: tpe, seed: 0, options: {n_startup_trials: 8}}
    budget: {trials: 16, wall_time_s: null, max_consecutive_infeasible: 200}
    pruner: {name: none}                 # or {name: asha, min_steps: 90, reduction_factor: 3}
                                         # (`hybridlab.study.pruning`)
    executor: {backend: ray, max_concurrent: null, retries: 1, address: null,
               resources: {cpu: 1, gpu: 0}, options: {}}   # or {backend: inline}
    storage: null                        # null: a JournalFileBackend file in the study folder;
                                         # or an Optuna RDB URL (postgresql://..., sqlite:///...)
    tracking: {backend: mlflow, uri: null}   # the default (uri null: sqlite:///<study
                                         # folder>/mlflow.db); `tracking: none` opts out
    output: null                         # the study folder; null: runs/<name> (from the working
                                         # directory); a relative path here: from this file

Overrides are `key=value` as in Hydra (`train.steps=50 sampler.seed=3 budget.trials=4`); one that
names no setting is an error. `load_plan` checks everything and creates nothing. Each section is a
typed config that validates itself (`TrainConfig`, `SamplerConfig`, `BudgetConfig`, `PrunerConfig`,
`ExecutorConfig`, `TrackingConfig`: their `validate` raises a `SettingError` naming the key); this
module reads the sections, checks the space (with random samples of it), the task and the
objectives, and turns every error into a `StudyConfigError` with the file, the line and the key (or
the override that set it).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hybridlab.config import (
    SettingError,
    StudyConfigError,
    YamlSource,
    first_line,
    load_yaml,
    merge_dataclass,
)
from hybridlab.config.files import unwritable_folder
from hybridlab.config.overrides import Override, parse_override
from hybridlab.execution import ExecutorConfig
from hybridlab.space import SearchSpace, load_space
from hybridlab.study.objectives import Objective, parse_objectives
from hybridlab.study.pruning import OPTIONS as PRUNER_OPTIONS
from hybridlab.study.pruning import PrunerConfig
from hybridlab.study.samplers import SamplerConfig
from hybridlab.tasks import Task, get_task_class
from hybridlab.tracking import TrackingConfig
from hybridlab.tracking.uris import is_server
from hybridlab.train import TrainConfig
from hybridlab.train.config import MAX_SEED

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

STUDY_KEYS = (
    "name",
    "description",
    "space",
    "task",
    "train",
    "objectives",
    "sampler",
    "budget",
    "pruner",
    "executor",
    "storage",
    "tracking",
    "output",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME = 100
T = TypeVar("T")
# A section's config class: a dataclass, as `merge_dataclass` needs.
D = TypeVar("D", bound="DataclassInstance")


@dataclass(kw_only=True)
class BudgetConfig:
    """trials: trained trials in the study (infeasible and interrupted ones do not count);
    wall_time_s: stop asking for new trials after this long (per invocation; a trial under way
        finishes; `study run` exits 1 when it ran out before the first trial started);
    max_consecutive_infeasible: end the study with an error after this many in a row;
    front_seeds: once the trials are done, train every front trial again under this many more
        seeds, for the spread of its measured objectives (`hybridlab.study.seeds`)."""

    trials: int | None = None
    wall_time_s: float | None = None
    max_consecutive_infeasible: int = 200
    front_seeds: int = 0

    def validate(self) -> None:
        """Raise `SettingError` naming the first setting that cannot work."""
        if self.trials is None and self.wall_time_s is None:
            raise SettingError("give budget.trials or budget.wall_time_s (or both)", key="budget")
        if self.trials is not None and self.trials < 1:
            raise SettingError(f"must be >= 1, got {self.trials}", key="budget.trials")
        if self.wall_time_s is not None and not self.wall_time_s > 0:
            raise SettingError(f"must be > 0, got {self.wall_time_s}", key="budget.wall_time_s")
        if self.max_consecutive_infeasible < 1:
            raise SettingError("must be >= 1", key="budget.max_consecutive_infeasible")
        if self.front_seeds < 0:
            raise SettingError(
                f"must be >= 0 (0: no seed runs), got {self.front_seeds}", key="budget.front_seeds"
            )


@dataclass
class StudyPlan:
    """A validated study: everything a run needs, nothing created yet."""

    name: str
    source: str
    space: SearchSpace
    task_name: str
    task_settings: dict[str, Any]
    task: Task
    train: TrainConfig
    objectives: list[Objective]
    sampler: SamplerConfig
    budget: BudgetConfig
    executor: ExecutorConfig
    tracking: TrackingConfig
    folder: Path
    storage: str | None  # None = the journal file in `folder`
    refs: list[float] = field(default_factory=list)
    description: str = ""
    pruner: PrunerConfig = field(default_factory=PrunerConfig)

    @property
    def journal_path(self) -> Path:
        return self.folder / "study.journal"

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def labels(self) -> list[str]:
        return [o.label for o in self.objectives]

    @property
    def measured_labels(self) -> list[str]:
        """The labels of the objectives a trial measures (the rest are exact costs)."""
        return [o.label for o in self.objectives if o.measured]

    def summary(self) -> dict[str, Any]:
        """The resolved settings as plain data (stored with the study for the record)."""
        return {
            "name": self.name,
            "source": self.source,
            "task": {"name": self.task_name, **self.task_settings},
            "train": dataclasses.asdict(self.train),
            "objectives": [dataclasses.asdict(o) for o in self.objectives],
            "refs": self.refs,
            "sampler": dataclasses.asdict(self.sampler),
            "budget": dataclasses.asdict(self.budget),
            "pruner": dataclasses.asdict(self.pruner),
            "executor": dataclasses.asdict(self.executor),
        }

    @property
    def rungs(self) -> list[int]:
        """The steps at which the pruner judges a trial ([] without one)."""
        return self.pruner.rungs(self.train.steps, self.train.race_steps)


def load_plan(
    path: Path | str, overrides: Sequence[str | Override] | None = None, *, writing: bool = False
) -> StudyPlan:
    """Read, override and validate the study file at `path`; raise `StudyConfigError`.

    With `writing` (`study run`, `study validate`), also check that what a run writes can be
    written, before anything is: the study folder (and the folders above it), the folder of a
    SQLite storage or tracking store, and a tracking server, which must answer. Without it
    nothing is tried (reading a front writes nothing)."""
    source = load_yaml(path, what="study")
    _apply_overrides(source, list(overrides or []))
    sections = _Sections(source)
    plan = sections.plan()
    if writing:
        sections.check_writable(plan)
    return plan


def _sqlite_file(url: str | None) -> Path | None:
    """The file of a SQLite database URL (None for no URL or another database)."""
    if url is None or not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    return Path(make_url(url).database or "")


def _apply_overrides(source: YamlSource, overrides: list[str | Override]) -> None:
    """Apply `key=value` overrides (the grammar of `hybridlab.config.overrides`; an `Override`
    already parsed keeps its own `where`, which errors about the setting it sets name)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for item in overrides:
        _expand_shorthands(source)
        override = item if isinstance(item, Override) else parse_override(item)
        key, where = override.key, override.where
        if override.section not in STUDY_KEYS:
            raise StudyConfigError(
                f"names no setting: unknown section {override.section!r}; valid: "
                f"{', '.join(STUDY_KEYS)}",
                where=where,
            )
        # A mapping merges into the mapping it names (`train={steps: 5}` keeps the other train
        # settings); any other value replaces the node, so a wrong shape (`train=5`) is refused
        # by the section's own check, which names the override.
        merge = isinstance(override.value, dict) and OmegaConf.is_dict(
            OmegaConf.select(source.conf, key, throw_on_missing=False, default=None)
        )
        try:
            OmegaConf.update(source.conf, key, override.value, merge=merge, force_add=True)
        except (OmegaConfBaseException, ValueError, IndexError) as err:
            raise StudyConfigError(f"names no setting: {first_line(err)}", where=where) from None
        source.overrides[key] = where


# Sections that may be written as one word: `tracking: mlflow`, `pruner: asha`.
SHORTHANDS = {"tracking": "backend", "pruner": "name"}


def _expand_shorthands(source: YamlSource) -> None:
    """`tracking: mlflow` → `tracking: {backend: mlflow}` (and `pruner: asha` → `pruner: {name:
    asha}`), so that `tracking.uri=...` can follow."""
    for section, key in SHORTHANDS.items():
        node = source.conf.get(section)
        if isinstance(node, str):
            source.conf[section] = {key: node}


class _Sections:
    """A study file's sections, read one at a time into validated configs."""

    def __init__(self, source: YamlSource) -> None:
        _expand_shorthands(source)
        self.source = source
        for key in source.conf:
            if key not in STUDY_KEYS:
                raise source.error(f"unknown key {key!r}; valid: {', '.join(STUDY_KEYS)}", str(key))

    def plan(self) -> StudyPlan:
        source = self.source
        name = self.name()
        space = self.space()
        task_name, task_settings, task = self.task()
        train = self.config("train", TrainConfig, lambda config: config.validate())
        objectives = parse_objectives(self.get("objectives"), task, source.error)
        sampler = self.config("sampler", SamplerConfig, lambda config: config.validate(space))
        budget = self.config("budget", BudgetConfig, lambda config: config.validate())
        if train.seed + budget.front_seeds > MAX_SEED:
            raise source.error(
                f"the seed runs use train.seed + 1 … + {budget.front_seeds}, past the largest "
                f"seed ({MAX_SEED}); lower train.seed",
                "budget.front_seeds",
            )
        learned = sum(o.measured for o in objectives)
        pruner = self.config(
            "pruner",
            PrunerConfig,
            lambda config: config.validate(train.steps, train.race_steps, learned, len(objectives)),
        )
        for option in self.get("pruner", {}):
            if option != "name" and option not in PRUNER_OPTIONS[pruner.name]:
                reads = ", ".join(PRUNER_OPTIONS[pruner.name])
                does = f"the {pruner.name} pruner reads {reads}" if reads else "no pruner runs"
                raise source.error(
                    f"{does}, so {option} would change nothing; leave it out", f"pruner.{option}"
                )
        speed = [o.label for o in objectives if o.speed]
        if speed and pruner.name != "none":
            raise source.error(
                f"the speed objectives ({', '.join(speed)}) are measured once a trial has "
                f"trained, so a pruner cannot judge them at its rungs; use pruner.name=none",
                "pruner.name",
            )
        executor = self.config("executor", ExecutorConfig, lambda config: config.validate())
        tracking = self.config("tracking", TrackingConfig, lambda config: config.validate())
        if tracking.uri is not None and not is_server(tracking.uri):
            tracking.uri = self.database("tracking.uri", tracking.uri)
        self.check_machine(train, executor)
        storage = self.storage()
        folder = self.folder(name)
        return StudyPlan(
            name=name,
            source=source.where,
            space=space,
            task_name=task_name,
            task_settings=task_settings,
            task=task,
            train=train,
            objectives=objectives,
            sampler=sampler,
            budget=budget,
            executor=executor,
            tracking=tracking,
            folder=folder,
            storage=storage,
            refs=self.refs(space, task, objectives),
            description=str(self.get("description", "")),
            pruner=pruner,
        )

    def get(self, key: str, default: Any = None) -> Any:
        """The section `key` as plain data (interpolations resolved), or `default`."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            node = self.source.conf.get(key)
            if node is None:
                return default
            return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except OmegaConfBaseException as err:
            raise self.source.error(f"cannot resolve: {first_line(err)}", key) from None

    def config(self, key: str, cls: type[D], validate: Callable[[D], None]) -> D:
        """The typed config of section `key` (a mapping; for a shorthand section also one
        word), validated."""
        settings = self.get(key, {})
        if not isinstance(settings, dict):
            word = f"a {SHORTHANDS[key]} name (e.g. {key}: none) or " if key in SHORTHANDS else ""
            raise self.source.error(
                f"must be {word}a mapping of settings (name: value), got {settings!r}", key
            )
        config = self.located(key, lambda: merge_dataclass(cls, settings, key))
        self.located(key, lambda: validate(config))
        return config

    def located(self, key: str, build: Callable[[], T]) -> T:
        """`build()`, its errors placed at their key's line (a `SettingError`'s key, else the
        section's)."""
        try:
            return build()
        except StudyConfigError:
            raise
        except ValueError as err:
            at = err.key if isinstance(err, SettingError) else key
            # The located error names the key itself: "train.device: train.device: ..." once.
            message = first_line(err).removeprefix(f"{at}: ")
            raise self.source.error(message, at) from None

    def check_writable(self, plan: StudyPlan) -> None:
        """Raise `StudyConfigError` (at the setting) when a run of `plan` could not write the
        study folder, the folder of a SQLite file it names, or reach its tracking server."""
        folders = [("output", "the study folder", plan.folder)]
        for key, url in (("storage", plan.storage), ("tracking.uri", plan.tracking.uri)):
            path = _sqlite_file(url)
            if path is not None:
                folders.append((key, "the folder of the SQLite file", path.parent))
        for key, what, folder in folders:
            problem = unwritable_folder(folder)
            if problem is not None:
                raise self.source.error(f"cannot write {what} {str(folder)!r}: {problem}", key)
        self.located("tracking", plan.tracking.check_server)

    def check_machine(self, train: TrainConfig, executor: ExecutorConfig) -> None:
        """Settings that fail (or crawl through) every trial on this machine, said now rather
        than after the first trial: `train.device: cuda` without CUDA, more `num_threads` than
        cores in the driver's process (a cluster's workers may have GPUs the driver lacks, and
        on Ray a trial's threads are its `executor.resources.cpu`, so those are not checked)."""
        import os

        import torch

        here = executor.backend == "inline" or executor.address is None
        if str(train.device) == "cuda" and here and not torch.cuda.is_available():
            raise self.source.error(
                "cuda, but this machine has no CUDA device (its trials run here); use "
                "train.device=auto or cpu, or join a cluster with GPUs (--address)",
                "train.device",
            )
        cpus = os.cpu_count() or 1
        threads = train.num_threads
        if executor.backend == "inline" and threads is not None and threads > cpus:
            raise self.source.error(
                f"{threads} threads, but this machine has {cpus} CPUs (more threads than cores "
                f"run several times slower); use at most {cpus}",
                "train.num_threads",
            )

    def name(self) -> str:
        source = self.source
        name = str(self.get("name", source.path.stem if source.path else "study"))
        if not _NAME.fullmatch(name):
            raise source.error(
                f"a study name is ASCII letters, digits, '_', '.', '-', starting with a letter or "
                f"digit; got {name!r}",
                "name",
            )
        if len(name) > MAX_NAME:
            raise source.error(
                f"a study name has at most {MAX_NAME} characters (it names a folder), got "
                f"{len(name)}",
                "name",
            )
        return name

    def space(self) -> SearchSpace:
        from omegaconf import OmegaConf

        source = self.source
        node = source.conf.get("space")
        if node is None:
            raise source.error(
                "missing 'space': a path to a space file or an inline mapping", "space"
            )
        if OmegaConf.is_dict(node):
            return load_space(source, prefix="space.")
        if not isinstance(node, str):
            raise source.error(f"space must be a file path or a mapping, got {node!r}", "space")
        base = source.path.parent if source.path else Path()
        path = base / node
        if not path.is_file():
            raise source.error(f"space file {str(path)!r} does not exist", "space")
        return load_space(load_yaml(path, what="space"))

    def task(self) -> tuple[str, dict[str, Any], Task]:
        section = self.get("task")
        if not isinstance(section, dict) or "name" not in section:
            raise self.source.error("task must be a mapping with a name, e.g. {name: mqar}", "task")
        settings = {k: v for k, v in section.items() if k != "name"}
        try:
            task_cls = get_task_class(str(section["name"]))
        except ValueError as err:
            raise self.source.error(str(err), "task.name") from None
        task = self.located(
            "task", lambda: task_cls(merge_dataclass(task_cls.config_class, settings, "task"))
        )
        return task_cls.name, settings, task

    def storage(self) -> str | None:
        storage = self.get("storage")
        if storage is None:
            return None
        if not isinstance(storage, str) or "://" not in storage:
            raise self.source.error(
                f"storage is null (a journal file in the study folder) or an Optuna RDB URL "
                f"such as sqlite:///study.db or postgresql://host/db; got {storage!r}",
                "storage",
            )
        return self.database("storage", storage)

    def database(self, key: str, url: str) -> str:
        """The database URL `url` of setting `key`, checked as far as it can be without
        connecting: SQLAlchemy reads it, its driver is installed, and a SQLite database is a
        file whose folder exists (in memory, nothing would be kept). A relative SQLite path
        written in the file is read from the file's folder, as `output:` is; one given on the
        command line from the working directory. Returns the URL with that path."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            parsed = make_url(url)
            parsed.get_dialect().import_dbapi()
        except (ArgumentError, NoSuchModuleError, ValueError) as err:
            raise self.source.error(
                f"not a database URL SQLAlchemy can open ({first_line(err)}); e.g. "
                f"sqlite:///study.db or postgresql+psycopg2://user@host/db",
                key,
            ) from None
        except ImportError as err:
            extra = ' (pip install "hybridlab[postgres]")' if "postgres" in url else ""
            raise self.source.error(
                f"the {parsed.get_backend_name()} driver of {parsed.drivername!r} is not "
                f"installed ({first_line(err)}); install it{extra} or name another driver",
                key,
            ) from None
        if parsed.get_backend_name() != "sqlite":
            return url
        database = parsed.database or ""
        if database in ("", ":memory:") or "memory" in database.partition("?")[0].split(":"):
            raise self.source.error(
                f"{url!r} is a SQLite database in memory: nothing would be kept when the run "
                f"ends; name a file, e.g. sqlite:///study.db",
                key,
            )
        path = Path(database)
        if not path.is_absolute() and key not in self.source.overrides and self.source.path:
            path = self.source.path.parent / path
        if not path.parent.is_dir():
            raise self.source.error(
                f"the folder of the SQLite file {str(path)!r} does not exist (SQLite creates "
                f"the file, not its folder)",
                key,
            )
        if str(path) == database:
            return url
        return parsed.set(database=str(path)).render_as_string(hide_password=False)

    def folder(self, name: str) -> Path:
        output = self.get("output")
        if output is not None and not isinstance(output, str):
            raise self.source.error(f"output must be a folder path, got {output!r}", "output")
        folder = Path(output) if output else Path("runs") / name
        # A relative `output:` written in the file is read from the file's folder, as `space:`
        # is; one given on the command line (and the default, runs/<name>) from where you are.
        source = self.source
        if output and not folder.is_absolute() and "output" not in source.overrides:
            folder = (source.path.parent if source.path else Path()) / folder
        if folder.exists() and not folder.is_dir():
            raise self.source.error(f"{str(folder)!r} exists and is not a folder", "output")
        return folder

    def refs(self, space: SearchSpace, task: Task, objectives: list[Objective]) -> list[float]:
        """The hypervolume reference of each objective: given, its default, or 2 × the
        largest value over feasible random samples of the space (which are drawn here, so a
        broken template or a space with nothing feasible fails before anything is created)."""
        try:
            proposals = space.precheck(task.vocab_size)
        except StudyConfigError as err:
            if err.where != "<inline>":
                raise
            raise self.source.error(err.message, "space") from None
        refs = []
        for index, objective in enumerate(objectives):
            ref = objective.ref
            values = [objective.value(None, p.spec) for p in proposals]
            sampled = [v for v in values if v is not None]  # the analytic objectives' values
            if ref is not None and sampled:
                better = [
                    v < ref if objective.direction == "minimize" else v > ref for v in sampled
                ]
                if not any(better):
                    worst = "above" if objective.direction == "minimize" else "below"
                    raise self.source.error(
                        f"{ref:g} leaves every sampled architecture {worst} the reference "
                        f"({objective.name} from {min(sampled):g} to {max(sampled):g}): none "
                        f"would add to the hypervolume",
                        f"objectives.{index}.ref",
                    )
            if ref is None:
                ref = objective.default_ref(task.vocab_size)
            if ref is None:
                ref = 2.0 * max(sampled or [0.0])
            refs.append(float(ref))
        return refs

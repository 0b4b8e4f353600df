"""Study files: load, apply dotted overrides, validate everything into a `StudyPlan`.

    name: quickstart                     # default: the file's stem
    space: ../search_spaces/hybrid_small.yaml   # relative to this file, or an inline mapping
    task: {name: mqar, vocab_size: 128, num_kv_pairs: 4}   # name + the task's settings
    train: {steps: 40, batch_size: 32, lr: 3e-3}           # TrainConfig fields
    objectives:
      - {name: accuracy}                                   # direction: the natural one
      - {name: state_bytes, context: 4096, dtype: bf16, direction: minimize}
    sampler: {name: tpe, seed: 0, options: {n_startup_trials: 8}}
    budget: {trials: 16, wall_time_s: null, max_consecutive_infeasible: 100}
    executor: {backend: ray, max_concurrent: null, retries: 1, address: null,
               resources: {cpu: 1, gpu: 0}, options: {}}   # or {backend: inline}
    storage: null                        # null: a JournalFileBackend file in the study folder;
                                         # or an Optuna RDB URL (postgresql://..., sqlite:///...)
    tracking: {backend: none, uri: null, options: {}}   # or `tracking: mlflow` (uri: null is
                                         # sqlite:///<study folder>/mlflow.db)
    output: null                         # the study folder; null: runs/<name>

Overrides are `key=value` as in Hydra (`train.steps=50 sampler.seed=3 budget.trials=4`); one
that names no setting is an error. `load_plan` checks everything — the space (including random
samples of it), the task, the training settings, objectives, sampler, executor, storage and
tracking — and creates nothing; errors are `StudyConfigError`s with the file, line and key.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridlab.config_utils import merge_dataclass
from hybridlab.search.errors import StudyConfigError
from hybridlab.search.executor import EXECUTORS, executor_class
from hybridlab.search.objectives import Objective, parse_objectives
from hybridlab.search.samplers import SAMPLERS, check_sampler
from hybridlab.search.space import SearchSpace, load_space
from hybridlab.search.tracker import TRACKERS
from hybridlab.search.yaml_source import YamlSource, load_yaml, parse_yaml
from hybridlab.tasks import Task, get_task_class
from hybridlab.train import TrainConfig

STUDY_KEYS = (
    "name",
    "description",
    "space",
    "task",
    "train",
    "objectives",
    "sampler",
    "budget",
    "executor",
    "storage",
    "tracking",
    "output",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(kw_only=True)
class SamplerConfig:
    name: str = "tpe"
    seed: int | None = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class BudgetConfig:
    """trials: trained trials in the study (infeasible and interrupted ones do not count);
    wall_time_s: stop asking for new trials after this long (per invocation)."""

    trials: int | None = None
    wall_time_s: float | None = None
    max_consecutive_infeasible: int = 200


@dataclass(kw_only=True)
class ExecutorConfig:
    """Where trials run.

    backend: "ray" (the default: local Ray, or a cluster at `address`) or "inline" (in the
        driver's process, one at a time).
    max_concurrent: trials in flight; null: as many as the Ray cluster's resources fit.
    retries: how many times a trial that failed from a fault (its worker or node lost, an
        exception, out of memory) is run again; a non-finite loss is a result, not a fault.
    address: ray only: null starts local Ray; "auto" or host:port joins a cluster.
    resources: ray only: per trial, {cpu: 1, gpu: 0}; gpu may be a fraction (0.25).
    options: backend extras; ray: num_cpus (of a local Ray), triton_cache_dir.
    """

    backend: str = "ray"
    max_concurrent: int | None = None
    retries: int = 1
    address: str | None = None
    resources: dict[str, float] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class TrackingConfig:
    """backend: a name in `TRACKERS`; uri: where it logs (mlflow: null is a sqlite file in the
    study folder); `tracking: mlflow` is short for `tracking: {backend: mlflow}`."""

    backend: str = "none"
    uri: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


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

    @property
    def journal_path(self) -> Path:
        return self.folder / "study.journal"

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def labels(self) -> list[str]:
        return [o.label for o in self.objectives]


def load_plan(path: Path | str, overrides: list[str] | None = None) -> StudyPlan:
    """Read, override and validate the study file at `path`; raise `StudyConfigError`."""
    source = load_yaml(path, what="study")
    _apply_overrides(source, overrides or [])
    return _validate(source)


def _apply_overrides(source: YamlSource, overrides: list[str]) -> None:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for item in overrides:
        _expand_tracking(source)
        key, sep, raw = item.partition("=")
        key = key.strip()
        where = f"override {item!r}"
        if not sep or not key:
            raise StudyConfigError("expected key=value, e.g. train.steps=50", where=where)
        if key.split(".")[0] not in STUDY_KEYS:
            raise StudyConfigError(
                f"names no setting: unknown section {key.split('.')[0]!r}; valid: "
                f"{', '.join(STUDY_KEYS)}",
                where=where,
            )
        try:
            value = OmegaConf.from_dotlist([f"v={raw}"]).v
            OmegaConf.update(source.conf, key, value, merge=True, force_add=True)
        except (OmegaConfBaseException, ValueError, IndexError) as err:
            message = str(err).splitlines()[0]
            raise StudyConfigError(f"names no setting: {message}", where=where) from None
        source.overrides[key] = where


def _expand_tracking(source: YamlSource) -> None:
    """`tracking: mlflow` → `tracking: {backend: mlflow}`, so `tracking.uri=...` can follow."""
    node = source.conf.get("tracking")
    if isinstance(node, str):
        source.conf.tracking = {"backend": node}


def _validate(source: YamlSource) -> StudyPlan:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    _expand_tracking(source)
    conf = source.conf
    for key in conf:
        if key not in STUDY_KEYS:
            raise source.error(f"unknown key {key!r}; valid: {', '.join(STUDY_KEYS)}", str(key))

    def section(key: str, default: Any = None) -> Any:
        try:
            node = conf.get(key)
            if node is None:
                return default
            return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except OmegaConfBaseException as err:
            raise source.error(f"cannot resolve: {str(err).splitlines()[0]}", key) from None

    default_name = source.path.stem if source.path else "study"
    name = str(section("name", default_name))
    if not _NAME.fullmatch(name):
        raise source.error(f"a study name is letters, digits, '_', '.', '-'; got {name!r}", "name")

    space = _load_space(source)

    task_section = section("task")
    if not isinstance(task_section, dict) or "name" not in task_section:
        raise source.error("task must be a mapping with a name, e.g. {name: mqar}", "task")
    task_settings = {k: v for k, v in task_section.items() if k != "name"}
    try:
        task_cls = get_task_class(str(task_section["name"]))
    except ValueError as err:
        raise source.error(str(err), "task.name") from None
    task = _typed(
        source,
        "task",
        lambda: task_cls(merge_dataclass(task_cls.config_class, task_settings, "task")),
    )

    train = _typed(
        source, "train", lambda: merge_dataclass(TrainConfig, section("train", {}), "train")
    )
    _typed(source, "train", train.validate)

    objectives = parse_objectives(section("objectives"), task, source.error)
    sampler = _typed(
        source, "sampler", lambda: merge_dataclass(SamplerConfig, section("sampler", {}), "sampler")
    )
    if sampler.name not in SAMPLERS:
        raise source.error(
            f"unknown sampler {sampler.name!r}; valid: {', '.join(SAMPLERS)}", "sampler.name"
        )
    _typed(source, "sampler", lambda: check_sampler(sampler, space, len(objectives)))
    budget = _typed(
        source, "budget", lambda: merge_dataclass(BudgetConfig, section("budget", {}), "budget")
    )
    if budget.trials is None and budget.wall_time_s is None:
        raise source.error("give budget.trials or budget.wall_time_s (or both)", "budget")
    if budget.trials is not None and budget.trials < 1:
        raise source.error(f"must be >= 1, got {budget.trials}", "budget.trials")
    if budget.wall_time_s is not None and not budget.wall_time_s > 0:
        raise source.error(f"must be > 0, got {budget.wall_time_s}", "budget.wall_time_s")
    if budget.max_consecutive_infeasible < 1:
        raise source.error("must be >= 1", "budget.max_consecutive_infeasible")
    executor = _typed(
        source,
        "executor",
        lambda: merge_dataclass(ExecutorConfig, section("executor", {}), "executor"),
    )
    if executor.backend not in EXECUTORS:
        raise source.error(
            f"unknown executor backend {executor.backend!r}; available: {', '.join(EXECUTORS)}",
            "executor.backend",
        )
    if not isinstance(executor.retries, int) or executor.retries < 0:
        raise source.error(
            f"must be a whole number >= 0, got {executor.retries!r}", "executor.retries"
        )
    _typed(source, "executor", lambda: executor_class(executor.backend).check_config(executor))
    tracking = _typed(
        source,
        "tracking",
        lambda: merge_dataclass(TrackingConfig, section("tracking", {}), "tracking"),
    )
    if tracking.backend not in TRACKERS:
        raise source.error(
            f"unknown tracking backend {tracking.backend!r}; available: {', '.join(TRACKERS)}",
            "tracking.backend",
        )
    if tracking.options:
        raise source.error(
            f"tracking backend {tracking.backend} takes no options", "tracking.options"
        )
    if tracking.uri is not None and tracking.backend == "none":
        raise source.error(
            "tracking.uri needs a tracking backend, e.g. tracking.backend=mlflow", "tracking.uri"
        )
    storage = section("storage")
    if storage is not None and (not isinstance(storage, str) or "://" not in storage):
        raise source.error(
            f"storage is null (a journal file in the study folder) or an Optuna RDB URL such "
            f"as sqlite:///study.db or postgresql://host/db; got {storage!r}",
            "storage",
        )
    output = section("output")
    if output is not None and not isinstance(output, str):
        raise source.error(f"output must be a folder path, got {output!r}", "output")
    folder = Path(output) if output else Path("runs") / name
    if folder.exists() and not folder.is_dir():
        raise source.error(f"{str(folder)!r} exists and is not a folder", "output")

    # Random samples of the space: a broken template, or nothing feasible, fails here.
    try:
        proposals = space.precheck(task.vocab_size)
    except StudyConfigError as err:
        raise err if err.where != "<inline>" else source.error(err.message, "space") from None
    refs = []
    for objective in objectives:
        ref = objective.ref if objective.ref is not None else objective.default_ref(task.vocab_size)
        if ref is None:
            ref = 2.0 * max(objective.value(None, p.spec) or 0.0 for p in proposals)
        refs.append(float(ref))
    return StudyPlan(
        name=name,
        source=source.where,
        space=space,
        task_name=task_cls.name,
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
        refs=refs,
        description=str(section("description", "")),
    )


def _load_space(source: YamlSource) -> SearchSpace:
    from omegaconf import OmegaConf

    node = source.conf.get("space")
    if node is None:
        raise source.error("missing 'space': a path to a space file or an inline mapping", "space")
    if OmegaConf.is_dict(node):
        return load_space(source, prefix="space.")
    if not isinstance(node, str):
        raise source.error(f"space must be a file path or a mapping, got {node!r}", "space")
    base = source.path.parent if source.path else Path()
    path = base / node
    if not path.is_file():
        raise source.error(f"space file {str(path)!r} does not exist", "space")
    return load_space(load_yaml(path, what="space"))


def _typed(source: YamlSource, key: str, build: Any) -> Any:
    try:
        return build()
    except StudyConfigError:
        raise
    except ValueError as err:
        message = str(err).splitlines()[0]
        # merge_dataclass names "section.field: ..."; point at that key's line.
        match = re.match(r"(?:unknown setting )?([\w.]+)[:;]", message)
        at = match.group(1) if match and match.group(1).startswith(key) else key
        raise source.error(message, at) from None


def plan_summary(plan: StudyPlan) -> dict[str, Any]:
    """The resolved settings as plain data (stored with the study for the record)."""
    return {
        "name": plan.name,
        "source": plan.source,
        "task": {"name": plan.task_name, **plan.task_settings},
        "train": dataclasses.asdict(plan.train),
        "objectives": [dataclasses.asdict(o) for o in plan.objectives],
        "refs": plan.refs,
        "sampler": dataclasses.asdict(plan.sampler),
        "budget": dataclasses.asdict(plan.budget),
        "executor": dataclasses.asdict(plan.executor),
    }


def parse_study_text(text: str, where: str = "<inline>") -> StudyPlan:
    """Validate a study given as YAML text (tests, notebooks); relative paths are from cwd."""
    return _validate(parse_yaml(text, where=where, what="study"))

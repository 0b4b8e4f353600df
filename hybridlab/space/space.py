"""Search spaces: a YAML file of knobs, a model template, constraints → sampled `ModelSpec`s.

    knobs:                                   # see `hybridlab.space.knobs`
      d_model: {choice: [32, 64]}
      depth: {int: [2, 4]}
      attn_ratio: {choice: [0.0, 0.25, 0.5]}
      ssm: {choice: [ssd, scan]}
      ssd: {when: "ssm == 'ssd'", d_state: {choice: [8, 16]}}
    model:                                   # a spec template; ${knobs.*} interpolates knobs
      d_model: ${knobs.d_model}
      layout: {depth: ${knobs.depth}, attn_ratio: ${knobs.attn_ratio}, placement: spread,
               ssm: ${knobs.ssm}, mlp: false}          # or  stack: "..."  or  pattern: "..."
      defaults: {ssd: {d_state: ${knobs.ssd.d_state}, headdim: 16}}
    constraints:                             # safe expressions (never eval)
      - "params <= 2e6"
      - "state_bytes(context=4096, dtype='bf16') <= 2**20"
    costs: {context: 2048, dtype: fp32}      # what bare `state_bytes`, `flops_per_token` use

Inactive knobs interpolate as null and a null kind argument means "the kind's default". The
`layout` is resolved by `hybridlab.space.layout`. Constraints may name knobs (dotted), the
built spec's analytic costs (`hybridlab.space.costs`: `params`, `state_bytes`, `flops_per_token`,
bare or called with `context=` and `dtype=`) and its `pattern` and `num_layers`; a constraint on
an inactive knob holds.

A sample that breaks a constraint or a spec rule raises `InfeasibleSample`; it is never trained.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from hybridlab.config import StudyConfigError, YamlSource, first_line
from hybridlab.cost import itemsize
from hybridlab.space.costs import ANALYTIC_COSTS, CONSTRAINT_NAMES
from hybridlab.space.errors import InfeasibleSample
from hybridlab.space.expressions import Expression, Inactive
from hybridlab.space.knobs import (
    ConditionError,
    Node,
    RandomSuggester,
    Suggester,
    leaves,
    nest,
    parse_knobs,
    sample_knobs,
)
from hybridlab.space.layout import layout_stack
from hybridlab.spec import ModelSpec, SpecError, parse

SPACE_KEYS = ("description", "knobs", "model", "constraints", "costs")
MODEL_KEYS = ("d_model", "layout", "stack", "pattern", "defaults", "norm_eps", "tie_embeddings")
LAYOUT_KEYS = ("depth", "attn_ratio", "num_attn", "placement", "ssm", "mlp")
COST_KEYS = ("context", "dtype")


@dataclass(frozen=True)
class Proposal:
    """One feasible sample: the knob values (inactive = None), Optuna's params, the spec."""

    values: dict[str, Any]
    params: dict[str, Any]
    spec: ModelSpec


@dataclass(frozen=True)
class SearchSpace:
    """A parsed space; build one with `load_space`."""

    knobs: tuple[Node, ...]
    model: dict[str, Any]
    constraints: tuple[Expression, ...] = ()
    context: int = 2048
    dtype: str = "fp32"
    where: str = "<space>"
    description: str = ""

    def sample(self, suggester: Suggester) -> dict[str, Any]:
        """Knob values (dotted keys; None for inactive) drawn through `suggester`."""
        try:
            return sample_knobs(self.knobs, suggester)
        except ConditionError as err:
            raise StudyConfigError(str(err), where=self.where, key=err.key) from None

    def build(self, values: Mapping[str, Any], vocab_size: int) -> ModelSpec:
        """The spec for `values`; raise `InfeasibleSample` if it breaks a spec or layout rule."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            conf = OmegaConf.create({"knobs": nest(values), "model": self.model})
            model = cast(dict[str, Any], OmegaConf.to_container(conf, resolve=True))["model"]
        except OmegaConfBaseException as err:
            message = " ".join(str(err).split())
            raise StudyConfigError(
                f"cannot resolve the model template: {message}", where=self.where, key="model"
            ) from None
        mapping: dict[str, Any] = {"vocab_size": vocab_size}
        for key in ("d_model", "norm_eps", "tie_embeddings", "stack", "pattern"):
            if model.get(key) is not None:
                mapping[key] = model[key]
        defaults = model.get("defaults") or {}
        mapping["defaults"] = {
            kind: {k: v for k, v in (args or {}).items() if v is not None}
            for kind, args in defaults.items()
        }
        try:
            if model.get("layout") is not None:
                layout = {k: v for k, v in model["layout"].items() if v is not None}
                mapping["stack"] = layout_stack(**layout)
            return parse(mapping)
        except (SpecError, InfeasibleSample) as err:
            raise InfeasibleSample(first_line(err)) from None
        except (ValueError, TypeError) as err:
            raise InfeasibleSample(f"layout: {first_line(err)}") from None

    def check(self, values: Mapping[str, Any], spec: ModelSpec) -> None:
        """Raise `InfeasibleSample` naming the first constraint that `spec` breaks."""
        env = self.environment(values, spec)
        for index, constraint in enumerate(self.constraints):
            try:
                ok = constraint.holds(env)
            except Inactive:
                continue
            except ValueError as err:
                key = f"constraints.{index}"
                raise StudyConfigError(str(err), where=self.where, key=key) from None
            if not ok:
                raise InfeasibleSample(f"constraint {constraint.text!r} does not hold")

    def environment(self, values: Mapping[str, Any], spec: ModelSpec) -> dict[str, Any]:
        """Names a constraint may use: the knobs (dotted), the spec's analytic costs (callables
        taking the options of `ANALYTIC_COSTS`, defaulting to the space's `costs:`) and facts."""
        env = dict(values)
        for name, cost in ANALYTIC_COSTS.items():
            env[name] = _cost_call(cost.compute, spec, self.context, self.dtype)
        env.update(pattern=spec.pattern(), num_layers=spec.num_layers)
        return env

    def propose(self, suggester: Suggester, vocab_size: int) -> Proposal:
        """Sample, build and check; raise `InfeasibleSample` when the sample must be skipped.

        `suggester` is an `optuna.Trial` in a study; its `params` are those of active knobs.
        """
        values = self.sample(suggester)
        spec = self.build(values, vocab_size)
        self.check(values, spec)
        sampled = {leaf.name for leaf in leaves(self.knobs)}
        params = {k: v for k, v in values.items() if v is not None and k in sampled}
        return Proposal(values=values, params=params, spec=spec)

    def precheck(self, vocab_size: int, *, draws: int = 64, seed: int = 0) -> list[Proposal]:
        """Draw `draws` random samples; return the feasible ones, raise if there are none.

        Run before a study creates anything, so that a broken template or constraint, or a
        space with nothing feasible in it, is reported as a user error up front.
        """
        feasible: list[Proposal] = []
        reasons: dict[str, int] = {}
        suggester = RandomSuggester(seed)
        for _ in range(draws):
            try:
                feasible.append(self.propose(suggester, vocab_size))
            except InfeasibleSample as err:
                reasons[str(err)] = reasons.get(str(err), 0) + 1
        if not feasible:
            common = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
            listed = "; ".join(f"{reason} ({n}×)" for reason, n in common)
            raise StudyConfigError(
                f"no feasible architecture in {draws} random samples of the space: {listed}",
                where=self.where,
            )
        return feasible


def load_space(source: YamlSource, prefix: str = "") -> SearchSpace:
    """Validate a space (a whole file, or the `space:` node of a study when `prefix="space."`).

    Raises:
        StudyConfigError: with the file, the line and the key path of the first problem.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    node = OmegaConf.select(source.conf, prefix[:-1]) if prefix else source.conf

    def error(message: str, key: str | None = None) -> StudyConfigError:
        return source.error(message, f"{prefix}{key}" if key else prefix[:-1] or None)

    if not OmegaConf.is_dict(node):
        raise error("a space is a mapping with knobs, model and constraints")
    _unknown(node.keys(), SPACE_KEYS, "", error)
    for required in ("knobs", "model"):
        if required not in node:
            raise error(f"missing {required!r}; a space needs knobs and a model template")
    try:
        knobs_tree = OmegaConf.to_container(node.knobs, resolve=True)
    except OmegaConfBaseException as err:
        raise error(f"cannot resolve: {first_line(err)}", "knobs") from None
    if not isinstance(knobs_tree, dict) or not knobs_tree:
        raise error("knobs must be a non-empty mapping", "knobs")
    knobs = parse_knobs(cast(dict[str, Any], knobs_tree), lambda m, k: error(m, f"knobs.{k}"))
    names = tuple(sample_knobs(knobs, _Recorder()))
    model = OmegaConf.to_container(node.model, resolve=False)
    if not isinstance(model, dict):
        raise error("model must be a mapping (a spec template)", "model")
    _unknown(model, MODEL_KEYS, "model.", error)
    given = [k for k in ("layout", "stack", "pattern") if k in model]
    if len(given) != 1:
        raise error("give exactly one of layout, stack or pattern", "model")
    if "layout" in model:
        if not isinstance(model["layout"], dict):
            raise error("layout must be a mapping", "model.layout")
        _unknown(model["layout"], LAYOUT_KEYS, "model.layout.", error)
    constraints = []
    for index, text in enumerate(_as_list(node.get("constraints"), "constraints", error)):
        try:
            expression = Expression.parse(text)
        except ValueError as err:
            raise error(str(err), f"constraints.{index}") from None
        unknown = sorted(n for n in expression.names if n not in {*names, *CONSTRAINT_NAMES})
        if unknown:
            raise error(
                f"unknown name {unknown[0]!r} in {text!r}; known: knobs "
                f"({', '.join(names)}) and {', '.join(CONSTRAINT_NAMES)}",
                f"constraints.{index}",
            )
        constraints.append(expression)
    costs = node.get("costs") or {}
    _unknown(costs, COST_KEYS, "costs.", error)
    context = costs.get("context", 2048)
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise error(f"context must be a positive integer, got {context!r}", "costs.context")
    dtype = str(costs.get("dtype", "fp32"))
    try:
        itemsize(dtype)
    except ValueError as err:
        raise error(str(err), "costs.dtype") from None
    return SearchSpace(
        knobs=knobs,
        model=cast(dict[str, Any], model),
        constraints=tuple(constraints),
        context=context,
        dtype=dtype,
        where=source.where,
        description=str(node.get("description") or ""),
    )


def _cost_call(
    compute: Callable[..., int], spec: ModelSpec, context: int, dtype: str
) -> Callable[..., int]:
    """`compute` for a constraint: called bare or with `context=` and `dtype=`."""

    def call(context: int = context, dtype: str = dtype) -> int:
        return compute(spec, context=context, dtype=dtype)

    return call


class _Recorder:
    """A suggester that returns the first option: used to list the knob names statically."""

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return choices[0]

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        return low

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return low


def _unknown(keys: Any, valid: tuple[str, ...], prefix: str, error: Any) -> None:
    for key in keys:
        if key not in valid:
            raise error(f"unknown key {key!r}; valid: {', '.join(valid)}", f"{prefix}{key}")


def _as_list(value: Any, key: str, error: Any) -> list[str]:
    from omegaconf import OmegaConf

    if value is None:
        return []
    items = OmegaConf.to_container(value) if OmegaConf.is_list(value) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise error("constraints must be a list of expression strings", key)
    return items

"""The report of a validation at a higher fidelity, from the recorded runs
(`hybridlab.validation.runner` trains and records them; the statistics are
`hybridlab.validation.ranking`'s). Built from plain data: the selected trials and their runs.

The report is plain JSON data (`hybridlab study validate --json`):

    study, fingerprint      the study's name, the fidelity's fingerprint
    fidelity                {key: value as given}, e.g. {"train.steps": "4x"}
    resolved                {key: value} of the train.* and task.* overrides, e.g. 3200
    seeds                   runs per trial at each fidelity
    objectives              the measured objectives compared (labels)
    trials                  per selected trial: number, rank (1 = the proxy front), front,
                            stack, d_model (at the proxy), values (the study's), proxy and
                            scaled ({label: {mean, std, n}}; scaled empty while none
                            succeeded), scaled_spec ({d_model, stack}, or null with `error`
                            when it cannot be built), scaled_costs (exact costs at the
                            fidelity), failures ([{fidelity, seed, reason}]), retained (front
                            trials: non-dominated at scale; null when not judged),
                            front_at_scale
    rank_correlation        {label: {kendall_tau, spearman, ci95 (τ's), spearman_ci95, n,
                            reason (when null)}}
    front_retention         the share of the proxy-front trials still non-dominated at scale
                            (null when none could be judged)
    front                   {selected, retained, lost, unjudged, front_at_scale}: trial numbers
    seed_noise              {label: {proxy, scaled}}: the mean over trials of the standard
                            deviation over seeds (null below 2 seeds), and {proxy_between_trials,
                            scaled_between_trials}: the standard deviation of the trials' means
    runs                    {proxy: {complete, failed}, scaled: {complete, failed}, unbuildable,
                            trained (this invocation)}
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybridlab.pareto import Spread, nondominated, spread
from hybridlab.spec import ModelSpec
from hybridlab.study import StudyPlan
from hybridlab.validation.fidelity import Fidelity
from hybridlab.validation.options import ValidateOptions
from hybridlab.validation.ranking import rank_correlation, seed_noise
from hybridlab.validation.records import PROXY, SCALED, ProxyScaled, ValidationSummary


@dataclass
class Selected:
    """A trial chosen for validation.

    Attributes:
        number, rank: the trial and its non-dominated rank among the candidates (1 = front).
        stack: its canonical stack; spec: `ModelSpec.to_dict()` at the proxy.
        values: its objective values in the study (label → value).
        scaled_spec: its architecture at the fidelity; None with `error` when it cannot be
            built there.
    """

    number: int
    rank: int
    stack: str
    spec: dict[str, Any]
    values: dict[str, float]
    scaled_spec: ModelSpec | None
    error: str | None = None

    @property
    def on_front(self) -> bool:
        return self.rank == 1

    def spec_at(self, fidelity: str) -> dict[str, Any]:
        """`ModelSpec.to_dict()` at `PROXY` or `SCALED` (which needs a `scaled_spec`)."""
        if fidelity == PROXY:
            return self.spec
        assert self.scaled_spec is not None, "an unbuildable trial is never trained at scale"
        return dict(self.scaled_spec.to_dict())


# (trial number, PROXY or SCALED) → its recorded runs at the validation's seeds.
Runs = Mapping[tuple[int, str], list[dict[str, Any]]]


def build_report(
    plan: StudyPlan,
    fidelity: Fidelity,
    options: ValidateOptions,
    selected: list[Selected],
    runs: Runs,
    *,
    trained: int,
) -> ValidationSummary:
    """The report (see the module docstring) and what a tracker logs of it."""
    labels = plan.measured_labels
    proxy: dict[int, dict[str, Spread]] = {}
    scaled: dict[int, dict[str, Spread]] = {}
    counts = {PROXY: {"complete": 0, "failed": 0}, SCALED: {"complete": 0, "failed": 0}}
    failures: dict[int, list[dict[str, Any]]] = {}
    for trial in selected:
        samples: dict[str, dict[str, list[float]]] = {
            PROXY: {label: [trial.values[label]] for label in labels},
            SCALED: {label: [] for label in labels},
        }
        for side in (PROXY, SCALED):
            for run in runs.get((trial.number, side), []):
                values = run.get("values")
                counts[side]["complete" if values is not None else "failed"] += 1
                if values is None:
                    reason = run.get("failure_reason")
                    failures.setdefault(trial.number, []).append(
                        {"fidelity": side, "seed": run["seed"], "reason": reason}
                    )
                    continue
                for label in labels:
                    if label in values:
                        samples[side][label].append(float(values[label]))
        proxy[trial.number] = {k: spread(v) for k, v in samples[PROXY].items() if v}
        scaled[trial.number] = {k: spread(v) for k, v in samples[SCALED].items() if v}

    correlations = {}
    for label in labels:
        both = [t.number for t in selected if label in scaled[t.number]]
        correlations[label] = rank_correlation(
            [proxy[n][label].mean for n in both],
            [scaled[n][label].mean for n in both],
            resamples=options.resamples,
            seed=options.seed,
        )
    costs = {t.number: _scaled_costs(fidelity, t) for t in selected}
    front = _retention(fidelity, selected, scaled, costs)
    noise = {label: _noise(label, proxy, scaled) for label in labels}

    trials = []
    for trial in selected:
        scaled_spec = trial.scaled_spec
        judged = trial.number in front["judged"]
        trials.append(
            {
                "number": trial.number,
                "rank": trial.rank,
                "front": trial.on_front,
                "stack": trial.stack,
                "d_model": trial.spec["d_model"],
                "values": trial.values,
                "proxy": {k: s.to_dict() for k, s in proxy[trial.number].items()},
                "scaled": {k: s.to_dict() for k, s in scaled[trial.number].items()},
                "scaled_spec": None
                if scaled_spec is None
                else {"d_model": scaled_spec.d_model, "stack": scaled_spec.format()},
                "error": trial.error,
                "scaled_costs": costs[trial.number],
                "failures": failures.get(trial.number, []),
                "retained": (trial.number in front["front_at_scale"] if judged else None)
                if trial.on_front
                else None,
                "front_at_scale": trial.number in front["front_at_scale"] if judged else None,
            }
        )
    retention = front.pop("retention")
    front.pop("judged")
    report: dict[str, Any] = {
        "study": plan.name,
        "fingerprint": fidelity.fingerprint,
        "fidelity": fidelity.as_given(),
        "resolved": fidelity.resolved,
        "seeds": options.seeds,
        "objectives": labels,
        "trials": trials,
        "rank_correlation": {k: c.to_dict() for k, c in correlations.items()},
        "front_retention": retention,
        "front": front,
        "seed_noise": noise,
        "runs": {
            **counts,
            "unbuildable": sum(t.scaled_spec is None for t in selected),
            "trained": trained,
        },
    }
    metrics: dict[str, float] = {"trials": float(len(selected))}
    for label, c in correlations.items():
        if c.kendall_tau is not None and c.spearman is not None:
            metrics[f"kendall_tau/{label}"] = c.kendall_tau
            metrics[f"spearman/{label}"] = c.spearman
        for side in (PROXY, SCALED):
            value = noise[label][side]
            if value is not None:
                metrics[f"seed_noise/{side}/{label}"] = value
    if retention is not None:
        metrics["front_retention"] = retention
    points = [
        ProxyScaled(
            number=t.number,
            on_front=t.on_front,
            proxy={k: (s.mean, s.std, s.n) for k, s in proxy[t.number].items()},
            scaled={k: (s.mean, s.std, s.n) for k, s in scaled[t.number].items()},
        )
        for t in selected
    ]
    return ValidationSummary(
        labels=labels,
        metrics=metrics,
        points=points,
        report=report,
        correlations={
            label: (c.kendall_tau, c.spearman)
            for label, c in correlations.items()
            if c.kendall_tau is not None and c.spearman is not None
        },
    )


def _scaled_costs(fidelity: Fidelity, trial: Selected) -> dict[str, float]:
    """The exact costs of the trial's architecture at the fidelity."""
    if trial.scaled_spec is None:
        return {}
    costs = {}
    for objective in fidelity.plan.objectives:
        if not objective.measured:
            value = objective.value(None, trial.scaled_spec)
            if value is not None:
                costs[objective.label] = value
    return costs


def _retention(
    fidelity: Fidelity,
    selected: list[Selected],
    scaled: dict[int, dict[str, Spread]],
    costs: dict[int, dict[str, float]],
) -> dict[str, Any]:
    """Which selected trials are non-dominated at scale, and what became of the proxy front."""
    objectives = fidelity.plan.objectives
    vectors: dict[int, list[float]] = {}
    for trial in selected:
        vector = []
        for objective in objectives:
            if objective.measured:
                value = scaled[trial.number].get(objective.label)
                vector.append(value.mean if value is not None else float("nan"))
            else:
                vector.append(costs[trial.number].get(objective.label, float("nan")))
        if trial.scaled_spec is not None and all(v == v for v in vector):  # no NaN
            vectors[trial.number] = vector
    judged = sorted(vectors)
    directions = [o.direction for o in objectives]
    kept = nondominated([vectors[n] for n in judged], directions)
    at_scale = sorted(judged[i] for i in kept)
    front = [t.number for t in selected if t.on_front]
    front_judged = [n for n in front if n in vectors]
    retained = [n for n in front_judged if n in at_scale]
    return {
        "selected": front,
        "retained": retained,
        "lost": [n for n in front_judged if n not in at_scale],
        "unjudged": [n for n in front if n not in vectors],
        "front_at_scale": at_scale,
        "judged": judged,
        "retention": len(retained) / len(front_judged) if front_judged else None,
    }


def _noise(
    label: str, proxy: dict[int, dict[str, Spread]], scaled: dict[int, dict[str, Spread]]
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for side, spreads in ((PROXY, proxy), (SCALED, scaled)):
        of_label = [s[label] for s in spreads.values() if label in s]
        out[side] = seed_noise([s.std for s in of_label if s.n >= 2])
        means = [s.mean for s in of_label]
        out[f"{side}_between_trials"] = statistics.stdev(means) if len(means) >= 2 else None
    return out

"""The analytic costs of a spec by name: the one table that constraints, knob names and study
objectives read.

    params             `hybridlab.cost.count_params(spec)`
    state_bytes        `hybridlab.cost.state_bytes(spec, context, dtype)`   options context, dtype
    flops_per_token    `hybridlab.cost.flops_per_token(spec, context)`      option context

They are exact (pinned to the built model by tests) and computed from the spec alone, so a
constraint can reject a sample before anything is trained and a study's cost objectives are the
same on every machine. Constraints may also name two facts of the spec (`SPEC_FACTS`).

Example:
    >>> from hybridlab.spec import parse
    >>> spec = parse("ssd(d_state=16), attn(heads=2)", d_model=32, vocab_size=64)
    >>> ANALYTIC_COSTS["state_bytes"].compute(spec, context=128, dtype="bf16")
    19200
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hybridlab.cost import count_params, flops_per_token, state_bytes
from hybridlab.spec import ModelSpec


@dataclass(frozen=True)
class AnalyticCost:
    """One cost by name; `options` are the keyword arguments it takes beyond the spec."""

    name: str
    options: tuple[str, ...]
    _compute: Callable[[ModelSpec, int, str], int]

    def compute(self, spec: ModelSpec, *, context: int, dtype: str) -> int:
        """The cost of `spec` at `context` tokens with a `dtype` state (unused options ignored)."""
        return self._compute(spec, context, dtype)


ANALYTIC_COSTS: dict[str, AnalyticCost] = {
    cost.name: cost
    for cost in (
        AnalyticCost("params", (), lambda spec, context, dtype: count_params(spec)),
        AnalyticCost("state_bytes", ("context", "dtype"), state_bytes),
        AnalyticCost(
            "flops_per_token",
            ("context",),
            lambda spec, context, dtype: flops_per_token(spec, context),
        ),
    )
}
# Facts of a built spec that constraints may name besides its costs.
SPEC_FACTS = ("pattern", "num_layers")
# Every name a constraint may use besides the knobs; no knob may take one of them.
CONSTRAINT_NAMES = (*ANALYTIC_COSTS, *SPEC_FACTS)

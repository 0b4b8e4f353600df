"""Speed objectives as a worker measures them: plain requests in, values by label out.

A request is `{"label", "name", "context", "batch", "dtype"}` with `name` one of `SPEED_NAMES`
(`hybridlab.results.Speed`);
requests at the same (context, batch, dtype) share one `measure` call, which runs only the
phases they need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybridlab.bench.measure import Measurement, measure
from hybridlab.bench.protocol import Protocol
from hybridlab.results import Speed
from hybridlab.spec import ModelSpec

# objective name -> the phases it needs (peak memory: inference's, prefill and decode).
SPEED_NAMES: dict[str, tuple[str, ...]] = {
    Speed.PREFILL_TOKENS_PER_S: ("prefill",),
    Speed.DECODE_TOKENS_PER_S: ("decode",),
    Speed.TRAIN_TOKENS_PER_S: ("train",),
    Speed.PEAK_MEMORY_BYTES: ("prefill", "decode"),
}


def measure_requests(
    spec: ModelSpec, requests: Sequence[dict[str, Any]], protocol: Protocol
) -> dict[str, dict[str, float]]:
    """`{"speed": {label: value}, "speed_spread": {label: noise}}` for the requests.

    The noise is the phase's (max - min) / median over the repeats (for peak memory, none: one
    run is measured).
    """
    groups: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
    for request in requests:
        if request["name"] not in SPEED_NAMES:
            raise ValueError(
                f"unknown speed objective {request['name']!r}; valid: {', '.join(SPEED_NAMES)}"
            )
        key = (int(request["context"]), int(request["batch"]), str(request["dtype"]))
        groups.setdefault(key, []).append(request)
    values: dict[str, float] = {}
    spreads: dict[str, float] = {}
    for (context, batch, dtype), group in groups.items():
        phases = {p for r in group for p in SPEED_NAMES[r["name"]]}
        memory = any(r["name"] == Speed.PEAK_MEMORY_BYTES for r in group)
        the_protocol = Protocol(**{**protocol.as_dict(), "memory": memory})
        m = measure(
            spec,
            context,
            the_protocol,
            batch=batch,
            dtype=dtype,
            phases=[p for p in ("prefill", "decode", "train") if p in phases],
        )
        for r in group:
            values[r["label"]], spread = _value(m, r["name"])
            if spread is not None:
                spreads[r["label"]] = spread
    return {"speed": values, "speed_spread": spreads}


def _value(m: Measurement, name: str) -> tuple[float, float | None]:
    if name == Speed.PEAK_MEMORY_BYTES:
        peak = m.inference_peak_bytes
        assert peak is not None, "prefill and decode were measured"
        return float(peak), None
    phase = SPEED_NAMES[name][0]
    return m.tokens_per_s[phase], m.spread[phase]

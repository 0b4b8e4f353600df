"""Hypothesis strategies for the spec language: valid specs and stack texts, and the bad values
a user passes by mistake (non-finite floats, strings for bools, bools and floats for ints)."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from hybridlab.spec import AttnConfig, MLPConfig, ModelSpec, ScanConfig, SSDConfig

D_MODEL = 64

ssd_layers = st.builds(
    SSDConfig,
    d_state=st.sampled_from([1, 16, 64, 128, 256]),
    headdim=st.sampled_from([8, 16, 32, 64]),
    expand=st.sampled_from([1, 2]),
    ngroups=st.sampled_from([1, 2]),
    d_conv=st.integers(1, 4),
    chunk_size=st.sampled_from([16, 64, 256]),
    dt_min=st.sampled_from([1e-4, 0.001, 0.005]),
)
scan_layers = st.builds(
    ScanConfig,
    d_state=st.integers(1, 32),
    expand=st.sampled_from([1, 2, 3]),
    dt_rank=st.one_of(st.none(), st.integers(1, 8)),
    dt_max=st.floats(0.1, 0.5, allow_nan=False),
    inner_norms=st.booleans(),
)
attn_layers = st.builds(
    AttnConfig,
    heads=st.sampled_from([1, 2, 4, 8]),
    kv_heads=st.one_of(st.none(), st.just(1)),
    window=st.one_of(st.none(), st.integers(1, 512)),
    rope_theta=st.sampled_from([10000.0, 500000.0, 1e6]),
    rope=st.booleans(),
)
mlp_layers = st.builds(
    MLPConfig,
    hidden=st.one_of(st.none(), st.integers(1, 512)),
    activation=st.sampled_from(["swiglu", "relu2"]),
)
# Keep only configs that are valid at D_MODEL (e.g. ngroups must divide the head count).
any_layer = st.one_of(ssd_layers, scan_layers, attn_layers, mlp_layers).filter(
    lambda layer: not layer.check(D_MODEL)
)


@st.composite
def specs(draw: st.DrawFn) -> ModelSpec:
    """Valid specs at width D_MODEL, with repeated blocks and every model-wide setting."""
    block = draw(st.lists(any_layer, min_size=1, max_size=4))
    layers = block * draw(st.integers(1, 3)) + draw(st.lists(any_layer, max_size=3))
    return ModelSpec(
        layers=tuple(layers),
        d_model=D_MODEL,
        vocab_size=draw(st.integers(2, 999)),
        norm_eps=draw(st.sampled_from([1e-5, 1e-6, 1e-12, 0.5, 1.0])),
        tie_embeddings=draw(st.booleans()),
    )


STACK_ARGS = {
    "ssd": ["d_state=16", "headdim=32", "ngroups=2", "d_conv=2"],
    "mamba2": ["d_state=128", "chunk_size=32"],
    "scan": ["d_state=8", "dt_rank=auto", "expand=1"],
    "attn": ["heads=2", "kv_heads=1", "window=none", "window=64", "rope=false"],
    "mlp": ["hidden=100", "hidden=auto", "activation=relu2"],
}


@st.composite
def stack_texts(draw: st.DrawFn, depth: int = 0) -> str:
    """Random (valid) stack text with groups, repeats and arguments in any order."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        if depth < 2 and draw(st.booleans()):
            unit = "[" + draw(stack_texts(depth=depth + 1)) + "]"
        else:
            kind = draw(st.sampled_from(list(STACK_ARGS)))
            chosen = draw(
                st.lists(st.sampled_from(STACK_ARGS[kind]), unique_by=lambda a: a.split("=")[0])
            )
            unit = kind + (
                f"({', '.join(chosen)})" if chosen else draw(st.sampled_from(["", "()"]))
            )
        if draw(st.booleans()):
            unit += f"*{draw(st.integers(1, 3))}"
        items.append(unit)
    return ", ".join(items)


# A `#` comment's text: anything on one line, with the characters that once changed what
# `parse` took the text for (a colon made it YAML, a trailing `spec.yaml` a file path).
comments = st.one_of(
    st.text(st.characters(exclude_characters="\n"), max_size=30),
    st.sampled_from(["note: small", "see spec.yaml", "a: b: c", "from runs/x.yml", "stack: mlp"]),
)

non_finite = st.sampled_from([math.inf, -math.inf, math.nan])
# Values that are no int: bools, floats (whole ones such as 2.0 and 1e2 too), strings, None,
# containers.
not_ints = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**60), 2**60).map(float),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
# Values that are no finite float: non-finite floats, ints past float's range, bools, strings.
not_floats = st.one_of(non_finite, st.just(10**400), st.booleans(), st.text(max_size=5), st.none())
# Values that are no bool: above all the strings a user means as one ("false", "no", "0").
not_bools = st.one_of(
    st.sampled_from(["false", "true", "no", "yes", "maybe", "0", "1", "False", ""]),
    st.integers(-2, 2),
    st.floats(allow_nan=True),
    st.none(),
)
# Values that are no string (a str field's wrong-but-string values are range errors, not types).
not_strs = st.one_of(
    st.booleans(), st.integers(-2, 2), st.floats(allow_nan=True), st.none(), st.just(["swiglu"])
)

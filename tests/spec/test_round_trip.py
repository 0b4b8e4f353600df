"""Round trips of the language on generated specs: parse(format(spec)) == spec, and the canonical
text is a fixed point."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import hybridlab
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
)
attn_layers = st.builds(
    AttnConfig,
    heads=st.sampled_from([1, 2, 4, 8]),
    kv_heads=st.one_of(st.none(), st.just(1)),
    window=st.one_of(st.none(), st.integers(1, 512)),
    rope_theta=st.sampled_from([10000.0, 500000.0, 1e6]),
)
mlp_layers = st.builds(MLPConfig, hidden=st.one_of(st.none(), st.integers(1, 512)))
# Keep only configs that are valid at D_MODEL (e.g. ngroups must divide the head count).
any_layer = st.one_of(ssd_layers, scan_layers, attn_layers, mlp_layers).filter(
    lambda layer: not layer.check(D_MODEL)
)


@st.composite
def specs(draw) -> ModelSpec:
    block = draw(st.lists(any_layer, min_size=1, max_size=4))
    layers = block * draw(st.integers(1, 3)) + draw(st.lists(any_layer, max_size=3))
    return ModelSpec(layers=tuple(layers), d_model=D_MODEL, vocab_size=draw(st.integers(2, 999)))


@settings(max_examples=200, deadline=None)
@given(specs())
def test_parse_of_format_is_identity(spec: ModelSpec):
    text = spec.format()
    assert hybridlab.parse(text, d_model=spec.d_model, vocab_size=spec.vocab_size) == spec
    assert hybridlab.parse(spec.to_yaml()) == spec


@st.composite
def stack_texts(draw, depth: int = 0) -> str:
    """Random (valid) stack text with groups, repeats and arguments in any order."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        if depth < 2 and draw(st.booleans()):
            unit = "[" + draw(stack_texts(depth=depth + 1)) + "]"
        else:
            kind = draw(st.sampled_from(["ssd", "mamba2", "scan", "attn", "mlp"]))
            args = {
                "ssd": ["d_state=16", "headdim=32", "ngroups=2", "d_conv=2"],
                "mamba2": ["d_state=128", "chunk_size=32"],
                "scan": ["d_state=8", "dt_rank=auto", "expand=1"],
                "attn": ["heads=2", "kv_heads=1", "window=none", "window=64"],
                "mlp": ["hidden=100", "hidden=auto"],
            }[kind]
            chosen = draw(st.lists(st.sampled_from(args), unique_by=lambda a: a.split("=")[0]))
            unit = kind + (
                f"({', '.join(chosen)})" if chosen else draw(st.sampled_from(["", "()"]))
            )
        if draw(st.booleans()):
            unit += f"*{draw(st.integers(1, 3))}"
        items.append(unit)
    return ", ".join(items)


@settings(max_examples=200, deadline=None)
@given(stack_texts())
def test_canonical_text_is_a_fixed_point(text: str):
    spec = hybridlab.parse(text, d_model=D_MODEL)
    canonical = spec.format()
    again = hybridlab.parse(canonical, d_model=D_MODEL)
    assert again == spec
    assert again.format() == canonical
    assert hybridlab.parse(spec.pattern(), d_model=D_MODEL).pattern() == spec.pattern()

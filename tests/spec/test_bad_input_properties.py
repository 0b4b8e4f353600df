"""Generated bad inputs at every public entry: each is refused with a clean error that names the
key or argument, never an AttributeError, RecursionError or a TypeError from inside Python, and
never accepted (a string is never a bool, True, 2.5 and 2.0 are no ints, inf and NaN no
settings, and no size is past its bound)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from spec_strategies import not_bools, not_floats, not_ints, not_strs

import hybridlab
from hybridlab import SpecError
from hybridlab.spec import KINDS, MLPConfig, ModelSpec
from hybridlab.spec.loader import YAML_KEYS
from hybridlab.spec.model_spec import MAX_D_MODEL, MAX_LAYERS, MAX_PARAMS, MAX_VOCAB_SIZE
from hybridlab.spec.parser import MAX_DEPTH

FAST = settings(max_examples=100, deadline=None)

# Bad values for each model-wide setting: wrong types, and right types out of range.
BAD_SETTINGS: dict[str, st.SearchStrategy[Any]] = {
    "d_model": not_ints | st.integers(max_value=0) | st.integers(min_value=MAX_D_MODEL + 1),
    "vocab_size": not_ints | st.integers(max_value=1) | st.integers(min_value=MAX_VOCAB_SIZE + 1),
    "norm_eps": not_floats | st.sampled_from([0.0, -1e-5, 2.0, 1e300, 1e-300, 0]),
    "tie_embeddings": not_bools,
}


def refused(call: Callable[[], object], *names: str, errors: Any = SpecError) -> str:
    """Run `call`, expecting `errors` whose text names every one of `names`; return the text."""
    with pytest.raises(errors) as info:
        call()
    text = str(info.value)
    for name in names:
        assert name in text, f"{name!r} not named in: {text}"
    return text


def to_yaml(value: Any) -> str:
    """`value` as a YAML scalar or flow collection that reads back as the same Python value."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, str) and not (value.isascii() and value.isprintable()):
        # YAML refuses control characters, and JSON's surrogate-pair escapes.
        return json.dumps(value.encode("ascii", "replace").decode().replace("?", "x"))
    return json.dumps(value)


@FAST
@given(st.data())
def test_model_settings_are_checked_through_every_door(data: st.DataObject):
    key = data.draw(st.sampled_from(list(BAD_SETTINGS)), label="key")
    value = data.draw(BAD_SETTINGS[key], label="value")
    refused(lambda: hybridlab.parse({"stack": "ssd", key: value}), key)
    refused(lambda: hybridlab.parse(f"stack: ssd\n{key}: {to_yaml(value)}\n"), key)
    refused(lambda: ModelSpec(layers=(MLPConfig(),), **{key: value}), key)
    refused(lambda: hybridlab.count_params({"pattern": "M-", key: value}), key)
    refused(lambda: hybridlab.build_model({"stack": "mlp", key: value}), key)
    # As keyword arguments, None means "not given".
    if key in ("d_model", "vocab_size") and value is not None:
        refused(lambda: hybridlab.parse("ssd, mlp", **{key: value}), key)
        refused(lambda: hybridlab.state_bytes("ssd", 16, "bf16", **{key: value}), key)


@st.composite
def bad_layer_arguments(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(kind, field, a value of the wrong type for it) over every field of every kind."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    cls = KINDS[kind]
    field = draw(st.sampled_from(cls.field_names()))
    tp, optional = cls.field_type(field)
    bad = {int: not_ints, float: not_floats, bool: not_bools, str: not_strs}[tp]
    if optional:  # None, `auto`, `none` and `null` are values of an optional field
        bad = bad.filter(lambda v: v is not None and str(v).lower() not in ("auto", "none", "null"))
    return kind, field, draw(bad)


def to_stack_text(value: Any) -> str | None:
    """`value` as a spec-language argument value, or None when the language cannot write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "1e309" if value > 0 else "-1e309"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    # The language reads the names true and false (any case) as booleans, never as strings.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return None
    if isinstance(value, str) and value.isascii() and value.isidentifier():
        return value
    if isinstance(value, float):
        return repr(value)
    return None


@FAST
@given(bad_layer_arguments())
# Written as stack text, NaN is the word `nan`: a string, valid as a type for a string field,
# refused by the layer's own check, which must name the argument too (found by Hypothesis).
@example(("mlp", "activation", math.nan))
def test_layer_arguments_are_checked_through_every_door(case: tuple[str, str, Any]):
    kind, field, value = case
    name = f"{kind}.{field}"
    refused(lambda: KINDS[kind](**{field: value}), name)
    refused(lambda: hybridlab.parse(kind, defaults={kind: {field: value}}), "defaults", name)
    refused(lambda: hybridlab.parse({"stack": kind, "defaults": {kind: {field: value}}}), name)
    yaml = f"stack: {kind}\ndefaults: {{{kind}: {{{field}: {to_yaml(value)}}}}}\n"
    refused(lambda: hybridlab.parse(yaml), name)
    refused(lambda: hybridlab.flops_per_token(kind, defaults={kind: {field: value}}), name)
    text = to_stack_text(value)
    if text is not None:
        with pytest.raises(SpecError) as info:
            hybridlab.parse(f"mlp, {kind}({field}={text})")
        assert name in info.value.message and info.value.line == 1 and info.value.layer == 1


PUBLIC: dict[str, Callable[..., object]] = {
    "parse": hybridlab.parse,
    "format_spec": hybridlab.format_spec,
    "count_params": hybridlab.count_params,
    "state_bytes": hybridlab.state_bytes,
    "flops_per_token": hybridlab.flops_per_token,
    "layer_costs": hybridlab.layer_costs,
    "build_model": hybridlab.build_model,
}
not_sources = st.one_of(
    st.integers(), st.floats(), st.none(), st.booleans(), st.binary(max_size=4), st.lists(st.text())
)


@FAST
@given(st.sampled_from(sorted(PUBLIC)), not_sources)
def test_what_is_no_spec_is_refused_as_the_source(name: str, source: Any):
    refused(lambda: PUBLIC[name](source), "source must be spec text", "(")


@FAST
@given(st.sampled_from(sorted(PUBLIC)), st.text(min_size=1, max_size=8).filter(str.isidentifier))
def test_unknown_keyword_arguments_are_type_errors_naming_them(name: str, keyword: str):
    if name == "parse" or keyword in ("d_model", "vocab_size", "defaults", "context", "dtype"):
        return
    refused(lambda: PUBLIC[name]("ssd", **{keyword: 1}), name, keyword, errors=TypeError)


not_dtypes = st.one_of(
    st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2), st.just(float)
)


@FAST
@given(
    st.sampled_from(["state_bytes", "layer_costs"]),
    st.one_of(
        not_dtypes.map(lambda d: (d, TypeError)),
        st.sampled_from(["int3", "float", "", "fp17", 3, 0, 16])
        .filter(lambda d: d != "float")
        .map(lambda d: (d, ValueError)),
    ),
)
def test_a_bad_dtype_is_named(name: str, case: tuple[Any, type[Exception]]):
    dtype, error = case
    refused(lambda: PUBLIC[name]("ssd", 16, dtype), "dtype", errors=error)


@FAST
@given(
    st.sampled_from(["state_bytes", "layer_costs", "flops_per_token"]),
    not_ints | st.integers(max_value=0),
)
def test_a_bad_context_is_named(name: str, context: Any):
    refused(lambda: PUBLIC[name]("ssd", context), "context", errors=ValueError)


@settings(max_examples=30, deadline=None)
@given(st.integers(MAX_DEPTH + 1, 600))
def test_deep_nesting_stops_at_the_limit_with_its_position(depth: int):
    stack = "[" * depth + "ssd" + "]" * depth
    for source in (stack, f"stack: '{stack}'\n", {"stack": stack}):
        with pytest.raises(SpecError) as info:
            hybridlab.parse(source)
        assert f"nest more than {MAX_DEPTH} deep" in info.value.message
        assert (info.value.line, info.value.column) == (1, MAX_DEPTH + 1)


@settings(max_examples=40, deadline=None)
@given(
    d_model=st.sampled_from([8, 1024, MAX_D_MODEL]),
    hidden=st.integers(1, 10**14),
    copies=st.integers(1, 64),
)
def test_a_model_is_refused_exactly_when_over_the_parameter_cap(d_model, hidden, copies):
    """Every size knob at once: the exact parameter count (here of SwiGLU MLPs, 3·d·hidden each,
    and their norms, embedding and final norm) against `MAX_PARAMS`."""
    vocab = 256
    params = vocab * d_model + copies * (3 * d_model * hidden + d_model) + d_model
    text = f"mlp(hidden={hidden})*{copies}"
    if params > MAX_PARAMS:
        refused(lambda: hybridlab.parse(text, d_model=d_model), "parameters", f"{params:,}")
        refused(lambda: hybridlab.count_params(text, d_model=d_model), "parameters")
    else:
        assert hybridlab.count_params(text, d_model=d_model) == params


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3 * MAX_LAYERS))
def test_a_stack_is_refused_exactly_when_over_the_layer_cap(num_layers: int):
    """Every way to write a stack: a pattern, listed layers, a repeat, the dataclass."""
    sources = [
        lambda: hybridlab.parse("-" * num_layers),
        lambda: hybridlab.parse(", ".join(["mlp"] * num_layers)),
        lambda: hybridlab.parse(f"mlp, [mlp]*{num_layers - 1}" if num_layers > 1 else "mlp"),
        lambda: ModelSpec(layers=(MLPConfig(),) * num_layers),
    ]
    for build in sources:
        if num_layers > MAX_LAYERS:
            refused(build, f"more than {MAX_LAYERS}")
        else:
            assert build().num_layers == num_layers


@pytest.mark.parametrize(
    "depth, opener",
    [
        pytest.param(400, "[", id="list-400"),
        pytest.param(400, "{a: ", id="map-400"),
        pytest.param(1500, "[", id="list-1500-past-pyyaml-limit"),
    ],
)
def test_deeply_nested_yaml_is_a_spec_error(depth: int, opener: str):
    # Slow to generate (OmegaConf takes about a second per document), so a fixed few.
    closer = "]" if opener == "[" else "}"
    leaf = "" if opener == "[" else "1"
    yaml = "stack: ssd\ndefaults: " + opener * depth + leaf + closer * depth
    refused(lambda: hybridlab.parse(yaml), "nest")


# Text close to the language: kinds, arguments, groups, comments, colons and file names.
PIECES = [*"[](),*=#:.-_ \n0123456789eMS", "ssd", "mlp", "attn", "stack", "yaml", "inf", "d_state"]
spec_like_text = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(spec_like_text, st.text(max_size=40)))
def test_any_text_parses_or_is_a_spec_error(text: str):
    try:
        spec = hybridlab.parse(text)
    except SpecError:
        return
    assert hybridlab.parse(spec.format(), d_model=spec.d_model, vocab_size=spec.vocab_size) == spec


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(YAML_KEYS) | st.text(max_size=5), yaml_values, max_size=4),
    st.sampled_from(["ssd", "M-*", "[ssd, mlp]*2", None]),
)
def test_any_mapping_parses_or_is_a_spec_error(mapping: dict[Any, Any], stack: str | None):
    if stack is not None:
        mapping = {**mapping, ("pattern" if stack.isupper() else "stack"): stack}
    try:
        spec = hybridlab.parse(mapping)
    except SpecError:
        return
    assert hybridlab.parse(spec.to_yaml()) == spec


FLOAT_FIELDS = [
    pytest.param(kind, field, value, id=f"{kind}.{field}={value}")
    for kind, cls in KINDS.items()
    for field in cls.field_names()
    if cls.field_type(field)[0] is float
    for value in (math.inf, -math.inf, math.nan)
]


@pytest.mark.parametrize("kind, field, value", FLOAT_FIELDS)
def test_non_finite_is_refused_for_every_float_field(kind: str, field: str, value: float):
    # The exhaustive companion of the generated cases: every float field, every non-finite value.
    refused(lambda: hybridlab.parse(kind, defaults={kind: {field: value}}), f"{kind}.{field}")
    refused(lambda: KINDS[kind](**{field: value}), f"{kind}.{field}", "finite")

"""Round trips of the language on generated specs: parse(format(spec)) == spec, the canonical
text is a fixed point, and every form of a spec (text, YAML, mapping, file) gives the same costs."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_strategies import D_MODEL, comments, specs, stack_texts

import hybridlab
from hybridlab import SpecError
from hybridlab.spec import ModelSpec

DEFAULT_SETTINGS = {"vocab_size": 256, "norm_eps": 1e-5, "tie_embeddings": True}


@settings(max_examples=150, deadline=None)
@given(specs())
def test_parse_of_format_is_identity(spec: ModelSpec):
    text = spec.format()
    again = hybridlab.parse(text, d_model=spec.d_model, vocab_size=spec.vocab_size)
    assert again.layers == spec.layers
    assert hybridlab.parse(spec.to_yaml()) == spec
    assert hybridlab.parse(spec.to_dict()) == spec
    assert hybridlab.parse(spec) is spec


@settings(max_examples=100, deadline=None)
@given(specs(), st.booleans())
def test_the_stack_text_round_trips_exactly_at_default_settings(spec: ModelSpec, default: bool):
    """`format()` writes the layers only: parsing it back gives the spec itself exactly when its
    model-wide settings are the defaults; `to_yaml()` writes the whole spec."""
    if default:
        spec = dataclasses.replace(spec, **DEFAULT_SETTINGS)
    at_defaults = all(getattr(spec, k) == v for k, v in DEFAULT_SETTINGS.items())
    again = hybridlab.parse(spec.format(), d_model=spec.d_model)
    assert again.layers == spec.layers
    assert (again == spec) == at_defaults
    assert hybridlab.parse(spec.to_yaml()) == spec


@settings(max_examples=100, deadline=None)
@given(stack_texts())
def test_a_stack_group_or_argument_list_may_end_with_one_comma(text: str):
    """The grammar's `[","]`: one trailing comma changes nothing; two are an error."""
    spec = hybridlab.parse(text, d_model=D_MODEL)
    assert hybridlab.parse(f"{text},", d_model=D_MODEL) == spec
    assert hybridlab.parse(f"[{text},]", d_model=D_MODEL) == spec
    trailing_in_args = spec.format().replace(")", ",)")
    assert hybridlab.parse(trailing_in_args, d_model=D_MODEL) == spec
    with pytest.raises(SpecError, match="expected a layer kind or"):
        hybridlab.parse(f"{text},,", d_model=D_MODEL)


@settings(max_examples=60, deadline=None)
@given(specs())
def test_every_public_function_takes_every_form_of_a_spec(spec: ModelSpec):
    yaml = spec.to_yaml()
    assert hybridlab.format_spec(yaml) == hybridlab.format_spec(spec) == spec.format()
    assert hybridlab.count_params(yaml) == hybridlab.count_params(spec)
    assert hybridlab.state_bytes(yaml, 100, "bf16") == hybridlab.state_bytes(spec, 100, 2)
    assert hybridlab.flops_per_token(spec.to_dict(), 100) == hybridlab.flops_per_token(spec, 100)
    assert hybridlab.layer_costs(yaml, 100) == hybridlab.layer_costs(spec, 100)


@settings(max_examples=150, deadline=None)
@given(stack_texts())
def test_canonical_text_is_a_fixed_point(text: str):
    spec = hybridlab.parse(text, d_model=D_MODEL)
    canonical = spec.format()
    again = hybridlab.parse(canonical, d_model=D_MODEL)
    assert again == spec
    assert again.format() == canonical
    assert hybridlab.parse(spec.pattern(), d_model=D_MODEL).pattern() == spec.pattern()


@settings(max_examples=150, deadline=None)
@given(stack_texts(), comments, st.sampled_from(["  ", "\n", ",  "]))
def test_a_comment_never_changes_what_the_text_means(text: str, comment: str, gap: str):
    # A colon or a trailing `spec.yaml` in a comment once made the text YAML or a file path.
    spec = hybridlab.parse(text, d_model=D_MODEL)
    assert hybridlab.parse(f"{text}{gap}# {comment}", d_model=D_MODEL) == spec
    assert hybridlab.parse(f"# {comment}\n{text}", d_model=D_MODEL) == spec
    pattern = spec.pattern()
    assert hybridlab.parse(f"{pattern}  # {comment}", d_model=D_MODEL).pattern() == pattern
    if comment.isprintable():  # YAML itself refuses control characters anywhere
        yaml = f"# {comment}\nd_model: {D_MODEL}\nstack: '{text}'  # {comment}\n"
        assert hybridlab.parse(yaml) == spec

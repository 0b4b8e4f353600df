"""Numbers in the spec language are ASCII digits, and an error in a spec file's stack points at
the file's own line and column (issue 25, item 10)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hybridlab
from hybridlab.spec import SpecError

# Every decimal digit that is not an ASCII one (fullwidth, Arabic-Indic, Devanagari, ...).
NON_ASCII_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())


@given(NON_ASCII_DIGITS, st.sampled_from(["ssd(d_state={})", "ssd*{}", "mlp(hidden=1{})"]))
def test_a_non_ascii_digit_is_no_number(digit, template):
    with pytest.raises(SpecError, match="unexpected character"):
        hybridlab.parse(template.format(digit))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("ssd(d_state=６４)", id="fullwidth-argument"),
        pytest.param("ssd*３", id="fullwidth-repetition"),
        pytest.param("ssd(d_state=٦٤)", id="arabic-indic-argument"),
    ],
)
def test_the_sweeps_unicode_digits(text):
    with pytest.raises(SpecError) as caught:
        hybridlab.parse(text)
    name = unicodedata.name(str(caught.value).split("'")[1])
    assert "DIGIT" in name


@pytest.mark.parametrize(
    ("text", "line", "caret_line"),
    [
        pytest.param(
            'd_model: 32\n# a comment\nstack: "[ssd, mlp], attn(heads=3)"\n',
            3,
            'stack: "[ssd, mlp], attn(heads=3)"',
            id="one-line-quoted",
        ),
        pytest.param(
            "d_model: 32\nstack: mlp, attn(heads=3)\n",
            2,
            "stack: mlp, attn(heads=3)",
            id="one-line-plain",
        ),
        pytest.param(
            "d_model: 32\nstack: |\n  ssd,\n  attn(heads=3)\n",
            4,
            "  attn(heads=3)",
            id="literal-block",
        ),
    ],
)
def test_a_spec_files_error_is_at_the_files_line(tmp_path, text, line, caret_line):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        hybridlab.parse(str(path))
    err = caught.value
    assert err.line == line and "heads=3 must divide d_model=32" in err.message
    rendered = str(err).splitlines()
    shown, caret = rendered[2], rendered[3]
    assert shown == "    " + caret_line
    assert shown[caret.index("^") :].startswith("heads=3")  # the caret is under the argument

"""What `parse` takes a string for: a file path, YAML, a pattern or stack text (issue 14: a
comment's colon made stack text YAML, a comment's `spec.yaml` made it a file path)."""

from __future__ import annotations

from pathlib import Path

import pytest

import hybridlab
from hybridlab.spec.source import SourceKind, classify


@pytest.mark.parametrize(
    "text, kind",
    [
        pytest.param("ssd, mlp  # note: small", "stack", id="comment-with-colon"),
        pytest.param("ssd, mlp  # see spec.yaml", "stack", id="comment-ending-in-spec-yaml"),
        pytest.param("# model: hybrid\nssd, mlp", "stack", id="comment-line-with-colon-first"),
        pytest.param("ssd,  # a: b\n  mlp  # stack: attn", "stack", id="comments-everywhere"),
        pytest.param("ssd(d_state: 4)", "stack", id="stray-colon-is-a-grammar-error"),
        pytest.param("stack:ssd", "stack", id="no-space-after-colon-is-no-mapping"),
        pytest.param("M-M*-  # 50%: attention", "pattern", id="pattern-with-comment"),
        pytest.param("---", "pattern", id="three-mlps-not-a-yaml-marker"),
        pytest.param("stack: ssd", "yaml", id="mapping"),
        pytest.param("stack: ssd  # note: x.yaml", "yaml", id="mapping-with-comment"),
        pytest.param("# header: x\n\nd_model: 64\nstack: ssd", "yaml", id="comment-then-mapping"),
        pytest.param("---\nstack: ssd", "yaml", id="document-marker"),
        pytest.param('"stack": ssd', "yaml", id="quoted-key"),
        pytest.param("{stack: ssd}", "yaml", id="flow-mapping"),
        pytest.param("spec.yaml", "file", id="file"),
        pytest.param("  runs/a b/Spec.YML  ", "file", id="file-spaces-any-case"),
        pytest.param("ssd\n# spec.yaml", "stack", id="two-lines-is-never-a-path"),
    ],
)
def test_classify(text: str, kind: str):
    assert classify(text) == SourceKind(kind)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("ssd, mlp  # note: small", id="colon"),
        pytest.param("ssd, mlp  # see spec.yaml", id="path"),
        pytest.param("ssd, mlp  # a: b: c  spec.yml", id="both"),
        pytest.param("ssd,\n  # d_model: 64\n  mlp", id="yaml-looking-comment-line"),
    ],
)
def test_a_comment_does_not_change_the_spec(text: str):
    assert hybridlab.parse(text) == hybridlab.parse("ssd, mlp")


def test_an_existing_file_with_a_hash_in_its_name_is_read(tmp_path: Path):
    path = tmp_path / "run#3.yaml"
    path.write_text("d_model: 64\nstack: ssd\n")
    assert hybridlab.parse(str(path)).d_model == 64


def test_a_missing_file_is_named():
    with pytest.raises(hybridlab.SpecError, match=r"nope/model\.yaml: spec file does not exist"):
        hybridlab.parse("nope/model.yaml")

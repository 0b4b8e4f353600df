"""The repository stands alone: every document it refers a reader to is in it.

Design notes that help a reader live in the repository (README.md, docs/, the modules'
docstrings); no file names the planning documents the project was started from, and every
relative link in a markdown file resolves to a file of the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\b(DESIGN|STYLE|ANCHORS)\.md\b|\.\./shared\b")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed]


@pytest.fixture(scope="module")
def text_files() -> list[Path]:
    files = tracked("*.py", "*.md", "*.yaml", "*.toml", "*.cfg", "Makefile", ".ci/*")
    return [f for f in files if f.is_file() and f.name != Path(__file__).name]


def test_no_file_names_a_document_outside_the_repository(text_files):
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in text_files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)


def test_every_relative_markdown_link_resolves(text_files):
    broken = []
    for path in (f for f in text_files if f.suffix == ".md"):
        for target in LINK.findall(path.read_text()):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, "\n".join(broken)

"""transformers for the export tests, imported past the repository's own kernels/ folder.

transformers imports the PyPI package `kernels`; `python -m pytest` puts the repository root on
sys.path, where hybridlab's kernels/ folder (installed as `hybridlab.kernels`) would shadow it.
The fixture imports both with the root off sys.path, once, and puts sys.path back.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def transformers():
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if Path(p or ".").resolve() != ROOT]
    try:
        if importlib.util.find_spec("kernels") is not None:
            importlib.import_module("kernels")
        module = importlib.import_module("transformers")
        importlib.import_module("transformers.integrations.hub_kernels")
    finally:
        sys.path[:] = saved
    module.logging.set_verbosity_error()
    module.utils.logging.disable_progress_bar()
    return module

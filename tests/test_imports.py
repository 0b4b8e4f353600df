"""Optuna is imported only when a study is opened, MLflow only when a study logs to it, Ray only
when a study runs on it: not by hybridlab, its search package or CLI."""

from __future__ import annotations

import subprocess
import sys


def test_search_and_cli_import_without_optuna_mlflow_or_ray():
    code = (
        "import sys, hybridlab, hybridlab.search, hybridlab.cli; "
        "from hybridlab.search.space import load_space; "
        "from hybridlab.search.tracker import make_tracker; make_tracker('none', {}); "
        "from hybridlab.search.executor import executor_class; executor_class('ray'); "
        "assert not {'optuna', 'mlflow', 'ray'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_train_and_model_never_import_optuna():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "hybridlab"
    for package in ("train", "model", "spec", "layers", "tasks", "cost"):
        for path in (root / package).rglob("*.py"):
            assert "optuna" not in path.read_text(), path

"""Optuna is imported only when a study is opened, MLflow only when a study logs to it, Ray only
when a study runs on it: not by hybridlab, its rooms or its CLI."""

from __future__ import annotations

import subprocess
import sys


def test_rooms_and_cli_import_without_optuna_mlflow_or_ray():
    code = (
        "import sys, hybridlab, hybridlab.study, hybridlab.space, hybridlab.execution, "
        "hybridlab.tracking, hybridlab.cli; "
        "from hybridlab.space import load_space; "
        "from hybridlab.tracking import TrackingConfig, make_tracker; "
        "make_tracker(TrackingConfig(backend='none')); "
        "from hybridlab.execution import executor_class; executor_class('ray'); "
        "assert not {'optuna', 'mlflow', 'ray'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_train_and_model_never_import_optuna():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "hybridlab"
    for package in ("train", "model", "spec", "layers", "tasks", "cost"):
        for path in (root / package).rglob("*.py"):
            assert "optuna" not in path.read_text(), path

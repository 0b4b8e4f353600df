"""`kernels/` ships as `hybridlab.kernels`, never as a top-level `kernels` package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_installed_hybridlab_kernels_is_the_repo_folder():
    import hybridlab.kernels

    assert Path(hybridlab.kernels.__file__).resolve() == ROOT / "kernels" / "__init__.py"


def test_import_hybridlab_needs_no_torch_ray_or_mlflow():
    code = (
        "import sys, hybridlab; "
        "s = hybridlab.parse('ssd, attn'); hybridlab.count_params(s); "
        "bad = [m for m in ('torch', 'ray', 'mlflow', 'optuna') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


@pytest.mark.slow
def test_wheel_maps_kernels_under_hybridlab(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("hybridlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hybridlab/kernels/__init__.py" in names
    for sub in sorted(p.parent.relative_to(ROOT) for p in (ROOT / "kernels").rglob("__init__.py")):
        assert f"hybridlab/{sub.as_posix()}/__init__.py" in names, f"{sub} missing from the wheel"
    assert not [n for n in names if n.startswith("kernels/")], "a top-level `kernels` was shipped"

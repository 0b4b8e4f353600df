"""Package layout only; everything else is in pyproject.toml.

`kernels/` is installed as `hybridlab.kernels` (the top-level name `kernels` belongs to another
PyPI package). setup.py exists because pyproject's static `packages` cannot list a remapped
tree's subpackages without naming each one. tests/test_packaging.py guards the mapping for
editable and wheel installs.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["hybridlab", "hybridlab.*"])
packages += ["hybridlab.kernels"] + [f"hybridlab.kernels.{p}" for p in find_packages("kernels")]

setup(
    packages=packages,
    package_dir={"hybridlab": "hybridlab", "hybridlab.kernels": "kernels"},
)

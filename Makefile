# The commands people run. `make demo` and `make test` work on a fresh machine: they create the
# virtual environment and install what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint format bench clean gpu-check

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77" wheel
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hybridlab study run studies/quickstart.yaml
	$(VENV)/bin/hybridlab study pareto studies/quickstart.yaml --export runs/quickstart/front
	@echo "Every trial is in MLflow. To see the front: $(VENV)/bin/hybridlab ui studies/quickstart.yaml"
	@echo "  and open the address it prints: one row per front trial, its objectives and stack."

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

# ruff, the import contracts of pyproject.toml (rooms import one way, no cycles), mypy, and every
# Triton kernel and autotune config compiled for sm_90 at fp32 and bf16 without a GPU
# (benchmarks/triton_compile_check.py: 3 CPU-minutes with Triton's cache cold, 1.3 warm).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) benchmarks/triton_compile_check.py

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# On a CUDA machine (under 5 minutes): the GPU parity tests at real sizes, fp32 and bf16, with one
# config per kernel to keep compiling short, then Triton vs PyTorch timings and rooflines
# (benchmarks/gpu_kernels.py; it prints no speedup unless parity holds).
gpu-check: $(STAMP)
	HYBRIDLAB_TRITON_AUTOTUNE=0 $(PY) -m pytest -m gpu -q
	$(PY) benchmarks/gpu_kernels.py

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/cpu_scans.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

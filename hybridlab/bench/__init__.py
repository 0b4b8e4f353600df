"""Measured speed and memory: one protocol (`protocol`) and one measurement (`measure`) that
`hybridlab bench` and the study's speed objectives (`decode_tokens_per_s`, ...) both use.

Sits between the rooms that run trials (execution) and training: it builds models and trains
them for a few timed steps, and knows nothing of Optuna, Ray or MLflow.
"""

from hybridlab.bench.measure import DTYPES, PHASES, Measurement, measure, torch_dtype
from hybridlab.bench.protocol import CPU_PEAK, CUDA_PEAK, Protocol, Timing
from hybridlab.bench.requests import SPEED_NAMES, measure_requests

__all__ = [
    "CPU_PEAK",
    "CUDA_PEAK",
    "DTYPES",
    "PHASES",
    "SPEED_NAMES",
    "Measurement",
    "Protocol",
    "Timing",
    "measure",
    "measure_requests",
    "torch_dtype",
]

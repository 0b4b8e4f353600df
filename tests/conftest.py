import os
import sys

import pytest
import torch

# `from helpers import assert_close` works from every test folder.
sys.path.insert(0, os.path.dirname(__file__))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray (2 CPUs) for the whole session: executors find it initialised and use it.

    It is started with MLFLOW_RUN_ID set, as a user's shell might have it, so that its workers
    inherit it: the Ray executor must drop it in every trial.
    """
    import ray

    os.environ["MLFLOW_RUN_ID"] = "set-in-the-driver-environment"
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    finally:
        del os.environ["MLFLOW_RUN_ID"]
    yield ray
    ray.shutdown()

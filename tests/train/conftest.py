import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_threads():
    """`TrainConfig.num_threads` sets torch's threads process-wide; put them back after a test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)

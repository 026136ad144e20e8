import sys
from pathlib import Path

import pytest
import torch as th

sys.path.insert(0, str(Path(__file__).parent))
th.set_num_threads(1)

# Every device the tests run on: the CPU always, CUDA where present (its tests are skipped elsewhere, as SB3's are)
DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """The device of a test that exercises tensors: each available one in turn."""
    if request.param == "cuda" and not th.cuda.is_available():
        pytest.skip("CUDA is not available")
    return request.param


@pytest.fixture
def other_device(device) -> str:
    """A device other than ``device`` to load a model onto (CPU ↔ CUDA); skipped without CUDA."""
    if not th.cuda.is_available():
        pytest.skip("CUDA is not available: there is no other device")
    return "cpu" if device == "cuda" else "cuda"

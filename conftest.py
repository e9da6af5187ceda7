"""Settings shared by the test modules and the doctests."""

import pytest
import torch

_CUDA_IS_AVAILABLE = torch.cuda.is_available


def pytest_collection_modifyitems(config, items):
    if _CUDA_IS_AVAILABLE():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _cpu_by_default():
    # The suite checks the CPU's exact semantics (float64 inference, bitwise
    # reproducible training, which sklearn's checks rely on), so device="auto"
    # means the CPU everywhere, module- and session-scoped fixtures included,
    # but in the tests marked cuda; those run on the GPU of a CUDA machine and
    # are skipped elsewhere.
    patch = pytest.MonkeyPatch()
    patch.setattr(torch.cuda, "is_available", lambda: False)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _cuda_for_marked_tests(request, monkeypatch):
    if request.node.get_closest_marker("cuda") is not None:
        monkeypatch.setattr(torch.cuda, "is_available", _CUDA_IS_AVAILABLE)

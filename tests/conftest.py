"""Shared fixtures for the whole test suite.

``device``: every test that takes it runs once per device, cpu always and cuda where
one is present (skipped, not silently dropped, where it is not). Session-scoped so
hypothesis tests can use it without a function-scoped-fixture health check.
"""
import pytest
import torch

_CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.cuda,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ],
)


@pytest.fixture(scope="session", params=["cpu", _CUDA])
def device(request) -> torch.device:
    return torch.device(request.param)

import jax
import pytest


@pytest.fixture
def x64():
    """Run a test in float64 (oracle comparisons to float64 precision)."""
    with jax.enable_x64(True):
        yield

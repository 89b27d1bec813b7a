import jax
import matplotlib
import pytest

matplotlib.use("Agg")  # tests draw figures without a display
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture
def x64():
    """Run a test in float64 (oracle comparisons to float64 precision)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")

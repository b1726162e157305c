"""The data-parallel bench workloads (no cluster here: tests/distributed covers the machinery)."""
import numpy as np
import pytest

import staticad as sad
from staticad.bench import dp_workloads


@pytest.mark.parametrize("name", list(dp_workloads.DP_WORKLOADS))
def test_workloads_build_a_mean_loss_over_their_rows(name):
    loss, params, feeds = dp_workloads.make(name, 6)
    assert loss.shape == () and all(isinstance(p, sad.Variable) for p in params)
    assert {len(a) for a in feeds.values()} == {6}
    f = sad.function(list(feeds), loss, backend="numpy")
    whole = f(*feeds.values())
    halves = [f(*[a[s] for a in feeds.values()]) for s in (slice(0, 3), slice(3, 6))]
    np.testing.assert_allclose(whole, np.mean(halves), rtol=1e-5)  # a mean over axis 0, as DataParallel assumes


def test_mixing_with_other_workloads_is_a_usage_error(capsys):
    from staticad.cli import main
    assert main(["bench", "dp-linreg", "mlp"]) == 2
    assert "cannot run with the data-parallel workloads" in capsys.readouterr().err


@pytest.mark.parametrize("size", ["1e3,1e5", "dp-mlp=10", "1"])
def test_bad_sizes_are_usage_errors(capsys, size):
    from staticad.cli import main
    assert main(["bench", "dp-linreg", "--size", size]) == 2
    assert "--size" in capsys.readouterr().err

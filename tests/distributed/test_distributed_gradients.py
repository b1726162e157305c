"""sad.distributed.gradients on a 2-process LocalCluster: equal to one process on the whole data."""
import numpy as np
import pytest

import staticad as sad

dsd = pytest.importorskip("staticad.distributed")
da = pytest.importorskip("dask.array")


def linreg(dtype, reduction):
    rng = np.random.default_rng(1)
    x = sad.placeholder((None, 3), dtype, name="x")
    y = sad.placeholder((None, 1), dtype, name="y")
    w = sad.Variable(rng.normal(size=(3, 1)).astype(dtype), name="w")
    b = sad.Variable(np.array([0.5], dtype), name="b")
    r = x @ w + b - y
    loss = (r ** 2).mean() if reduction == "mean" else (r ** 2).sum()
    xv = rng.normal(size=(11, 3)).astype(dtype)
    yv = (xv @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(dtype)
    return x, y, w, b, loss, xv, yv


def one_process(loss, wrt, x, y, xv, yv):
    return sad.function([x, y], [loss, sad.grad(loss, wrt)], backend="numba")(xv, yv)


def assert_close(got, want, rtol):
    np.testing.assert_allclose(got[0], want[0], rtol=rtol, atol=0)
    for g, r in zip(got[1], want[1]):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_mean_loss_over_ragged_dask_chunks_equals_one_process(client, dtype, rtol):
    x, y, w, b, loss, xv, yv = linreg(dtype, "mean")
    want = one_process(loss, [w, b], x, y, xv, yv)
    # chunks 4, 4, 3: an unweighted mean of the shard means would be off
    feeds = {x: da.from_array(xv, chunks=(4, 3)), y: da.from_array(yv, chunks=(4, 1))}
    got = dsd.gradients(loss, [w, b], feeds, client=client, reduction="mean")
    assert_close(got, want, rtol)
    unweighted = np.mean([one_process(loss, [w, b], x, y, xv[s], yv[s])[0] for s in (slice(0, 4), slice(4, 8), slice(8, 11))])
    assert abs(unweighted - want[0]) > 1e3 * rtol * abs(want[0])  # the data make the weighting matter


def test_sum_loss_from_numpy_shards_single_wrt(client):
    x, y, w, b, loss, xv, yv = linreg("float64", "sum")
    want = one_process(loss, w, x, y, xv, yv)
    got_loss, got_w = dsd.gradients(loss, w, {x: xv, y: yv}, client=client, reduction="sum", n_shards=3)
    assert isinstance(got_w, np.ndarray)  # mirrors wrt: one tensor in, one array out
    assert_close((got_loss, [got_w]), (want[0], [want[1]]), 1e-10)


def test_variables_scattered_once_per_step_give_the_same_numbers(client):
    x, y, w, b, loss, xv, yv = linreg("float64", "mean")
    a = dsd.gradients(loss, [w, b], {x: xv, y: yv}, client=client, reduction="mean", variables="args")
    s = dsd.gradients(loss, [w, b], {x: xv, y: yv}, client=client, reduction="mean", variables="scatter")
    assert a[0] == s[0] and all(np.array_equal(p, q) for p, q in zip(a[1], s[1]))


def test_current_variable_values_are_used_and_workers_compile_once(client):
    from staticad.distributed import worker

    x, y, w, b, loss, xv, yv = linreg("float64", "mean")
    feeds = {x: xv, y: yv}
    dsd.gradients(loss, [w, b], feeds, client=client, reduction="mean")
    before = client.run(worker.cache_size)
    w.assign(w.value * 3)
    got = dsd.gradients(loss, [w, b], feeds, client=client, reduction="mean")
    assert client.run(worker.cache_size) == before  # same document: no new compile anywhere
    assert_close(got, one_process(loss, [w, b], x, y, xv, yv), 1e-10)


def test_feeds_of_different_lengths_are_an_error(client):
    x, y, w, b, loss, xv, yv = linreg("float64", "mean")
    with pytest.raises(ValueError, match="differ in length"):
        dsd.gradients(loss, [w, b], {x: xv, y: yv[:5]}, client=client, reduction="mean")


def test_fed_placeholder_needs_a_run_time_example_axis(client):
    x = sad.placeholder((8, 3), "float64", name="x_fixed")
    w = sad.Variable(np.ones((3, 1)), name="w")
    with pytest.raises(ValueError, match="x_fixed.*size None"):
        dsd.gradients((x @ w).sum(), w, {x: np.ones((8, 3))}, client=client)

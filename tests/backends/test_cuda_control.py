"""Control flow on the cuda backend: host-driven loops and branches over device-resident values.

Values are checked against the numpy backend (tests/control runs the full control-flow suite on
cuda too); these tests check how the work is driven: how many values are read back to the host
(the predicate of a ``cond`` once, a ``while_loop``'s condition once per iteration, a counter
loop's never), stacks growing on the device, sub-graph functions in the generated source.
Without a GPU they run on numba's CUDA simulator (tests/conftest.py selects it).
"""
import numpy as np
import pytest

import staticad as sad
from staticad.backends import cuda_backend

pytestmark = pytest.mark.skipif(not cuda_backend.is_available(),
                                reason=f"no CUDA GPU or simulator: {cuda_backend.unavailable_reason()}")


@pytest.fixture
def readbacks(monkeypatch):
    """Counts the device-to-host reads the generated drivers make for control flow."""
    calls = {"pred": 0, "int": 0}
    read_pred, read_int = cuda_backend.read_pred, cuda_backend.read_int

    def pred(buf):
        calls["pred"] += 1
        return read_pred(buf)

    def integer(buf):
        calls["int"] += 1
        return read_int(buf)

    monkeypatch.setattr(cuda_backend, "read_pred", pred)
    monkeypatch.setattr(cuda_backend, "read_int", integer)
    return calls


def _both(inputs, outputs, *values):
    got = sad.function(inputs, outputs, backend="cuda")(*values)
    want = sad.function(inputs, outputs, backend="numpy")(*values)
    return got, want


def test_while_loop_reads_its_condition_once_per_iteration(readbacks):
    x = sad.placeholder((3,), "float64", name="x")
    y = sad.while_loop(lambda y: y.sum() < 10.0, lambda y: y * 2.0, x)
    f = sad.function([x], y, backend="cuda")
    assert "_sub_while_cond_1(" in f.source and "_sub_while_body_1(" in f.source
    np.testing.assert_array_equal(f(np.array([0.5, 0.25, 0.25])), [8.0, 4.0, 4.0])  # 4 iterations
    assert readbacks == {"pred": 5, "int": 0}


def test_cond_reads_its_predicate_once_and_runs_one_branch(readbacks):
    x = sad.placeholder((2,), "float64", name="x")
    y = sad.cond(x.sum() > 0, lambda x: sad.exp(x), lambda x: x * x, x)
    f = sad.function([x], [y, sad.grad(y.sum(), x)], backend="cuda")
    for xv in (np.array([0.5, -0.25]), np.array([-0.5, 0.25])):
        readbacks["pred"] = 0
        (yv, gv), want = f(xv), sad.function([x], [y, sad.grad(y.sum(), x)], backend="numpy")(xv)
        np.testing.assert_allclose(yv, want[0], rtol=1e-12)
        np.testing.assert_allclose(gv, want[1], rtol=1e-12)
        # the forward cond and the cond of its VJP share one readback of the predicate
        assert readbacks["pred"] == 1


def test_fori_loop_and_its_gradient_need_no_readback(readbacks):
    """A counter loop knows its trip count before it runs; the backward loop counts down from the
    forward loop's trip count, known on the host: no readback at all, and no condition function."""
    x = sad.placeholder((2,), "float64", name="x")
    y = sad.fori_loop(0, 6, lambda i, y: sad.sin(y) * 1.1 + 0.1 * x, x)
    s = (y * y).sum()
    got, want = _both([x], [s, sad.grad(s, x)], np.array([0.3, -0.7]))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert readbacks == {"pred": 0, "int": 0}
    f = sad.function([x], [s, sad.grad(s, x)], backend="cuda")
    assert "_sub_while_cond" not in f.source and "DeviceStack" in f.source


def test_fori_loop_with_a_run_time_bound_reads_it_once(readbacks):
    x = sad.placeholder((2,), "float64", name="x")
    n = sad.placeholder((), "int64", name="n")
    y = sad.fori_loop(0, n, lambda i, y: y * 1.5 + 1.0, x)
    f = sad.function([x, n], [y, sad.grad(y.sum(), x)], backend="cuda")
    yv, gv = f(np.array([1.0, 2.0]), 3)
    np.testing.assert_allclose(yv, np.array([1.0, 2.0]) * 1.5 ** 3 + (1.5 ** 2 + 1.5 + 1.0))
    np.testing.assert_allclose(gv, [1.5 ** 3] * 2)
    assert readbacks == {"pred": 0, "int": 1}


def test_recorded_stack_doubles_on_the_device():
    """20 recorded iterations of a loop whose trip count is unknown before it runs: more than a
    stack's first capacity (16 rows), so the device buffer doubles."""
    x = sad.placeholder((2,), "float64", name="x")
    y, _ = sad.while_loop(lambda y, k: k < 20, lambda y, k: (sad.sin(y) * 1.01 + 0.05, k + 1),
                          (x, sad.constant(0, dtype="int64")))
    s = (y * y).sum()
    got, want = _both([x], [s, sad.grad(s, x)], np.array([0.7, -1.1]))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_device_stack_rows_and_growth():
    st = cuda_backend.DeviceStack((2,), np.float64, capacity=1)
    rows = [np.array([k, -k], np.float64) for k in range(5)]
    for r in rows:
        st.push(cuda_backend._cuda().to_device(r))
    buf, shape = st.value()
    assert shape == (5, 2)
    np.testing.assert_array_equal(buf.copy_to_host().reshape(shape), np.stack(rows))
    empty = cuda_backend.DeviceStack((3,), np.float32)
    assert empty.value()[1] == (0, 3)


def test_trip_count():
    assert cuda_backend.trip_count(0, 5, 1) == 5
    assert cuda_backend.trip_count(5, 0, 1) == 0
    assert cuda_backend.trip_count(0, 5, 2) == 3
    assert cuda_backend.trip_count(7, 0, -1) == 7
    assert cuda_backend.trip_count(7, 0, -3) == 3
    assert cuda_backend.trip_count(0, 100, 1, limit=4) == 4


def test_loop_values_stay_on_the_device_with_device_outputs():
    x = sad.placeholder((3,), "float64", name="x")
    y = sad.fori_loop(0, 3, lambda i, y: y * 2.0, x)
    f = sad.function([x], y, backend="cuda")
    f.return_device_arrays = True
    out = f(cuda_backend._cuda().to_device(np.array([1.0, 2.0, 3.0])))
    assert getattr(out, "__cuda_ndarray__", False)
    np.testing.assert_array_equal(out.copy_to_host(), [8.0, 16.0, 24.0])


def test_counter_loop_with_a_float_bound_reads_its_condition(readbacks):
    """``i < 2.5`` with an int counter is no counter loop (the trip count is no integer difference):
    the condition runs on the device each iteration, as a plain while_loop."""
    x = sad.placeholder((), "float64", name="x")
    b = sad.placeholder((), "float64", name="b")
    i, y = sad.while_loop(lambda i, y: i < b, lambda i, y: (i + 1, y * 2.0),
                          (sad.constant(0, dtype="int64"), x))
    f = sad.function([x, b], [i, y], backend="cuda")
    iv, yv = f(1.0, 2.5)
    assert int(iv) == 3 and float(yv) == 8.0
    assert readbacks["pred"] == 4

"""Inputs a careful user gets wrong: the same clear error (or the same result) on every backend."""
import numpy as np
import pytest

import staticad as sad

BACKENDS = ["numpy", "numba"]


@pytest.fixture(scope="module", params=BACKENDS)
def reshape_fn(request):
    x = sad.placeholder((None,), "float64", name="x")
    y = x.reshape(-1, 2) * 2
    return sad.function([x], [y, sad.grad(sad.sum(y * y), x)], backend=request.param)


def test_reshape_minus_one_of_a_none_dim(reshape_fn):
    y, g = reshape_fn(np.arange(6.0))
    np.testing.assert_array_equal(y, np.arange(6.0).reshape(3, 2) * 2)
    np.testing.assert_array_equal(g, 8 * np.arange(6.0))
    y, _ = reshape_fn(np.arange(4.0))  # the -1 is a run-time dim
    assert y.shape == (2, 2)
    with pytest.raises(ValueError):
        reshape_fn(np.arange(5.0))


@pytest.fixture(scope="module", params=BACKENDS)
def mismatch_fn(request):
    x = sad.placeholder((None,), "float64", name="x")
    y = sad.placeholder((None,), "float64", name="y")
    w = sad.Variable(np.ones(()), name="w")
    f = sad.function([x, y], [x * y + 1], updates=[(w, w + sad.sum(x * y))], backend=request.param)
    return f, w


def test_none_dims_that_must_agree(mismatch_fn):
    f, w = mismatch_fn
    (out,) = f(np.ones(3), np.full(3, 2.0))
    np.testing.assert_array_equal(out, [3, 3, 3])
    before = w.value.copy()
    with pytest.raises(ValueError, match=r"shapes are incompatible at run time: x dim 0 vs y dim 0") as info:
        f(np.ones(4), np.ones(5))
    if f.backend.NAME in ("numpy", "numba"):  # the shapes received are named
        assert "input 'x' has shape (4,), input 'y' has shape (5,)" in str(info.value)
    np.testing.assert_array_equal(w.value, before)  # a failed call changes no Variable
    (out,) = f(np.ones(1), np.ones(5))  # broadcasting a 1 is fine
    assert out.shape == (5,)

"""Jacobians and Hessians batched over one-hot seeds without an identity matrix (staticad.onehot).

Correctness against column-by-column Jacobians for every op is covered by test_batching.py (its
``_batched`` goes through :func:`staticad.onehot.batch_one_hot`); here: what the structure buys."""
import numpy as np
import pytest

import staticad as sad
from staticad import autodiff, batching, onehot
from staticad.graph import walk

F64 = "float64"


def _hessian_graph(n):
    x = sad.placeholder((n,), F64, name="x")
    y = sad.sum(sad.exp(x) * sad.sin(x)) + (x @ x) ** 2
    return x, sad.hessian(y, x)


def _analytic(xv):
    h = 8.0 * np.outer(xv, xv)
    h[np.diag_indices_from(h)] += 2.0 * np.exp(xv) * np.cos(xv) + 4.0 * (xv @ xv)
    return h


def test_hessian_graph_holds_no_n_by_n_constant():
    n = 40
    x, H = _hessian_graph(n)
    big = [t for t in walk([H]) if t.op.name == "constant" and t.attrs["value"].size >= n * n]
    assert big == []
    # while the identity-seeded graph does (what this module replaces)
    g = autodiff._backprop([sad.sum(sad.exp(x))], [sad.constant(1.0, dtype=F64)], [x])[0]
    probe = sad.placeholder((n,), F64, name="t")
    (d,) = autodiff._forward([g], [x], [probe])
    ((old, _),) = batching.batch([d], {probe: sad.constant(np.eye(n))}, n)
    assert [t for t in walk([old]) if t.op.name == "constant" and t.attrs["value"].size >= n * n]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("n", [1, 3, 120])
def test_hessian_matches_the_analytic_one(backend, n):
    x, H = _hessian_graph(n)
    xv = np.random.default_rng(n).uniform(-1, 1, n)
    got = sad.function([x], H, backend=backend)(xv)
    np.testing.assert_allclose(got, _analytic(xv), rtol=1e-12, atol=1e-12)


def test_overflow_on_the_diagonal_leaves_the_rest_zero():
    """exp(x) overflows: the identity seed gave inf * 0 = NaN off the diagonal; the diagonal form
    never multiplies by the zeros."""
    x = sad.placeholder((3,), F64, name="x")
    H = sad.hessian(sad.sum(sad.exp(x)), x)
    with np.errstate(over="ignore"):
        got = sad.function([x], H, backend="numpy")(np.array([1000.0, 0.0, 1.0]))
    assert np.isinf(got[0, 0]) and got[1, 1] == 1.0 and got[2, 2] == np.e
    off = got[~np.eye(3, dtype=bool)]
    np.testing.assert_array_equal(off, 0.0)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_gathers_matrix_vector_and_reshape_rules(mode):
    """Diagonal values through reshape, scale, divide, full sum and the three matmul forms."""
    rng = np.random.default_rng(3)
    M = rng.standard_normal((4, 6))
    x = sad.placeholder((2, 3), F64, name="x")
    v = sad.reshape(x * 2.0 / (1.5 + sad.cos(x)), (6,))
    u = sad.constant(rng.standard_normal(6))
    y = sad.stack([sad.sum(v * v), v @ u, u @ sad.sin(v), sad.sum(M @ v), sad.sum(v @ M.T)])
    J = sad.jacobian(y, x, mode=mode)
    cols = autodiff._jacobian_columns(y, x, mode)
    xv = rng.uniform(-1, 1, (2, 3))
    got, want = sad.function([x], [J, cols], backend="numpy")(xv)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_materialize_is_the_diagonal():
    v = sad.constant(np.arange(1.0, 7.0).reshape(2, 3))
    out = onehot.materialize(v, 6, (2, 3))
    got = sad.function([], out, backend="numpy")()
    np.testing.assert_array_equal(got.reshape(6, 6), np.diag(np.arange(1.0, 7.0)))


def test_dense_plus_diagonal_is_materialised_once():
    """The workload's Hessian is 8 x x^T plus three diagonal terms: one where(i == j, ...)."""
    _, H = _hessian_graph(50)
    assert sum(t.op.name == "where" and t.shape == (50, 50) for t in walk([H])) == 1


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_mixed_dense_and_diagonal_parts_match_columns(mode):
    """Dense + diagonal values through subtract, negative, divide, scale and reshape."""
    rng = np.random.default_rng(5)
    x = sad.placeholder((6,), F64, name="x")
    w = sad.constant(rng.standard_normal(6))
    f = (x @ x) * x - 3.0 * x / (2.0 + sad.cos(x)) - (-(sad.sin(x) * w)) + sad.reshape(
        sad.reshape(x * x, (2, 3)) * 0.5, (6,))
    s = sad.sum(f * f * w)
    J, Jc = sad.jacobian(f, x, mode=mode), autodiff._jacobian_columns(f, x, mode)
    g = sad.grad(s, x)
    H, Hc = autodiff._jacobian_one(g, x, mode), autodiff._jacobian_columns(g, x, mode)
    got = sad.function([x], [J, Jc, H, Hc], backend="numpy")(rng.uniform(-1, 1, 6))
    np.testing.assert_allclose(got[0], got[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[2], got[3], rtol=1e-11, atol=1e-11)

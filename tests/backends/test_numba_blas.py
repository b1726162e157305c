"""``_rt.dot`` through NumPy's own CBLAS (staticad.backends.numba_blas): agreement with np.dot on
every layout, dtype and degenerate shape, and Numba's disk cache across processes."""
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from staticad.backends import numba_blas, numba_runtime as rt

ROOT = Path(__file__).resolve().parents[2]

needs_binding = pytest.mark.skipif(numba_blas.BINDING is None,
                                   reason="NumPy's BLAS is not an ILP64 CBLAS that can be bound here")


def _views(m, n, dt, rng):
    """(name, array) pairs of shape (m, n): C, F, row/column-strided, reversed, broadcast."""
    base = rng.standard_normal((2 * m + 1, 2 * n + 1)).astype(dt)
    c = np.ascontiguousarray(base[:m, :n])
    yield "C", c
    yield "F", np.asfortranarray(c)
    yield "T-view", np.ascontiguousarray(c.T).T
    yield "sliced", base[1:m + 1, 2:n + 2]            # row-major, ld > n
    yield "sliced-T", np.ascontiguousarray(base.T)[2:n + 2, 1:m + 1].T  # column-major, ld > m
    yield "strided", base[:2 * m:2, :2 * n:2]
    yield "reversed", base[:m, :n][::-1, ::-1]
    if m and n:
        yield "broadcast", np.broadcast_to(c[:1], (m, n))


def _vecs(k, dt, rng):
    base = rng.standard_normal(2 * k + 1).astype(dt)
    yield "C", np.ascontiguousarray(base[:k])
    yield "strided", base[:2 * k:2]
    yield "reversed", base[:k][::-1]
    if k:
        yield "broadcast", np.broadcast_to(base[:1], (k,))


SHAPES = [(16, 100, 10), (1, 7, 5), (5, 7, 1), (1, 1, 1), (3, 1, 4), (0, 4, 3), (3, 0, 2), (3, 4, 0)]
TOL = {np.float32: dict(rtol=2e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


# rt.dot is the helper generated code calls: NumPy's CBLAS where bound, else numba's np.dot
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matrix_matrix_agrees_with_numpy_on_every_layout(dt, m, k, n):
    f = rt.dot
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    for (la, a), (lb, b) in itertools.product(_views(m, k, dt, rng), _views(k, n, dt, rng)):
        got, want = f(a, b), np.dot(a, b)
        assert got.dtype == want.dtype and got.shape == want.shape, (la, lb)
        assert got.flags.c_contiguous
        np.testing.assert_allclose(got, want, **TOL[dt], err_msg=f"{la} @ {lb}")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("m,k", [(16, 100), (1, 7), (7, 1), (1, 1), (0, 3), (3, 0)])
def test_matrix_vector_and_vector_matrix_agree_with_numpy(dt, m, k):
    f = rt.dot
    rng = np.random.default_rng(m * 10 + k)
    for (la, a), (lv, v) in itertools.product(_views(m, k, dt, rng), _vecs(k, dt, rng)):
        want = np.dot(a, v)
        got = f(a, v)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, **TOL[dt], err_msg=f"{la} @ {lv}")
    for (lv, v), (la, a) in itertools.product(_vecs(m, dt, rng), _views(m, k, dt, rng)):
        want = np.dot(v, a)
        got = f(v, a)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, **TOL[dt], err_msg=f"{lv} @ {la}")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_vector_vector_and_shape_mismatch(dt):
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(9).astype(dt), rng.standard_normal(9).astype(dt)
    np.testing.assert_allclose(rt.dot(u, v), np.dot(u, v), **TOL[dt])
    for a, b in [(np.ones((2, 3), dt), np.ones((4, 2), dt)), (np.ones((2, 3), dt), np.ones(2, dt)),
                 (np.ones(3, dt), np.ones((2, 3), dt))]:
        with pytest.raises(ValueError):
            rt.dot(a, b)


@needs_binding
def test_binding_is_numpys_own_library():
    import ctypes
    desc = numba_blas.describe()
    assert "NumPy's own CBLAS" in desc
    lib = numba_blas._INFO["library"]
    # the bound function is the very one NumPy's extension resolves
    ext = ctypes.CDLL(numba_blas._numpy_extension())
    assert lib is None or os.path.realpath(lib) in {
        os.path.realpath(p) for p in _loaded_libraries() if "blas" in os.path.basename(p).lower()}
    assert hasattr(ext, numba_blas._INFO["symbol"])


def _loaded_libraries():
    try:
        with open("/proc/self/maps") as fh:
            return {line.split()[-1] for line in fh if line.rstrip().endswith(".so") or ".so." in line}
    except OSError:
        return set()


CACHE_SCRIPT = textwrap.dedent("""
    import numpy as np, staticad as sad
    from staticad.backends import numba_blas, numba_runtime as rt
    rng = np.random.default_rng(0)
    x = sad.placeholder((None, 30), name="x")
    W = sad.Variable(rng.standard_normal((30, 20)).astype("float32"), name="W")
    V = sad.Variable(rng.standard_normal((20, 5)).astype("float32"), name="V")
    loss = (sad.tanh(x @ W) @ V).sum()
    f = sad.function([x], [loss] + sad.grad(loss, [W, V]), backend="numba")
    X = rng.standard_normal((8, 30)).astype("float32")
    l, gW, gV = f(X)
    h = np.tanh(X @ W.value)
    want_gV = h.T @ np.ones((8, 5), "float32")
    want_gW = X.T @ ((np.ones((8, 5), "float32") @ V.value.T) * (1 - h * h))
    np.testing.assert_allclose(l, (h @ V.value).sum(), rtol=1e-4)
    np.testing.assert_allclose(gV, want_gV, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gW, want_gW, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rt.dot(X, W.value), X @ W.value, rtol=1e-5, atol=1e-5)  # the helper alone
    print("binding", numba_blas.BINDING, "cache_hit", f.stats["cache_hit"],
          "helper_hits", sum(rt.dot.stats.cache_hits.values()))
""")


def _run(cache_dir, numba_cache, **env):
    env = dict(os.environ, STATICAD_CACHE_DIR=str(cache_dir), NUMBA_CACHE_DIR=str(numba_cache),
               PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-c", CACHE_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_fresh_process_loads_cached_blas_code_and_gets_the_right_answer(tmp_path):
    first = _run(tmp_path / "sad", tmp_path / "numba")
    assert first.returncode == 0, first.stderr
    assert "cache_hit False" in first.stdout
    second = _run(tmp_path / "sad", tmp_path / "numba")
    assert second.returncode == 0, second.stderr
    assert "cache_hit True" in second.stdout
    if numba_blas.BINDING:
        # the helper itself came from Numba's disk cache (its symbols resolved in this process)
        assert "binding numpy" in second.stdout and "helper_hits 0" not in second.stdout
    # the same caches without the binding: nothing compiled against NumPy's CBLAS is loaded
    other = _run(tmp_path / "sad", tmp_path / "numba", STATICAD_BLAS="numba")
    assert other.returncode == 0, other.stderr
    assert "binding None cache_hit False" in other.stdout


@njit
def _gemm_update(c, a, b, alpha, out):
    rt.gemm_update(c, a, b, alpha, out)


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("m, k, n", [(3, 4, 5), (1, 3, 1), (4, 0, 2)])
def test_gemm_update_agrees_with_numpy_on_every_layout(dt, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    alpha = np.dtype(dt).type(-0.375)
    tol = 1e-5 if dt == "float32" else 1e-12
    c = rng.standard_normal((m, n)).astype(dt)
    # every layout on both sides, paired (not crossed: each new pair of array types is a compile)
    for (na, a), (nb, b) in zip(_views(m, k, dt, rng), _views(k, n, dt, rng)):
        want = c + alpha * (a @ b)
        out = np.full((m, n), np.nan, dt)
        _gemm_update(c, a, b, alpha, out)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol, err_msg=f"{na} @ {nb}")
        inplace = c.copy()  # c is out: the Variable's own storage
        _gemm_update(inplace, a, b, alpha, inplace)
        np.testing.assert_allclose(inplace, want, rtol=tol, atol=tol, err_msg=f"in place, {na} @ {nb}")


@pytest.mark.parametrize("view", ["same", "T", "reversed", "F-out"])
def test_gemm_update_into_an_operand_computes_the_product_first(view):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 4))
    b = rng.standard_normal((4, 4))
    want = w + 0.5 * (w @ b) if view == "same" else None
    out = w.copy()
    if view == "same":
        a = out
    elif view == "T":
        a = out.T
        want = w + 0.5 * (w.T @ b)
    elif view == "reversed":
        a = out[::-1, ::-1]
        want = w + 0.5 * (w[::-1, ::-1] @ b)
    else:  # an F-ordered out: not a layout the GEMM writes
        out = np.asfortranarray(w)
        a = b
        want = w + 0.5 * (b @ b)
    _gemm_update(out, a, b, 0.5, out)
    np.testing.assert_allclose(out, want, rtol=1e-12)

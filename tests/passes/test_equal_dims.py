"""Plans specialised for equal ``None`` dims (``passes.symshape.assuming_equal``,
``compiler.SpecializedExecutable``).

Placeholders whose ``None`` dims broadcast together (``x (N, 1)`` against ``y (M, 1)``) compile
to a plan that takes them equal, checked per call; a call where they differ (legal broadcasting:
one of them has size 1) runs the general plan, compiled on that first call. Every backend agrees
with the numpy reference either way.
"""
import numpy as np
import pytest

import staticad as sad
from staticad.compiler import SpecializedExecutable, equal_dim_groups
from staticad.passes.plan import make_plan
from staticad.passes.symshape import assuming_equal, symbolic_shapes

ROWS = [(64, 64), (1, 64), (64, 1), (1, 1), (5, 5)]


def _linreg(backend, dtype, updates=False):
    w = sad.Variable(np.full((1, 1), 0.5, dtype), name="w")
    b = sad.Variable(np.full((1, 1), -0.25, dtype), name="b")
    x = sad.placeholder((None, 1), dtype, name="x")
    y = sad.placeholder((None, 1), dtype, name="y")
    loss = ((x @ w + b - y) ** 2).mean()
    gw, gb = sad.grad(loss, [w, b])
    ups = {w: w - 0.1 * gw, b: b - 0.1 * gb} if updates else None
    return sad.function([x, y], [loss, gw, gb], updates=ups, backend=backend), (w, b)


def _data(nx, ny, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((nx, 1)).astype(dtype), rng.standard_normal((ny, 1)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linreg_agrees_with_numpy_for_equal_and_broadcasting_rows(backend, dtype):
    f, _ = _linreg(backend, dtype)
    ref, _ = _linreg("numpy", dtype)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    for nx, ny in ROWS:
        x, y = _data(nx, ny, dtype)
        for got, want in zip(f(x, y), ref(x, y)):
            assert np.asarray(got).dtype == np.dtype(dtype)
            np.testing.assert_allclose(np.asarray(got), want, **tol)


def test_updates_agree_and_a_failing_call_changes_no_variable(backend):
    f, (w, b) = _linreg(backend, "float32", updates=True)
    ref, (rw, rb) = _linreg("numpy", "float32", updates=True)
    for nx, ny in [(32, 32), (1, 32), (32, 1), (32, 32)]:
        x, y = _data(nx, ny, "float32", seed=nx + ny)
        for got, want in zip(f(x, y), ref(x, y)):
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(w.value, rw.value, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(b.value, rb.value, rtol=2e-5, atol=1e-6)
    before = (w.value.copy(), b.value.copy())
    with pytest.raises(ValueError, match=r"shapes are incompatible at run time: x dim 0 vs y dim 0"):
        f(*_data(5, 3, "float32"))
    np.testing.assert_array_equal(w.value, before[0])
    np.testing.assert_array_equal(b.value, before[1])


def test_equal_rows_are_one_loop_with_scalar_accumulators():
    f, _ = _linreg("numba", "float32")
    ex = f._exec
    assert isinstance(ex, SpecializedExecutable) and ex.groups == (((0, 0), (1, 0)),)
    full = [k for k in ex.plan.kernels if len(k.sym) == 2 and k.sym[0] != 1]
    assert len(full) == 1 and not full[0].stored  # one pass over x and y, nothing per row written
    assert not any(getattr(s, "op", None) is not None and s.op.name in ("sum_to_like", "matmul")
                   for s in ex.plan.steps)
    f(*_data(100, 100, "float32"))
    assert ex.general is None  # equal rows never need the general plan
    f(*_data(1, 100, "float32"))
    assert ex.general is not None
    full = [k for k in ex.general.plan.kernels if len(k.sym) == 2 and k.sym[0] != 1]
    assert len(full) == 2  # broadcasting: the gradient is summed back to x's rows first


def test_incompatible_dims_are_refused_without_compiling_the_general_plan():
    f, _ = _linreg("numba", "float32")
    with pytest.raises(ValueError, match="shapes are incompatible at run time: x dim 0 vs y dim 0"):
        f(*_data(4, 6, "float32"))
    assert f._exec.general is None


def test_no_specialisation_without_broadcasting_inputs():
    x = sad.placeholder((None, 3), "float32", name="x")
    f = sad.function([x], (x * 2.0).sum(), backend="numba")
    assert not isinstance(f._exec, SpecializedExecutable)
    a = sad.placeholder((None,), "float64", name="a")
    c = sad.placeholder((4,), "float64", name="c")
    assert equal_dim_groups(sad.function([a, c], a + c, backend="numpy").program) == ()


def test_groups_over_several_axes_and_inputs(backend):
    a = sad.placeholder((None, None), "float64", name="a")
    b = sad.placeholder((None, None), "float64", name="b")
    c = sad.placeholder((None, 1), "float64", name="c")
    out = [((a * b - c) ** 2).sum(axis=0), sad.grad(((a - b) * c).sum(), [a, c])]
    f = sad.function([a, b, c], out, backend=backend)
    ref = sad.function([a, b, c], out, backend="numpy")
    if backend != "numpy":
        assert f._exec.groups == (((0, 0), (1, 0), (2, 0)), ((0, 1), (1, 1)))
    rng = np.random.default_rng(1)
    for sa, sb, sc in [((4, 3), (4, 3), (4, 1)), ((1, 3), (4, 3), (4, 1)), ((4, 1), (4, 3), (1, 1)),
                       ((4, 3), (4, 3), (1, 1))]:
        args = [rng.standard_normal(s) for s in (sa, sb, sc)]
        got, want = f(*args), ref(*args)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
        for g, r in zip(got[1], want[1]):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


def test_a_rebound_executable_keeps_the_specialisation_and_its_own_variables():
    f1, (w1, _) = _linreg("numba", "float32", updates=True)
    f2, (w2, _) = _linreg("numba", "float32", updates=True)
    ref, (rw, _) = _linreg("numpy", "float32", updates=True)
    assert f2.stats["cache_hit"] and isinstance(f2._exec, SpecializedExecutable)
    for nx, ny in [(16, 16), (1, 16)]:
        x, y = _data(nx, ny, "float32")
        for got, want in zip(f2(x, y), ref(x, y)):
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(w2.value, rw.value, rtol=2e-5, atol=1e-6)
    assert w1.value[0, 0] == np.float32(0.5)  # f1's Variable untouched by f2's calls
    full = [k for k in f2._exec.plan.kernels if len(k.sym) == 2 and k.sym[0] != 1]
    assert len(full) == 1  # the rebound executable's plan (recomputed) is the specialised one


def test_profile_with_broadcasting_rows_runs_the_general_plan():
    f, _ = _linreg("numba", "float32")
    ref, _ = _linreg("numpy", "float32")
    x, y = _data(1, 50, "float32")
    report = f.profile(x, y, repeat=2)
    assert report is not None
    for got, want in zip(f(x, y), ref(x, y)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-6)


def test_assuming_equal_unifies_placeholder_symbols_only_inside_the_block():
    x = sad.placeholder((None, 1), "float32", name="x")
    y = sad.placeholder((None, 1), "float32", name="y")
    d = x - y
    prog = sad.function([x, y], d, backend="numpy").program
    assert symbolic_shapes(prog.nodes)[prog.outputs[0]][0][0] == "bc"
    with assuming_equal(prog, (((0, 0), (1, 0)),)):
        assert symbolic_shapes(prog.nodes)[prog.outputs[0]] == (("in", x.id, 0), 1)
    assert symbolic_shapes(prog.nodes)[prog.outputs[0]][0][0] == "bc"
    assert make_plan(prog, equal_dims=(((0, 0), (1, 0)),)).equal_dims == (((0, 0), (1, 0)),)


def test_overlapping_groups_are_merged(backend):
    """{b, c} and {a, b} broadcast in separate outputs: one group {a, b, c} (equality is
    transitive; taking c equal to b and b equal to a, c must be a's symbol too)."""
    a = sad.placeholder((None,), "float64", name="a")
    b = sad.placeholder((None,), "float64", name="b")
    c = sad.placeholder((None,), "float64", name="c")
    out = [(b * c).sum(), (a - b) * 2.0, sad.grad(((b - c) ** 2).sum() + (a * b).sum(), [a, b, c])]
    f = sad.function([a, b, c], out, backend=backend)
    ref = sad.function([a, b, c], out, backend="numpy")
    if backend != "numpy":
        assert f._exec.groups == (((0, 0), (1, 0), (2, 0)),)
    rng = np.random.default_rng(2)
    for n in [(6, 6, 6), (1, 6, 6), (6, 6, 1), (6, 1, 6), (1, 1, 1)]:
        args = [rng.standard_normal(k) for k in n]
        got, want = f(*args), ref(*args)
        for g, r in zip(got[:2] + list(got[2]), want[:2] + list(want[2])):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)

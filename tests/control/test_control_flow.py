"""sad.cond / sad.while_loop / sad.fori_loop: values, derivatives both ways, higher order, errors.

Every derivative is checked against central finite differences in float64 (the loops' trip
counts are piecewise constant, so test points stay away from the switching points); compiled
backends run the same tests through the ``backend`` fixture.
"""
import numpy as np
import pytest

import staticad as sad

EPS = 1e-6


def fd_grad(fn, x):
    """Central differences of the scalar function ``fn`` at ``x`` (float64)."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = EPS
        g[idx] = (fn(x + e) - fn(x - e)) / (2 * EPS)
    return g


def fd_jacobian(fn, x):
    x = np.asarray(x, np.float64)
    cols = []
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = EPS
        cols.append((np.asarray(fn(x + e)) - np.asarray(fn(x - e))) / (2 * EPS))
    return np.stack(cols, axis=-1).reshape(np.shape(fn(x)) + x.shape)


# --- the tutorial's function -------------------------------------------------------------------------
def tutorial_f(a):
    """``b = a*2; while b.norm() < 1000: b = b*2; c = b if b.sum() > 0 else 100*b``."""
    b = a * 2
    b = sad.while_loop(lambda b: b.norm() < 1000, lambda b: b * 2, b)
    return sad.cond(b.sum() > 0, lambda b: b, lambda b: 100 * b, b)


def tutorial_ref(a):
    b = a * 2
    while np.linalg.norm(b) < 1000:
        b = b * 2
    return b if b.sum() > 0 else 100 * b


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tutorial_scalar_gradient_is_d_over_a(backend, seed):
    a = sad.placeholder((), name="a")
    d = tutorial_f(a)
    f = sad.function([a], [d, sad.grad(d, a)], backend=backend)
    rng = np.random.default_rng(seed)
    for av in (np.float32(abs(rng.standard_normal())), np.float32(-abs(rng.standard_normal()))):
        dv, gv = f(av)
        np.testing.assert_allclose(dv, tutorial_ref(av), rtol=1e-6)
        assert gv == dv / av  # a.grad == d / a (exact: the factor is a power of two, times 100)


@pytest.mark.parametrize("seed", [0, 5])
def test_tutorial_vector_with_sum(backend, seed):
    a = sad.placeholder((10,), name="a")
    d = tutorial_f(a)
    f = sad.function([a], [d, sad.grad(d.sum(), a)], backend=backend)
    av = np.random.default_rng(seed).standard_normal(10).astype(np.float32)
    dv, gv = f(av)
    ref = tutorial_ref(av)
    np.testing.assert_allclose(dv, ref, rtol=1e-6)
    factor = ref[0] / av[0]
    np.testing.assert_allclose(gv, np.full(10, factor), rtol=1e-6)
    np.testing.assert_allclose(dv / av, gv, rtol=1e-5)


# --- several loop variables, captures, nesting ---------------------------------------------------------------
def test_two_loop_variables_and_captured_variable(backend):
    """(x, n) loop: x <- x * w + sin(x) while n < 4, n counts; gradients to x0 and the Variable w."""
    w = sad.Variable(np.array([0.9, 1.1, 0.7]), name="w", dtype="float64")
    x = sad.placeholder((3,), "float64", name="x")
    xf, nf = sad.while_loop(lambda x, n: n < 4, lambda x, n: (x * w + sad.sin(x), n + 1),
                            (x, sad.constant(0, dtype="int64")))
    s = (xf * xf).sum()
    gx, gw = sad.grad(s, [x, w])
    f = sad.function([x], [s, nf, gx, gw], backend=backend)
    xv = np.array([0.3, -0.2, 0.5])

    def ref(xv, wv):
        for _ in range(4):
            xv = xv * wv + np.sin(xv)
        return (xv * xv).sum()

    sv, nv, gxv, gwv = f(xv)
    assert int(nv) == 4
    np.testing.assert_allclose(sv, ref(xv, w.value), rtol=1e-12)
    np.testing.assert_allclose(gxv, fd_grad(lambda t: ref(t, w.value), xv), rtol=1e-6)
    np.testing.assert_allclose(gwv, fd_grad(lambda t: ref(xv, t), w.value), rtol=1e-6)


def test_fori_loop_body_uses_index(backend):
    x = sad.placeholder((2,), "float64", name="x")
    y = sad.fori_loop(1, 4, lambda i, y: y * sad.cos(y) + i.astype("float64") * x, x)
    s = y.sum()
    f = sad.function([x], [s, sad.grad(s, x)], backend=backend)

    def ref(xv):
        y = xv
        for i in range(1, 4):
            y = y * np.cos(y) + i * xv
        return y.sum()

    xv = np.array([0.4, -0.3])
    sv, gv = f(xv)
    np.testing.assert_allclose(sv, ref(xv), rtol=1e-12)
    np.testing.assert_allclose(gv, fd_grad(ref, xv), rtol=1e-6, atol=1e-9)


def test_nested_loops(backend):
    """outer: 3 times { inner: while y.sum() < 4*(i+1) -> y = y*1.5 + c }."""
    x = sad.placeholder((2,), "float64", name="x")
    c = sad.placeholder((), "float64", name="c")

    def outer_body(i, y):
        limit = (i + 1).astype("float64") * 4.0
        return sad.while_loop(lambda y: y.sum() < limit, lambda y: y * 1.5 + c * y.sum() * 0.1, y)

    y = sad.fori_loop(0, 3, outer_body, x)
    s = (y * y).sum()
    f = sad.function([x, c], [s, sad.grad(s, [x, c])], backend=backend)

    def ref(xv, cv):
        y = xv
        for i in range(3):
            while y.sum() < 4.0 * (i + 1):
                y = y * 1.5 + cv * y.sum() * 0.1
        return (y * y).sum()

    xv, cv = np.array([0.5, 0.7]), 0.3
    sv, (gx, gc) = f(xv, cv)
    np.testing.assert_allclose(sv, ref(xv, cv), rtol=1e-12)
    np.testing.assert_allclose(gx, fd_grad(lambda t: ref(t, cv), xv), rtol=1e-6)
    np.testing.assert_allclose(gc, fd_grad(lambda t: ref(xv, t), np.float64(cv)), rtol=1e-6)


def test_cond_inside_loop(backend):
    x = sad.placeholder((3,), "float64", name="x")

    def body(i, y):
        return sad.cond(y.sum() > 1.0, lambda y: y * 0.5 + sad.exp(-y), lambda y: y * y + 1.0, y)

    y = sad.fori_loop(0, 5, body, x)
    s = y.sum()
    f = sad.function([x], [s, sad.grad(s, x)], backend=backend)

    def ref(xv):
        y = xv
        for _ in range(5):
            y = y * 0.5 + np.exp(-y) if y.sum() > 1.0 else y * y + 1.0
        return y.sum()

    xv = np.array([0.1, -0.4, 0.2])
    sv, gv = f(xv)
    np.testing.assert_allclose(sv, ref(xv), rtol=1e-12)
    np.testing.assert_allclose(gv, fd_grad(ref, xv), rtol=1e-6, atol=1e-9)


def test_cond_captures_and_branches(backend):
    """Only the taken branch's value; gradients to operands and to captured tensors."""
    x = sad.placeholder((2,), "float64", name="x")
    w = sad.placeholder((2,), "float64", name="w")
    p = sad.placeholder((), "bool", name="p")
    y = sad.cond(p, lambda x: sad.sin(x) * w, lambda x: x * x, x)
    s = y.sum()
    f = sad.function([p, x, w], [y, sad.grad(s, [x, w])], backend=backend)
    xv, wv = np.array([0.3, 0.6]), np.array([2.0, -1.0])
    yv, (gx, gw) = f(True, xv, wv)
    np.testing.assert_allclose(yv, np.sin(xv) * wv)
    np.testing.assert_allclose(gx, np.cos(xv) * wv)
    np.testing.assert_allclose(gw, np.sin(xv))
    yv, (gx, gw) = f(False, xv, wv)
    np.testing.assert_allclose(yv, xv * xv)
    np.testing.assert_allclose(gx, 2 * xv)
    np.testing.assert_array_equal(gw, [0.0, 0.0])


def test_zero_iteration_loop(backend):
    x = sad.placeholder((3,), "float64", name="x")
    y = sad.while_loop(lambda y: y.sum() > 100.0, lambda y: y * 3.0, x)
    f = sad.function([x], [y, sad.grad((y * y).sum(), x), sad.jvp(y, x, np.ones(3))], backend=backend)
    xv = np.array([1.0, 2.0, 3.0])
    yv, gv, tv = f(xv)
    np.testing.assert_array_equal(yv, xv)
    np.testing.assert_array_equal(gv, 2 * xv)
    np.testing.assert_array_equal(tv, np.ones(3))


def test_max_iterations_reached(backend):
    x = sad.placeholder((), "float64", name="x")
    y, n = sad.while_loop(lambda y, n: y > 0.0, lambda y, n: (y * 1.5 + 1.0, n + 1),
                          [x, sad.constant(0, dtype="int64")], max_iterations=5)
    f = sad.function([x], [y, n, sad.grad(y, x)], backend=backend)
    yv, nv, gv = f(2.0)
    ref = 2.0
    for _ in range(5):
        ref = ref * 1.5 + 1.0
    assert int(nv) == 5
    np.testing.assert_allclose(yv, ref)
    np.testing.assert_allclose(gv, 1.5 ** 5)


# --- forward mode, Jacobians, second order ------------------------------------------------------------------
def _loop_fn(x):
    def body(i, y):
        return sad.tanh(y) * x + 0.3 * y * y.sum()
    return sad.fori_loop(0, 3, body, x * 0.5)


def _loop_ref(xv):
    y = xv * 0.5
    for _ in range(3):
        y = np.tanh(y) * xv + 0.3 * y * y.sum()
    return y


def test_jvp_equals_vjp_jacobian(backend):
    x = sad.placeholder((3,), "float64", name="x")
    y = _loop_fn(x)
    jr = sad.jacobian(y, x, mode="rev")
    jf = sad.jacobian(y, x, mode="fwd")
    v = np.array([0.5, -1.0, 2.0])
    f = sad.function([x], [jr, jf, sad.jvp(y, x, v), sad.vjp(y, x, v)], backend=backend)
    xv = np.array([0.2, -0.5, 0.7])
    jrv, jfv, jv, vj = f(xv)
    np.testing.assert_allclose(jrv, jfv, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jrv, fd_jacobian(_loop_ref, xv), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jv, jrv @ v, rtol=1e-12)
    np.testing.assert_allclose(vj, v @ jrv, rtol=1e-12)


def test_hessian_through_loop(backend):
    x = sad.placeholder((3,), "float64", name="x")
    s = (_loop_fn(x) ** 2).sum()
    g = sad.grad(s, x)
    H = sad.hessian(s, x)
    v = np.array([1.0, 0.5, -2.0])
    f = sad.function([x], [g, H, sad.hvp(s, x, v), sad.vhp(s, x, v)], backend=backend)
    xv = np.array([0.2, -0.5, 0.7])
    gv, Hv, hv, vh = f(xv)
    ref = lambda t: (_loop_ref(t) ** 2).sum()  # noqa: E731
    np.testing.assert_allclose(gv, fd_grad(ref, xv), rtol=1e-6, atol=1e-9)
    gfun = sad.function([x], g, backend="numpy")
    np.testing.assert_allclose(Hv, fd_jacobian(gfun, xv), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(Hv, Hv.T, rtol=1e-10)
    np.testing.assert_allclose(hv, Hv @ v, rtol=1e-10)
    np.testing.assert_allclose(vh, v @ Hv, rtol=1e-10)


def test_hessian_through_cond_and_while(backend):
    x = sad.placeholder((2,), "float64", name="x")
    y = sad.while_loop(lambda y: (y * y).sum() < 10.0, lambda y: y * 1.3 + sad.sin(y), x)
    z = sad.cond(y.sum() > 0, lambda y: sad.exp(y * 0.1), lambda y: y * y * y, y)
    s = z.sum()
    H = sad.hessian(s, x)
    f = sad.function([x], H, backend=backend)
    gfun = sad.function([x], sad.grad(s, x), backend="numpy")
    for xv in (np.array([0.4, 0.3]), np.array([-0.4, -0.3])):
        np.testing.assert_allclose(f(xv), fd_jacobian(gfun, xv), rtol=1e-6, atol=1e-8)


# --- the graph: pruning, passes ------------------------------------------------------------------------------
def test_unused_loop_is_pruned():
    from staticad.passes import optimize
    from staticad.program import Program
    x = sad.placeholder((3,), name="x")
    unused = sad.while_loop(lambda y: y.sum() < 10.0, lambda y: y * 2, x)
    out = x * 3
    prog, _ = optimize(Program.build("f", [x], [out], []))
    assert "while_loop" not in {n.op.name for n in prog.nodes}
    assert unused.op.name == "tuple_get"


def test_backward_loop_carries_only_what_it_needs():
    """The tutorial's body b*2 has a VJP that reads nothing of b: nothing is stacked."""
    a = sad.placeholder((), name="a")
    g = sad.grad(tutorial_f(a), a)
    from staticad.graph import walk
    loops = [n for n in walk([g]) if n.op.name == "while_loop"]
    assert all(n.attrs["record"] == () for n in loops)
    x = sad.placeholder((2,), name="x")
    g2 = sad.grad(sad.while_loop(lambda y: y.sum() < 10.0, lambda y: y * y + 1.0, x).sum(), x)
    assert any(n.attrs["record"] == (0,) for n in walk([g2]) if n.op.name == "while_loop")


# --- errors ------------------------------------------------------------------------------------------
def test_error_branch_mismatch_names_both():
    x = sad.placeholder((3,), name="x")
    p = x.sum() > 0
    with pytest.raises(TypeError, match=r"true_fn has shape \(3,\) float32 but false_fn's has shape \(\) float32"):
        sad.cond(p, lambda x: x, lambda x: x.sum(), x)
    with pytest.raises(TypeError, match=r"float32 .*float64"):
        sad.cond(p, lambda x: x, lambda x: x.astype("float64"), x)
    with pytest.raises(TypeError, match="true_fn returns one tensor but false_fn returns 2 tensors"):
        sad.cond(p, lambda x: x, lambda x: (x, x), x)


def test_error_body_changes_shape_or_dtype():
    x = sad.placeholder((3,), name="x")
    with pytest.raises(ValueError, match=r"loop variable 0 from shape \(3,\) float32 to shape \(\) float32"):
        sad.while_loop(lambda y: y.sum() < 1, lambda y: y.sum(), x)
    with pytest.raises(ValueError, match=r"loop variable 0 from shape \(3,\) float32 to shape \(3,\) float64"):
        sad.while_loop(lambda y: y.sum() < 1, lambda y: y.astype("float64"), x)
    with pytest.raises(TypeError, match="must return 2 loop variable"):
        sad.while_loop(lambda y, z: y.sum() < 1, lambda y, z: y, [x, x])


def test_error_pred_not_bool_scalar():
    x = sad.placeholder((3,), name="x")
    with pytest.raises(TypeError, match="bool scalar"):
        sad.while_loop(lambda y: y < 1, lambda y: y, x)
    with pytest.raises(TypeError, match="bool scalar"):
        sad.cond(x.sum(), lambda: x, lambda: x)


def test_python_if_and_while_on_tensors_name_the_control_ops():
    x = sad.placeholder((), name="x")
    with pytest.raises(TypeError, match="sad.cond"):
        if x > 0:
            pass
    with pytest.raises(TypeError, match="sad.while_loop"):
        while x < 0:
            pass


def test_undeclared_placeholder_captured_is_named():
    x = sad.placeholder((), name="x")
    hidden = sad.placeholder((), name="hidden")
    y = sad.while_loop(lambda y: y < hidden, lambda y: y + 1.0, x)
    with pytest.raises(ValueError, match="hidden"):
        sad.function([x], y, backend="numpy")


def test_long_loop_stack_grows(backend):
    """40 recorded iterations: more than a stack's first capacity, so the buffer doubles."""
    x = sad.placeholder((2,), "float64", name="x")
    y = sad.fori_loop(0, 40, lambda i, y: sad.sin(y) * 1.01 + 0.05 * x, x)
    s = (y * y).sum()
    f = sad.function([x], [s, sad.grad(s, x)], backend=backend)

    def ref(xv):
        y = xv
        for _ in range(40):
            y = np.sin(y) * 1.01 + 0.05 * xv
        return (y * y).sum()

    xv = np.array([0.7, -1.1])
    sv, gv = f(xv)
    np.testing.assert_allclose(sv, ref(xv), rtol=1e-12)
    np.testing.assert_allclose(gv, fd_grad(ref, xv), rtol=1e-6, atol=1e-9)


def test_dynamic_shapes_and_tensor_trip_count(backend):
    """A None dim and a trip count fed at call time: one compiled function for all of them."""
    x = sad.placeholder((None,), "float64", name="x")
    n = sad.placeholder((), "int64", name="n")
    y = sad.fori_loop(0, n, lambda i, y: y * sad.cos(y), x)
    s = y.sum()
    f = sad.function([x, n], [s, sad.grad(s, x)], backend=backend)

    def ref(xv, k):
        for _ in range(k):
            xv = xv * np.cos(xv)
        return xv.sum()

    for xv, k in ((np.array([0.3, 0.9, -0.4]), 4), (np.array([1.2]), 0), (np.array([0.5, 0.25]), 2)):
        sv, gv = f(xv, k)
        np.testing.assert_allclose(sv, ref(xv, k), rtol=1e-12)
        np.testing.assert_allclose(gv, fd_grad(lambda t: ref(t, k), xv), rtol=1e-6, atol=1e-9)


def test_error_bad_loop_arguments():
    x = sad.placeholder((), name="x")
    with pytest.raises(ValueError, match="max_iterations"):
        sad.while_loop(lambda y: y < 1, lambda y: y + 1, x, max_iterations=-1)
    with pytest.raises(TypeError, match="fori_loop: upper must be an int scalar"):
        sad.fori_loop(0, x, lambda i, y: y, x)
    with pytest.raises(TypeError, match="must return tensors"):
        sad.while_loop(lambda y: y < 1, lambda y: "y", x)


def test_run_time_shape_change_raises(backend):
    """A body whose output has an unknown dim passes the build-time check but may not grow."""
    x = sad.placeholder((None,), "float64", name="x")
    y = sad.while_loop(lambda y: y.sum() < 10.0, lambda y: sad.concatenate([y, y[:1]]), x)
    f = sad.function([x], y, backend=backend)
    np.testing.assert_array_equal(f(np.array([20.0, 1.0])), [20.0, 1.0])  # no iteration: fine
    with pytest.raises(ValueError, match="loop variable 0 changed"):
        f(np.array([1.0, 2.0]))


def test_matrix_loop_bool_int_vars_and_transposed_branch(backend):
    """Loop variables of several dtypes (a matrix, a bool flag, an int32 counter) and a branch
    returning a transposed view: values and the gradient against the numpy reference."""
    x = sad.placeholder((2, 2), "float64", name="x")
    p = sad.placeholder((), "bool", name="p")
    c = sad.cond(p, lambda a: sad.cond(a.sum() > 0, lambda: a @ a, lambda: -a), lambda a: a.T * 2.0, x)
    m, done, k = sad.while_loop(
        lambda m, d, k: sad.logical_not(d),
        lambda m, d, k: (m @ x, sad.logical_or(m.sum() > 5.0, k > 10), k + 1),
        [sad.constant(np.eye(2)), sad.constant(False), sad.constant(0, dtype="int32")])
    outs = [c, m, k, sad.grad((c * c).sum() + m.sum(), x)]
    xv = np.array([[1.1, 0.2], [0.3, 0.9]])
    for pv in (True, False):
        got = sad.function([p, x], outs, backend=backend)(pv, xv)
        want_c = (xv @ xv if xv.sum() > 0 else -xv) if pv else xv.T * 2.0
        mm, kk = np.eye(2), 0
        while True:
            mm, done_v, kk = mm @ xv, mm.sum() > 5.0 or kk > 10, kk + 1
            if done_v:
                break
        np.testing.assert_allclose(got[0], want_c, rtol=1e-12)
        np.testing.assert_allclose(got[1], mm, rtol=1e-12)
        assert got[2] == kk and got[2].dtype == np.int32

        def ref(t):
            cc = (t @ t if t.sum() > 0 else -t) if pv else t.T * 2.0
            m2, k2 = np.eye(2), 0
            while True:
                m2, d2, k2 = m2 @ t, m2.sum() > 5.0 or k2 > 10, k2 + 1
                if d2:
                    break
            return (cc * cc).sum() + m2.sum()
        np.testing.assert_allclose(got[3], fd_grad(ref, xv), rtol=1e-6, atol=1e-8)

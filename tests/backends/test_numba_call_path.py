"""The numba backend's per-call path: inputs of any layout, 0-d outputs returned as values by the
entry point and wrapped as fresh 0-d arrays, one compiled signature per entry point, and the
profiling build of a second, structurally identical function."""
import warnings

import numpy as np
import pytest

import staticad as sad


def _agree(inputs, outputs, args):
    """``[(f, f(*args))]`` on the numba, then the numpy backend."""
    results = []
    for backend in ("numba", "numpy"):
        f = sad.function(inputs, outputs, backend=backend)
        results.append((f, f(*args)))
    return results


def test_inputs_of_any_layout_give_the_same_results_and_compile_nothing_new():
    x = sad.placeholder((3, 4), name="x")
    y = sad.placeholder((4,), name="y")
    f = sad.function([x, y], [x * 2 + y, (x * y).sum()], backend="numba")
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    vec = np.array([1, -2, 3, 0.5], np.float32)
    want = [base * 2 + vec, (base * vec).sum()]
    readonly = base.copy()
    readonly.flags.writeable = False
    wide = np.zeros((3, 8), np.float32)
    wide[:, ::2] = base
    cases = {"C": base, "F": np.asfortranarray(base), "strided": wide[:, ::2], "read-only": readonly,
             "transposed": np.ascontiguousarray(base.T).T}
    for name, a in cases.items():
        out, s = f(a, vec)
        np.testing.assert_allclose(out, want[0], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(s, want[1], rtol=1e-6, err_msg=name)
    assert len(f._exec.entry.overloads) == 1  # each layout was refused, conformed, not compiled


def test_wrong_dtype_and_shape_still_name_the_input():
    x = sad.placeholder((3,), name="x")
    f = sad.function([x], x * 2, backend="numba")
    with pytest.raises(ValueError, match="'x'.*expected shape.*received"):
        f(np.ones(4, np.float32))
    with pytest.raises(TypeError, match="'x'.*expected dtype float32, received complex128"):
        f(np.ones(3, np.complex128))
    np.testing.assert_allclose(f(np.ones(3, np.float64)), [2, 2, 2])  # same-kind conversion


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_0d_outputs_are_fresh_0d_arrays_of_their_dtype(dtype):
    x = sad.placeholder((5,), dtype=dtype, name="x")
    a = np.array([1, 0, 3, 2, 1]).astype(dtype)
    outputs = [x.sum(), x[2], x * 2, x.max(), x.sum() > 2, x[2]]  # a bool, and one value twice
    (f, got), (_, want) = _agree([x], outputs, [a])
    assert len(got) == len(want) == len(outputs)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.shape == np.shape(w) and g.dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)
    assert got[1] is not got[5]
    first = f(a)
    first[0][...] = 7  # a result is fresh: the next call does not see it
    assert f(a)[0] == want[0]


def test_0d_output_of_an_updated_variable_is_its_pre_update_value():
    def build():
        v = sad.Variable(np.float32(2.0), name="v")
        x = sad.placeholder((), name="x")
        return [x], [v, v * x, x], [(v, v + x)]

    for backend in ("numba", "numpy"):
        ins, outs, ups = build()
        f = sad.function(ins, outs, updates=ups, backend=backend)
        v_out, prod, x_out = f(np.float32(3.0))
        assert (float(v_out), float(prod), float(x_out)) == (2.0, 6.0, 3.0), backend
        assert all(isinstance(o, np.ndarray) and o.shape == () and o.dtype == np.float32 for o in (v_out, prod, x_out))
        v_out, _, _ = f(1.5)  # a Python float for a float32 scalar
        assert float(v_out) == 5.0
        assert float(ups[0][0].value) == 6.5


def test_single_0d_output_and_numpy_scalar_input():
    x = sad.placeholder((), "float32", name="x")
    f = sad.function([x], sad.grad(x ** 2 + 3 * x + 1, x), backend="numba")
    out = f(np.float32(2.5))
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32 and float(out) == 8.0
    assert float(f(np.array(1.0, np.float32))) == 5.0
    assert float(f(2)) == 7.0


def _step():
    x = sad.placeholder((4, 3), name="x")
    w = sad.Variable(np.ones((3, 2), np.float32), name="w")
    b = sad.Variable(np.zeros(2, np.float32), name="b")
    loss = sad.sum((x @ w + b) ** 2)
    gw, gb = sad.grad(loss, [w, b])
    f = sad.function([x], loss, updates=[(w, w - 0.01 * gw), (b, b - 0.01 * gb)], backend="numba")
    return f, w, b


def test_profile_of_a_second_structurally_identical_step_times_each_kernel():
    """The second function reuses the first one's compiled executable (rebound to its own
    Variables); its profiling build must still time every kernel, not fall back to the whole call."""
    f1, w1, _ = _step()
    f2, w2, b2 = _step()
    x = np.ones((4, 3), np.float32)
    f1(x)
    before = (w2.value.copy(), b2.value.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fallback warns
        report = f2.profile(x, repeat=3)
    text = str(report)
    assert "kernel0" in text and "matmul" in text and "epilogue" in text
    np.testing.assert_array_equal(w2.value, before[0])  # profiling leaves Variables unchanged
    np.testing.assert_array_equal(b2.value, before[1])
    with sad.profile() as p:  # a real call in a block updates f2's Variables, not f1's
        f2(x)
    assert not np.array_equal(w2.value, before[0])
    np.testing.assert_array_equal(w1.value, f1._exec._variables[0]._host)
    assert "kernel0" in str(p)


@pytest.mark.parametrize("case", ["transpose only", "base too", "twice", "and its sum", "as an update",
                                  "after a dead buffer"])
def test_transposed_kernel_results_are_fresh_outputs(case):
    """A kernel result returned through its transpose is allocated fresh and the view returned
    without a copy (a Hessian's ``.T``): every result must still be fresh and not alias another
    (nor the workspace: "after a dead buffer" has a dead kernel buffer of the same shape to reuse)."""
    x = sad.placeholder((3, 4), name="x")
    y = sad.exp(x) * 2 + x
    if case == "after a dead buffer":
        y = sad.sin(y @ sad.constant(np.eye(4, dtype=np.float32) * 0.5)) + x
    t = sad.transpose(y)
    v = sad.Variable(np.zeros((4, 3), np.float32), name="v")
    outputs, updates = {"transpose only": ([t], None), "base too": ([t, y], None), "twice": ([t, t], None),
                        "and its sum": ([t, t.sum() + y], None), "as an update": ([t], [(v, t)]),
                        "after a dead buffer": ([t], None)}[case]
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    want = [np.asarray(o) for o in sad.function([x], outputs, backend="numpy")(a)]
    f = sad.function([x], outputs, updates=updates, backend="numba")
    if case in ("transpose only", "after a dead buffer"):
        assert "_rt.copy" not in f.source.split("# ----")[0]  # the view itself is returned
    first = f(a)  # sizes the workspace: the later calls carve their buffers from it
    second = f(a)
    third = f(a)
    for got, again, w in zip(second, third, want):
        np.testing.assert_allclose(got, w, rtol=1e-5)
        assert not np.shares_memory(got, again)
    for i, got in enumerate(first):
        for other in first[i + 1:]:
            assert not np.shares_memory(got, other)
    if updates:
        np.testing.assert_allclose(v.value, want[0], rtol=1e-5)
        assert not np.shares_memory(v.value, first[0])


def test_one_module_compiled_for_a_second_dtype_by_another_function():
    """Two graphs whose generated source is the same text but whose constants differ in dtype
    share one module: the second compiles its own signature (the first disabled compilation)."""
    results = []
    for dt in ("float64", "float32"):
        x = sad.arange(-2, 2, 0.5, dtype=dt)
        y = sad.sin(x)
        f = sad.function([], [y, sad.grad(y.sum(), x)], backend="numba")
        yv, gv = f()
        assert yv.dtype == np.dtype(dt) and gv.dtype == np.dtype(dt)
        np.testing.assert_allclose(gv, np.cos(np.arange(-2, 2, 0.5, dtype=dt)), rtol=1e-6)
        results.append(f.source)
    assert results[0] == results[1]  # else this test no longer covers the shared module


# --- the direct path: stateless entry points called with the caller's arrays as they are ----------

def _dynamic_pair():
    x = sad.placeholder((None,), name="x")
    y = sad.placeholder((None, None), name="y")
    # no dims that broadcast together (those get an executable specialised for equal dims)
    return x, y, sad.function([x, y], [x * 2 + 1, (y * y).sum(axis=1)], backend="numba")


def test_the_direct_path_is_taken_only_where_its_checks_suffice():
    from staticad.function import _refuse
    x, y, f = _dynamic_pair()
    assert f._direct is not _refuse
    s = sad.placeholder((None, 3), name="s")        # a static dim: the entry point checks it
    z = sad.placeholder((), name="z")               # 0-d: a NumPy scalar is taken too
    v = sad.Variable(np.ones(3, np.float32), name="v")
    assert sad.function([s], s * 2, backend="numba")._direct is not _refuse
    assert sad.function([s], s * np.arange(3, dtype=np.float32), backend="numba")._direct is not _refuse
    assert sad.function([z], z * 2, backend="numba")._direct is _refuse
    assert sad.function([x], x * 2 + x.sum(), backend="numba")._direct is not _refuse
    assert sad.function([x], [x * 2, x.sum()], backend="numba")._direct is _refuse   # a 0-d output
    assert sad.function([x], x[:3] * v, backend="numba")._direct is _refuse          # state
    assert sad.function([x], x * 2, backend="numpy")._direct is _refuse


def test_the_direct_path_agrees_and_refused_calls_take_the_checked_path():
    x, y, f = _dynamic_pair()
    ref = sad.function([x, y], [x * 2 + 1, (y * y).sum(axis=1)], backend="numpy")
    a = np.arange(4, dtype=np.float32)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    for args, kwargs in [((a, b), {}), ((a,), {"y": b}), ((), {"x": a, "y": b}),
                         ((a.astype(np.float64), b), {}), ((a[::-1].copy()[::-1], b.T.copy().T), {}),
                         ((list(a), b), {})]:
        got, want = f(*args, **kwargs), ref(*args, **kwargs)
        assert type(got) is type(want) is list
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6)
    with pytest.raises(ValueError, match="'y'.*expected shape"):
        f(a, a)
    with pytest.raises(TypeError, match="takes 2 input"):
        f(a, b, b)
    with pytest.raises(TypeError, match="missing input"):
        f(a)
    with pytest.raises(TypeError, match="'x'.*expected dtype float32, received complex128"):
        f(np.ones(4, np.complex128), b)
    assert len(f._exec.entry.overloads) == 1


def test_the_direct_path_switches_to_threads_and_holds_no_cycle():
    import gc
    import weakref
    x = sad.placeholder((None,), name="x")
    f = sad.function([x], sad.grad(sad.sum(sad.sin(x) * x), x), backend="numba")
    big = np.linspace(-3, 3, 1 << 17, dtype=np.float32)
    for _ in range(2):   # the first call asks for the threaded variant, the second runs it
        np.testing.assert_allclose(f(big), np.cos(big) * big + np.sin(big), rtol=2e-6, atol=2e-6)
    assert f._exec.parallel_compiled
    gc.disable()
    try:
        ref = weakref.ref(f)
        del f
        assert ref() is None   # freed at once: the direct path does not refer back to the Function
    finally:
        gc.enable()


def test_an_executable_specialised_for_equal_dims_offers_no_direct_path():
    from staticad.function import _refuse
    x = sad.placeholder((None, 1), name="x")
    y = sad.placeholder((None, 1), name="y")
    f = sad.function([x, y], [(x - y) * 2], backend="numba")
    assert f._direct is _refuse
    a, b = np.ones((3, 1), np.float32), np.arange(3, dtype=np.float32).reshape(3, 1)
    np.testing.assert_allclose(f(a, b)[0], (a - b) * 2)
    np.testing.assert_allclose(f(a[:1], b)[0], (a[:1] - b) * 2)   # broadcast: the general plan


def test_static_dims_on_the_direct_path_are_checked_by_the_entry_point():
    s = sad.placeholder((None, 3), name="s")
    t = sad.placeholder((2, 3), name="t")
    c = np.arange(3, dtype=np.float32)
    f = sad.function([s, t], [s * c, t.sum(axis=0) * c], backend="numba")
    assert "raise ValueError" in f.source and "s.shape[1] != 3" in f.source
    a, b = np.ones((4, 3), np.float32), np.full((2, 3), 2, np.float32)
    got = f(a, b)
    np.testing.assert_allclose(got[0], a * c)
    np.testing.assert_allclose(got[1], b.sum(axis=0) * c)
    with pytest.raises(ValueError, match="'s'.*expected shape"):
        f(np.ones((4, 4), np.float32), b)
    with pytest.raises(ValueError, match="'t'.*expected shape"):
        f(a, np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="'t'.*expected shape"):
        f(a, np.ones((2, 2), np.float32))


def test_an_entry_point_takes_the_workspace_only_when_it_uses_it():
    x = sad.placeholder((None,), name="x")
    plain = sad.function([x], sad.grad(sad.sum(sad.sin(x) * x), x), backend="numba")
    assert "def entry(x):" in plain.source and plain._exec._takes_ws is False
    a = np.linspace(-2, 2, 50, dtype=np.float32)
    for _ in range(2):
        np.testing.assert_allclose(plain(a), np.cos(a) * a + np.sin(a), rtol=2e-6, atol=2e-6)
        np.testing.assert_allclose(plain(x=a), np.cos(a) * a + np.sin(a), rtol=2e-6, atol=2e-6)  # checked path
    assert plain._exec._workspaces == []   # nothing pooled: no call had scratch memory
    h = sad.placeholder((6,), "float64", name="h")
    y = sad.sum(sad.exp(h) * sad.sin(h)) + (h @ h) ** 2
    hess = sad.function([h], sad.hessian(y, h), backend="numba")
    ref = sad.function([h], sad.hessian(y, h), backend="numpy")
    assert "ws)" in hess.source.split("def entry(", 1)[1].split("\n", 1)[0]
    b = np.linspace(-1, 1, 6)
    for _ in range(2):
        np.testing.assert_allclose(hess(b), ref(b), rtol=1e-12)
    assert len(hess._exec._workspaces) == 1   # its buffer, given back after each call

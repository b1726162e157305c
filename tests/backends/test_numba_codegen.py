"""What the numba backend's planner and code generator do, seen through the plan and f.source."""
import math

import numpy as np
import pytest

import staticad as sad
from staticad.backends import numba_codegen


def _mlp_step():
    rng = np.random.default_rng(0)
    W1 = sad.Variable(rng.standard_normal((20, 8)).astype("float32"), name="W1")
    b1 = sad.Variable(np.zeros(8, "float32"), name="b1")
    W2 = sad.Variable(rng.standard_normal((8, 3)).astype("float32"), name="W2")
    x = sad.placeholder((None, 20), name="x")
    y = sad.placeholder((None, 3), name="y")
    loss = ((y - sad.relu(x @ W1 + b1) @ W2) ** 2).sum()
    params = [W1, b1, W2]
    return x, y, loss, params


def test_one_entry_point_and_forward_backward_share_a_loop():
    x = sad.placeholder((None,), "float64", name="x")
    loss = sad.sum(sad.sin(x) * 2.0)
    f = sad.function([x], [loss, sad.grad(loss, x)], backend="numba")
    # one native entry point; flat loops are jitted helpers it calls natively
    assert f.source.count("def entry(") == 1 and f._exec.entry.__name__ == "entry"
    plan = f._exec.plan
    assert len(plan.kernels) == 1  # sin(x), its sum and the gradient 2*cos(x): one pass over x
    names = {n.op.name for n in plan.kernels[0].nodes()}
    assert {"sin", "cos", "sum"} <= names
    v = np.linspace(-3, 3, 11)
    l, g = f(v)
    np.testing.assert_allclose(g, 2 * np.cos(v), rtol=1e-14)


def test_relu_mask_is_recomputed_not_stored():
    x, y, loss, params = _mlp_step()
    f = sad.function([x, y], [loss] + sad.grad(loss, params), backend="numba")
    stored = [m.op.name for k in f._exec.plan.kernels for m in k.stored]
    assert "astype" not in stored and "greater" not in stored  # the mask never goes to memory
    recomputing = [k for k in f._exec.plan.kernels if any(m.op.name == "greater" for m in k.members)]
    assert recomputing and all("relu" not in {m.op.name for m in k.stored} or len(k.members) <= 3
                               for k in recomputing)
    ref = sad.function([x, y], [loss] + sad.grad(loss, params), backend="numpy")
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((5, 20)), rng.standard_normal((5, 3))
    for a, b in zip(f(X, Y), ref(X, Y)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)


def test_dead_buffers_are_reused():
    x = sad.placeholder((64, 64), "float64", name="x")
    a = sad.sin(x)                 # kernel buffer, dead after the first matmul
    b = sad.cos(a @ x)             # same shape and dtype: may take a's buffer
    c = sad.tanh(b @ x)
    f = sad.function([x], c, backend="numba")
    assert "reuses a dead buffer" in f.source
    v = np.random.default_rng(2).standard_normal((64, 64)) * 0.1
    np.testing.assert_allclose(f(v), np.tanh(np.cos(np.sin(v) @ v) @ v), rtol=1e-12)


def test_large_flat_kernels_run_in_parallel_blocks_and_sum_accurately():
    n = numba_codegen.PARALLEL_MIN + 12345
    x = sad.placeholder((None,), "float64", name="x")
    loss = sad.sum(x * 1e-3 + 1.0)
    f = sad.function([x], [loss, sad.grad(loss, x), sad.sum(x)], backend="numba")
    assert "prange" in f.source and "parallel=True" in f.source
    v = np.random.default_rng(3).uniform(0, 1, n)
    l, g, s = f(v)
    exact = math.fsum(v)
    numpy_err = abs(float(np.sum(v)) - exact)
    assert abs(float(s) - exact) <= max(4 * numpy_err, 1e-9 * exact)
    np.testing.assert_allclose(l, math.fsum(v * 1e-3 + 1.0), rtol=1e-13)
    np.testing.assert_allclose(g, np.full(n, 1e-3), rtol=1e-15)
    small = f(v[:1000])  # below the threshold: the serial path
    np.testing.assert_allclose(small[2], np.sum(v[:1000]), rtol=1e-13)


def test_math_heavy_kernels_go_to_threads_at_fewer_elements_with_the_same_bits():
    from staticad.backends.numba_source import PARALLEL_MIN_FLOOR, parallel_min
    from staticad.ops.elementwise import ADD, EXP, SIN, TANH
    assert parallel_min([ADD, ADD]) == numba_codegen.PARALLEL_MIN  # cheap loops: the old threshold
    heavy = parallel_min([SIN, EXP, TANH] + [ADD] * 10)
    assert PARALLEL_MIN_FLOOR <= heavy < numba_codegen.PARALLEL_MIN // 4
    x = sad.placeholder((None,), "float32", name="x")
    loss = sad.sum(sad.tanh(x) + sad.exp(-x * x) * sad.sin(x))
    f = sad.function([x], [loss, sad.grad(loss, x)], backend="numba")
    limit = parallel_min(m.op for k in f._exec.plan.kernels for m in k.nodes())
    assert f"if n_x_1 >= {limit}:" in f.source and limit < numba_codegen.PARALLEL_MIN
    v = np.random.default_rng(4).uniform(-3, 3, limit + 4096 * 2 + 7).astype(np.float32)
    one = sad.function([x], [loss, sad.grad(loss, x)], backend="numba")
    serial = [one(v[k:k + 4000]) for k in range(0, len(v), 4000)]  # below the limit: serial
    f(v)  # above it: the first call asks for the threaded entry point, later calls take it
    threaded = f(v)
    assert f._exec.parallel_compiled
    np.testing.assert_array_equal(threaded[1], np.concatenate([g for _, g in serial]))
    np.testing.assert_allclose(threaded[0], sum(float(l) for l, _ in serial), rtol=1e-5)


def test_no_threads_beside_blas():
    x = sad.placeholder((None, 4), "float64", name="x")
    w = sad.constant(np.ones((4, 2)))
    f = sad.function([x], sad.sum(sad.sin(x @ w)), backend="numba")
    assert "parallel=True" not in f.source and "prange" not in f.source


def test_generated_source_is_deterministic():
    def build():
        x = sad.placeholder((None, 3), "float32", name="x")
        loss = sad.sum(sad.tanh(x) * sad.exp(-x))
        return sad.function([x], [loss, sad.grad(loss, x)], backend="numba").source
    assert build() == build()


def test_internal_buffers_live_in_a_workspace_kept_between_calls():
    x = sad.placeholder((None, 16), "float64", name="x")
    w = sad.constant(np.linspace(-1, 1, 16 * 4).reshape(16, 4))
    h = sad.tanh(x * 2.0) @ w            # tanh(x*2) is internal: it goes to the workspace
    f = sad.function([x], sad.sum(sad.sin(h)), backend="numba")
    assert "_rt.ws_array(ws, " in f.source
    ref = sad.function([x], sad.sum(sad.sin(h)), backend="numpy")
    rng = np.random.default_rng(4)
    first = rng.standard_normal((3, 16))
    np.testing.assert_allclose(f(first), ref(first), rtol=1e-12)
    pool = f._exec._workspaces                       # one buffer per concurrent call; here one
    assert len(pool) == 1 and pool[0].size > 0
    size, buf = pool[0].size, pool[0]
    np.testing.assert_allclose(f(first), ref(first), rtol=1e-12)
    assert len(pool) == 1 and pool[0] is buf         # the second call fits
    bigger = rng.standard_normal((50, 16))           # a larger batch: allocated once, then fits
    np.testing.assert_allclose(f(bigger), ref(bigger), rtol=1e-12)
    np.testing.assert_allclose(f(bigger), ref(bigger), rtol=1e-12)
    assert len(pool) == 1 and pool[0].size > size


@pytest.mark.parametrize("op", ["sin", "cos", "tan"])
def test_fused_trig_fast_path_falls_back_per_block(op):
    """float32 sin/cos/tan in a flat kernel use the fast-range reduction; a block holding an
    argument beyond its limit (or inf/NaN) is redone with the full-range one, so results equal
    the numpy backend's everywhere, in blocks with and without such arguments."""
    import staticad as sad
    from staticad.backends import numba_math as nm
    fn = getattr(sad, op)
    x = sad.placeholder((None,), "float32", name="x")
    y = fn(x) * 2 + 1
    loss = y.sum()
    outs = [y, loss, sad.grad(loss, x)]
    f = sad.function([x], outs, backend="numba")
    assert f"_nm.{op}_fast_f32" in f.source and "n_slow" in f.source
    ref = sad.function([x], outs, backend="numpy")
    rng = np.random.default_rng(3)
    v = rng.uniform(-100, 100, 3 * 4096 + 17).astype(np.float32)
    v[5000] = 3.0e7           # block 1: beyond the fast limit
    v[9000] = np.inf          # block 2: inf and NaN
    v[9001] = np.nan
    assert abs(v[5000]) > nm.TRIG_FAST_LIMIT_F32
    for got, want in zip(f(v), ref(v)):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-5, equal_nan=True)
    small = v.copy()
    small[[5000, 9000, 9001]] = 0.5
    for got, want in zip(f(small), ref(small)):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-5)


def test_linear_regression_step_is_one_pass_when_rows_agree_and_broadcasts_right():
    """x @ w + b - y with x's and y's ``None`` rows: the plan specialised for equal row counts is
    one loop with scalar accumulators (no per-row array stored); the general plan (x's rows
    broadcast against y's), compiled on the first call that needs it, recomputes x @ w + b inside
    the loss kernel (over bcast(x, y)) instead of storing it. The degenerate matmuls became
    elementwise work in both. Values agree with numpy either way (one row of x, one row of y)."""
    w = sad.Variable(np.array([[0.5]], np.float32), name="w")
    b = sad.Variable(np.array([[-1.0]], np.float32), name="b")
    x = sad.placeholder((None, 1), "float32", name="x")
    y = sad.placeholder((None, 1), "float32", name="y")
    loss = ((x @ w + b - y) ** 2).mean()
    outs = [loss] + sad.grad(loss, [w, b])
    f = sad.function([x, y], outs, backend="numba")
    ref = sad.function([x, y], outs, backend="numpy")
    assert not any(getattr(s, "op", None) is not None and s.op.name == "matmul" for s in f._exec.plan.steps)
    full = [k for k in f._exec.plan.kernels if len(k.sym) == 2 and k.sym[0] != 1]
    assert len(full) == 1 and not full[0].stored
    assert f._exec.general is None  # not compiled until a call has other row counts
    rng = np.random.default_rng(0)
    for nx_, ny in [(1000, 1000), (1, 500), (300, 1)]:
        X = rng.standard_normal((nx_, 1)).astype(np.float32)
        Y = rng.standard_normal((ny, 1)).astype(np.float32)
        for got, want in zip(f(X, Y), ref(X, Y)):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    general = f._exec.general.plan
    assert not any(getattr(s, "op", None) is not None and s.op.name == "matmul" for s in general.steps)
    full = [k for k in general.kernels if len(k.sym) == 2 and k.sym[0] != 1]
    assert len(full) == 2 and not any(m.op.name == "add" for k in full for m in k.stored)


def test_updates_are_double_buffered_and_shared_variables_stay_consistent():
    """A kernel writes a Variable's next value into a spare buffer that is swapped in after the
    call (no copy); two functions updating the same Variable, an update value that is also an
    output, and a failing call all behave as with the numpy backend."""
    def build(backend):
        w = sad.Variable(np.arange(3.0) - 1.0, name="w")
        x = sad.placeholder((None, 3), "float64", name="x")
        loss = ((x * w) ** 2).sum()
        g = sad.grad(loss, w)
        step = sad.function([x], loss, updates=[(w, w - 0.01 * g)], backend=backend)
        new = w * 0.5 + 1.0
        shrink = sad.function([x], [new, (x + w).sum()], updates={w: new}, backend=backend)
        return w, step, shrink

    w, step, shrink = build("numba")
    w_ref, step_ref, shrink_ref = build("numpy")
    assert "w_next" in step.source and "w[...] =" not in step.source
    assert "w_next" not in shrink.source  # its update value is an output: returned fresh, copied in
    rng = np.random.default_rng(1)
    kept = []
    for i in range(6):
        X = rng.standard_normal((4, 3))
        if i % 3 == 2:
            got, want = shrink(X), shrink_ref(X)
            kept.append((got[0], want[0].copy()))
        else:
            got, want = [step(X)], [step_ref(X)]
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(w.value, w_ref.value, rtol=1e-12)
    for got, want in kept:  # returned arrays never change afterwards
        np.testing.assert_array_equal(got, want)
    before = w.value
    with pytest.raises(ValueError):
        step(rng.standard_normal((4, 2)))
    np.testing.assert_array_equal(w.value, before)


def test_threaded_variant_is_compiled_only_when_a_large_input_needs_it():
    """``entry`` runs every loop serially and reports when one was large enough for threads;
    ``entry_par`` is compiled at the next call (a cold compile never pays for parallel=True)."""
    x = sad.placeholder((None,), name="x")
    loss = (sad.sin(x) * 2 + 1).sum()
    f = sad.function([x], [loss, sad.grad(loss, x)], backend="numba")
    ex = f._exec
    assert "def entry_par(" in f.source and "wants_parallel = True" in f.source
    assert not ex.module.entry_par.signatures            # not compiled by sad.function
    small = np.linspace(-1, 1, 1000, dtype=np.float32)
    big = np.linspace(-3, 3, 300_000, dtype=np.float32)
    f(small)
    assert not ex.parallel_compiled
    first = f(big)                                         # runs serially, asks for threads
    assert not ex.parallel_compiled
    second = f(big)                                        # compiled now, on threads
    assert ex.parallel_compiled and ex.entry is ex.module.entry_par
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_allclose(first[0], second[0], rtol=1e-6)
    np.testing.assert_allclose(f(small)[1], 2 * np.cos(small), rtol=1e-6)


def test_runtime_helpers_are_compiled_once_for_every_size():
    """Static sizes reach the ``_rt`` helpers and the flat kernels as int64, not as literals: one
    compiled (and disk-cached) helper serves every size."""
    from staticad.backends import numba_runtime as rt
    for n in (5000, 7000):
        x = sad.placeholder((n,), "float64", name="x")
        y = sad.tanh(x @ sad.constant(np.ones((n, 3))))
        f = sad.function([x], [y, sad.grad(y.sum(), x)], backend="numba")
        f(np.ones(n))
    for helper in (rt.empty, rt.dot, rt.ws_array, rt.scalar_array):
        for sig in helper.signatures:
            assert "Literal" not in str(sig), (helper, sig)
    for name in dir(f._exec.module):
        disp = getattr(f._exec.module, name)
        for sig in getattr(disp, "signatures", []):
            assert "Literal" not in str(sig), (name, sig)


def _tiny_step(w0):
    x = sad.placeholder((None, 3), name="x")
    w = sad.Variable(np.array(w0, np.float32), name="w")
    loss = ((x @ w) ** 2).sum()
    return x, w, sad.function([x], loss, updates=sad.optim.SGD(lr=0.1).updates(loss, [w]), backend="numba")


def test_identical_graph_reuses_the_compiled_function_with_its_own_variables():
    """A second sad.function of a structurally identical graph (new Variables, same shapes,
    dtypes and names) reuses the first one's compiled code, and reads and updates its own
    Variables only."""
    _, w1, f1 = _tiny_step([[1.0], [2.0], [3.0]])
    _, w2, f2 = _tiny_step([[-1.0], [0.5], [0.0]])
    assert f2._exec.entry is f1._exec.entry and f2.stats["cache_hit"]
    assert f2.source == f1.source
    data = np.ones((4, 3), np.float32)
    l2 = f2(data)
    np.testing.assert_allclose(l2, 4 * (-0.5) ** 2, rtol=1e-6)
    np.testing.assert_array_equal(w1.value, [[1.0], [2.0], [3.0]])        # untouched
    assert not np.array_equal(w2.value, [[-1.0], [0.5], [0.0]])           # stepped
    ref_x, ref_w, ref = _tiny_step([[-1.0], [0.5], [0.0]])
    ref_np = sad.function([ref_x], ((ref_x @ ref_w) ** 2).sum(), backend="numpy")
    assert f2.stats["nodes_after_passes"] == f1.stats["nodes_after_passes"]
    assert f2._exec.program is not f1._exec.program                      # its own, on demand
    assert w2 in f2._exec.program.nodes and w1 not in f2._exec.program.nodes
    del ref_np


def test_a_different_constant_or_name_is_a_different_graph():
    x = sad.placeholder((3,), "float64", name="x")
    f1 = sad.function([x], x * 2.0, backend="numba")
    f2 = sad.function([x], x * 3.0, backend="numba")
    y = sad.placeholder((3,), "float64", name="y")
    f3 = sad.function([y], y * 2.0, backend="numba")
    np.testing.assert_array_equal(f2(np.ones(3)), 3.0)
    assert f1._exec.entry is not f2._exec.entry and f1.source != f3.source


def test_update_shapes_known_statically_are_not_checked_again_at_run_time():
    x, y, loss, params = _mlp_step()
    f = sad.function([x, y], loss, updates=sad.optim.SGD(lr=0.01).updates(loss, params), backend="numba")
    assert "has the wrong shape" not in f.source  # every update's shape is its Variable's
    v = sad.Variable(np.zeros(3), name="v")
    z = sad.placeholder((None,), "float64", name="z")
    g = sad.function([z], sad.sum(z), updates=[(v, z * 2.0)], backend="numba")
    assert "update of Variable v has the wrong shape" in g.source  # known only at run time
    g(np.ones(3))
    np.testing.assert_array_equal(v.value, [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="wrong shape"):
        g(np.ones(4))
    np.testing.assert_array_equal(v.value, [2.0, 2.0, 2.0])  # no Variable changed


def test_wide_concatenate_of_static_parts_agrees_with_numpy():
    n = 60  # enough for packed inputs and outputs (NumbaCodegen: PACK_MIN)
    xs = [sad.placeholder((4,), "float64", name=f"x{i}") for i in range(n)]
    loss = sad.sum(sad.sin(sad.concatenate(xs)) ** 2)
    outs = [loss] + list(sad.grad(loss, xs))
    f = sad.function(xs, outs, backend="numba")
    ref = sad.function(xs, outs, backend="numpy")
    rng = np.random.default_rng(4)
    args = [rng.uniform(-1, 1, 4) for _ in range(n)]
    # the parts are one packed parameter, copied by one call; the gradient's parts one copy out
    assert "def entry(pin_1, ws)" in f.source and "_rt.set_rows" not in f.source
    assert "def entry__seg" not in f.source and "_rt.rows(" not in f.source
    assert "off1 =" not in f.source  # static offsets are literals
    for got, want in zip(f(*args), ref(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.fixture(scope="module")
def wide_function():
    """20 float64 (3,) inputs, 2 float32 (2, 2) inputs and one of a run-time shape; outputs of
    mixed dtypes and shapes: 0-d, inputs themselves (twice), one output twice, run-time shaped."""
    n = 20
    xs = [sad.placeholder((3,), "float64", name=f"x{i}") for i in range(n)]
    ys = [sad.placeholder((2, 2), "float32", name=f"y{i}") for i in range(2)]
    z = sad.placeholder((None,), "float64", name="z")
    c = sad.concatenate(xs)
    loss = sad.sum(sad.sin(c) ** 2)
    outs = ([loss, sad.sum(z), xs[0], xs[0], c, c, ys[1], sad.transpose(ys[0]) * 2.0, z * 2.0]
            + list(sad.grad(loss, xs)) + [x * 3.0 for x in xs[:10]])
    f = sad.function(xs + ys + [z], outs, backend="numba")
    ref = sad.function(xs + ys + [z], outs, backend="numpy")
    rng = np.random.default_rng(7)
    args = ([rng.uniform(-1, 1, 3) for _ in range(n)]
            + [rng.uniform(-1, 1, (2, 2)).astype(np.float32) for _ in range(2)] + [rng.uniform(-1, 1, 5)])
    return f, ref, args


def test_wide_function_packs_inputs_and_outputs_and_agrees_with_numpy(wide_function):
    f, ref, args = wide_function
    assert "pin_" in f.source and "pout_" in f.source
    got, want = f(*args), ref(*args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-12)
    # a non-contiguous and a read-only input are accepted
    odd = list(args)
    odd[1] = np.arange(6.0)[::2]
    odd[21] = np.asfortranarray(args[21])
    odd[21].flags.writeable = False
    for g, w in zip(f(*odd), ref(*odd)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-12)


def test_wide_function_outputs_are_fresh_and_independent(wide_function):
    f, _, args = wide_function
    kept = [a.copy() for a in args]
    first = f(*args)
    second = f(*args)
    for i, a in enumerate(first):
        for b in first[i + 1:]:
            assert not np.shares_memory(a, b)
        for x in args:
            assert not np.shares_memory(a, x)
        assert not np.shares_memory(a, second[i])
    first[2][...] = 99.0  # an output that is an input: the input and the other copy are untouched
    np.testing.assert_array_equal(args[0], kept[0])
    np.testing.assert_array_equal(first[3], kept[0])
    assert first[0].shape == () and first[1].shape == ()


def test_wide_function_bad_input_is_a_clear_error(wide_function):
    f, _, args = wide_function
    bad = list(args)
    bad[3] = np.ones(4)
    with pytest.raises(ValueError, match="x3"):
        f(*bad)
    bad = list(args)
    bad[22] = np.ones((2, 2))
    with pytest.raises((ValueError, TypeError)):
        f(*bad)


def test_two_hundred_independent_outputs():
    xs = [sad.placeholder((2,), "float64", name=f"x{i}") for i in range(4)]
    outs = [xs[i % 4] * float(i) for i in range(200)]
    f = sad.function(xs, outs, backend="numba")
    args = [np.arange(2.0) + i for i in range(4)]
    got = f(*args)
    assert len(got) == 200
    for i, g in enumerate(got):
        np.testing.assert_allclose(g, args[i % 4] * float(i))


def test_wide_function_with_variables_rebinds():
    """A structurally identical wide function over other Variables reuses the compiled entry
    point (rebind) and still packs and unpacks: each updates its own Variable."""
    def make(v):
        xs = [sad.placeholder((2,), "float64", name=f"x{i}") for i in range(16)]
        total = sad.sum(sad.concatenate(xs))
        return sad.function(xs, [x * v for x in xs], updates=[(v, v + total)], backend="numba")
    v1, v2 = sad.Variable(np.float64(1.0), name="v"), sad.Variable(np.float64(10.0), name="v")
    f1, f2 = make(v1), make(v2)
    assert f2.stats["cache_hit"]
    args = [np.full(2, float(i)) for i in range(16)]
    got = f2(*args)
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, np.full(2, 10.0 * i))
    assert float(v2.value) == 10.0 + 2 * sum(range(16)) and float(v1.value) == 1.0
    f1(*args)
    assert float(v1.value) == 1.0 + 2 * sum(range(16))
    with pytest.raises(ValueError, match="x3"):
        f2(*args[:3], np.ones(3), *args[4:])
    assert float(v2.value) == 10.0 + 2 * sum(range(16))  # a failing call changes no Variable


def test_zero_d_values_only_kernels_read_stay_scalars():
    """A 0-d kernel value that only compiled kernels read (Adam's bias corrections) is a scalar
    in the entry point, not a 0-d array read back with .item(); outputs and update values stay
    arrays. Three calls agree with the numpy backend, Variables included."""
    import re

    def build(backend):
        x = sad.placeholder((None, 4), "float32", name="x")
        step = sad.Variable(np.float32(3.0), name="step")
        w = sad.Variable(np.linspace(1, 2, 4, dtype=np.float32), name="w")
        c = 1.0 - sad.power(0.9, step + 1.0)      # 0-d, read by the loop over (rows, 4)
        loss = sad.sum(x * w / c)
        outs = [loss, c * 2.0]
        f = sad.function([x], outs, updates={step: step + 1.0, w: w - 0.1 * sad.grad(loss, w) * c},
                         backend=backend)
        return f, step, w

    f, step, w = build("numba")
    g, step_ref, w_ref = build("numpy")
    scalars = re.findall(r"^    (\w+) = (v\d+)$", f.source, re.M)
    assert scalars, "no 0-d value kept as a scalar"
    for name, _ in scalars:
        assert f"{name}.item()" not in f.source and f"{name} = _rt.empty" not in f.source
    v = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    for _ in range(3):
        for got, want in zip(f(v), g(v)):
            np.testing.assert_allclose(got, want, rtol=1e-5)
        np.testing.assert_allclose(step.value, step_ref.value)
        np.testing.assert_allclose(w.value, w_ref.value, rtol=1e-5)

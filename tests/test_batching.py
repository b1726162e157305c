"""Batched derivatives (staticad.batching): one batched JVP/VJP graph per Jacobian and Hessian.

Every case compares the batched ``sad.jacobian`` (both modes) with the column-by-column graph
(``autodiff._jacobian_columns``, one JVP/VJP per column/row) and with central finite
differences, and then does the same one order up (forward over reverse: the Hessian of a scalar
made of the case, so the batching rules of the backward ops run; reverse over forward: the
Jacobian of a JVP graph). A recorder checks that every batching rule ran, with its batched
and unbatched operand combinations.
"""
from __future__ import annotations

import numpy as np
import pytest

import staticad as sad
from staticad import autodiff, batching, ops
from staticad.graph import walk

from tests.ops.checks import numeric_jacobians, rng_for

F64 = "float64"


# --- a recorder of the rules that ran ---------------------------------------------------------------
RAN: set = set()  # (rule key, batched flags of the inputs)


@pytest.fixture(autouse=True)
def _record_rules(monkeypatch):
    original = batching.rule_for

    def recording(op):
        fn = original(op)
        if fn is None:
            return None
        key = op.name if op.batch is not None else "elementwise"

        def wrapped(node, vals, flags, size):
            RAN.add((key, tuple(tuple(f) if isinstance(f, list) else f for f in flags)))  # lists: control flow
            return fn(node, vals, flags, size)
        return wrapped
    monkeypatch.setattr(batching, "rule_for", recording)


def run(inputs, outputs, arrays, backend="numpy"):
    return sad.function(list(inputs), outputs, backend=backend)(*arrays)


def _batched(y, x, mode):
    """The batched Jacobian, never the fallback (NotBatchable propagates)."""
    return autodiff._jacobian_batched(y, x, mode)


# --- the cases ----------------------------------------------------------------------------------------
def pos(lo=0.5, hi=2.0):
    return lambda rng, shape: rng.uniform(lo, hi, size=shape)


def sym(lo=-1.0, hi=1.0):
    return lambda rng, shape: rng.uniform(lo, hi, size=shape)


def nz(lo=0.3, hi=1.5):
    return lambda rng, shape: rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def distinct():
    """Values far apart (no ties for max/min/maximum/clip kinks)."""
    def make(rng, shape):
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.37 - n * 0.18 + rng.uniform(-0.05, 0.05, n)).reshape(shape)
    return make


CASES = []


def case(label, build, *specs, fd_rtol=1e-5, fd_eps=1e-6, second=True):
    """``specs``: (shape, distribution) per differentiated input."""
    CASES.append(pytest.param(build, specs, (fd_rtol, fd_eps), second, id=label))


W34 = np.linspace(-1.0, 1.5, 12).reshape(3, 4)
# elementwise families and broadcasting
case("unary-math", lambda x: sad.sin(x) * sad.exp(x) + sad.cos(x) * sad.tanh(x) - sad.sigmoid(x) / sad.sqrt(x)
     + sad.log(x) + sad.log1p(x) * sad.tan(x * 0.3) + sad.square(x) + sad.abs(x) ** 1.5 - 1 / x + (-x),
     ((2, 3), pos()))
case("relu-sign", lambda x: sad.relu(x) * x + sad.sign(x) * x ** 2, ((5,), nz()))
case("broadcast-binary", lambda a, b: a * b + a / b - b ** a + (a - b) ** 2, ((3, 1), pos()), ((4,), pos()))
case("broadcast-scalar-matrix", lambda s, m: s * m + sad.exp(m - s) + W34 * m, ((), sym()), ((3, 4), sym()))
case("broadcast-rank3", lambda a, b: sad.sin(a * b) + a, ((2, 1, 3), sym()), ((4, 1), sym()))
case("maximum-minimum", lambda a, b: sad.maximum(a, b) * sad.minimum(a, b * 2.0) + sad.maximum(a, 0.1),
     ((2, 3), distinct()), ((3,), distinct()))
case("where-compare", lambda x, z: sad.where(x > z, x * z, sad.exp(z) - x)
     + sad.where(sad.logical_and(x < 0.2, sad.not_equal(x, z)), x, 0.0) * sad.astype(x >= -0.5, F64),
     ((2, 4), distinct()), ((4,), distinct()))
case("clip", lambda x, lo: sad.clip(x, lo, 1.0) * x + sad.clip(x, -0.7, None) + sad.clip(x, None, 0.4) * 2,
     ((2, 5), distinct()), ((5,), sym(-0.3, 0.3)))
case("astype-roundtrip", lambda x: sad.astype(sad.astype(x, "float32") * 3, F64) * x + sad.astype(x, "float32").astype(F64),
     ((4,), sym()), fd_rtol=1e-3, fd_eps=1e-3)
case("stop-gradient", lambda x: sad.stop_gradient(x * x) * x + sad.detach(sad.sin(x)), ((3,), sym()),
     fd_rtol=None)
# reductions with axes
case("sum-axes", lambda x: sad.sum(x * x, axis=1) + sad.sum(sad.exp(x), axis=(0, 2), keepdims=True).sum()
     + sad.sum(x), ((2, 3, 2), sym()))
case("mean-axes", lambda x: sad.mean(sad.sin(x), axis=0) * sad.mean(x, axis=-1, keepdims=True), ((3, 4), sym()))
case("max-min-axes", lambda x: sad.max(x * x, axis=1) + sad.min(x, axis=0, keepdims=True).sum() + sad.max(x),
     ((3, 4), distinct()))
case("prod-axes", lambda x: sad.prod(x, axis=1) + sad.prod(x, axis=0, keepdims=True).sum(), ((3, 3), nz()))
case("softmax-logsumexp", lambda x: sad.softmax(x, axis=-1) * sad.logsumexp(x, axis=0, keepdims=True)
     + sad.log_softmax(x, axis=0), ((3, 4), sym()))
case("norm", lambda x: sad.norm(x) * x + sad.norm(sad.sin(x)), ((2, 3), sym()))
# matmul: 1-D, 2-D, batched
case("matmul-1d-1d", lambda a, b: sad.matmul(a, b) * a, ((4,), sym()), ((4,), sym()))
case("matmul-2d-1d", lambda a, b: a @ b, ((3, 4), sym()), ((4,), sym()))
case("matmul-1d-2d", lambda a, b: a @ b, ((3,), sym()), ((3, 4), sym()))
case("matmul-2d-2d", lambda a, b: sad.dot(a, b), ((2, 3), sym()), ((3, 4), sym()))
case("matmul-square", lambda a: a @ a @ a, ((3, 3), sym()))
case("matmul-3d-3d", lambda a, b: a @ b, ((2, 3, 4), sym()), ((2, 4, 2), sym()))
case("matmul-3d-2d", lambda a, b: sad.sin(a @ b), ((2, 3, 4), sym()), ((4, 2), sym()))
case("matmul-2d-3d-bcast", lambda a, b: a @ b, ((3, 4), sym()), ((2, 1, 4, 2), sym()))
case("matmul-1d-3d", lambda a, b: a @ b, ((4,), sym()), ((2, 4, 3), sym()))
case("matmul-3d-1d", lambda a, b: a @ b, ((2, 3, 4), sym()), ((4,), sym()))
# shape ops
case("reshape-transpose", lambda x: sad.transpose(sad.reshape(sad.sin(x), (3, 2, 2)), (2, 0, 1)).reshape(-1, 3)
     * x.T.reshape(4, 3), ((3, 4), sym()))
case("expand-squeeze-swapaxes", lambda x: sad.squeeze(sad.expand_dims(x, (0, 2)) * 2, 0) * ops.swapaxes(
     sad.expand_dims(x, 1), 0, 1), ((3, 4), sym()))
case("broadcast-to", lambda x, y: sad.broadcast_to(x, (2, 3, 4)) * sad.broadcast_to(y, (3, 4)) + y,
     ((3, 1), sym()), ((4,), sym()))
case("getitem", lambda x: x[1:, ::2] * x[0, :2] + x[1:, ..., -1:] ** 2 + x[:2, None, 1].sum() + x[-1, 3],
     ((3, 4), sym()))
case("concatenate-stack", lambda a, b: sad.concatenate([a, sad.sin(b), a * b], axis=1)
     + sad.stack([a[:, 0], b[:, 1]], axis=1).sum(), ((2, 3), sym()), ((2, 3), sym()))
case("concatenate-unbatched-part", lambda a: sad.concatenate([a, sad.constant(W34[:2, :3])], axis=0) * 2.0,
     ((2, 3), sym()))
case("full-like", lambda x: sad.zeros_like(x) + sad.ones_like(x) * x + sad.full_like(x, 2.0) * x * x,
     ((2, 2), sym()))
case("fori-cond-captures", lambda x, w: sad.fori_loop(  # loops and branches whose predicates no batch steers
    0, 3, lambda i, y: sad.cond(i < 1, lambda y: sad.sin(y) * w, lambda y: y * y * 0.5 + w, y), x),
     ((3,), sym()), ((3,), sym()))
case("composite-mlp", lambda x, w: sad.sum(sad.tanh(x @ w) ** 2, axis=0) + sad.mean(w, axis=0),
     ((5, 3), sym()), ((3, 2), sym()))


@pytest.mark.parametrize("build, specs, fd, second", CASES)
def test_batched_jacobian_matches_columns_and_finite_differences(build, specs, fd, second, request):
    label = request.node.callspec.id
    fd_rtol, fd_eps = fd
    rng = rng_for(label)
    arrays = [dist(rng, shape).astype(np.float64) for shape, dist in specs]
    xs = [sad.placeholder(a.shape, F64, name=f"x{i}") for i, a in enumerate(arrays)]
    y = build(*xs)
    f = sad.function(xs, y, backend="numpy")
    _, numeric = numeric_jacobians(f, arrays, fd_eps)
    for i, x in enumerate(xs):
        jr, jf = _batched(y, x, "rev"), _batched(y, x, "fwd")
        cr, cf = autodiff._jacobian_columns(y, x, "rev"), autodiff._jacobian_columns(y, x, "fwd")
        api_r, api_f = sad.jacobian(y, x, mode="rev"), sad.jacobian(y, x, mode="fwd")
        for t in (jr, jf, api_r, api_f):
            assert t.shape == y.shape + x.shape
        got = run(xs, [jr, jf, cr, cf, api_r, api_f], arrays)
        for name, g, col in zip(["rev", "fwd"], got[:2], got[2:4]):
            np.testing.assert_allclose(g, col, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{label}: batched {name} vs column-by-column (x{i})")
            if fd_rtol is not None:  # None: stop_gradient (derivatives differ from FD by design)
                np.testing.assert_allclose(g, numeric[i], rtol=fd_rtol, atol=fd_rtol,
                                           err_msg=f"{label}: batched {name} vs finite differences (x{i})")
        np.testing.assert_array_equal(got[4], got[0])
        np.testing.assert_array_equal(got[5], got[1])
    if not second:
        return
    # second order: forward over reverse (batched JVP of the backward graph) and reverse over forward
    w = rng.uniform(-1, 1, size=y.shape)
    s = sad.sum(y * sad.constant(w, dtype=F64))
    grads = sad.grad(s, xs)
    us = [rng.uniform(-1, 1, size=a.shape) for a in arrays]
    t = sad.jvp(y, xs, us)
    for i, x in enumerate(xs):
        for j, z in enumerate(xs):
            h_b = _batched(grads[i], z, "fwd")
            h_c = autodiff._jacobian_columns(grads[i], z, "fwd")
            h_r = _batched(grads[i], z, "rev")
            jt_b = _batched(t, z, "rev")
            jt_c = autodiff._jacobian_columns(t, z, "rev")
            got = run(xs, [h_b, h_c, h_r, jt_b, jt_c], arrays)
            np.testing.assert_allclose(got[0], got[1], rtol=1e-11, atol=1e-11,
                                       err_msg=f"{label}: batched fwd-over-rev d2/dx{i}dx{j} vs columns")
            np.testing.assert_allclose(got[2], got[1], rtol=1e-11, atol=1e-11,
                                       err_msg=f"{label}: batched rev-over-rev d2/dx{i}dx{j} vs columns")
            np.testing.assert_allclose(got[3], got[4], rtol=1e-11, atol=1e-11,
                                       err_msg=f"{label}: batched rev-over-fwd d(jvp)/dx{j} vs columns")
    # the full Hessian API (batched) against finite differences of the gradient
    hs = sad.hessian(s, xs)
    if fd_rtol is None:
        return
    gfun = sad.function(xs, grads, backend="numpy")
    for i in range(len(xs)):
        _, numeric_h = numeric_jacobians(lambda *a: gfun(*a)[i], arrays, fd_eps)
        for j in range(len(xs)):
            np.testing.assert_allclose(run(xs, hs[i][j], arrays), numeric_h[j], rtol=max(fd_rtol, 1e-5),
                                       atol=max(fd_rtol, 1e-5), err_msg=f"{label}: hessian[{i}][{j}] vs FD")


@pytest.mark.parametrize("which", ["first", "all"])
@pytest.mark.parametrize("build, specs, fd, second", CASES)
def test_batch_of_the_primal_graph_equals_stacked_values(build, specs, fd, second, which, request):
    """batch() as vmap: the case's own graph with its first (or every) input batched equals the
    per-element values stacked; this runs the rules of ops that derivative graphs never batch
    (max, min, prod, norm, count)."""
    label = request.node.callspec.id
    rng = rng_for(label)
    size = 3
    arrays = [dist(rng, shape).astype(np.float64) for shape, dist in specs]
    xs = [sad.placeholder(a.shape, F64, name=f"x{i}") for i, a in enumerate(arrays)]
    y = build(*xs)
    k = 1 if which == "first" else len(xs)
    stacks = [np.stack([dist(rng, shape) for _ in range(size)]) for shape, dist in specs[:k]]
    ((out, is_batched),) = batching.batch([y], {x: sad.constant(v) for x, v in zip(xs, stacks)}, size)
    assert is_batched and out.shape == (size,) + y.shape
    got = run(xs[k:], out, arrays[k:])
    f = sad.function(xs, y, backend="numpy")
    want = np.stack([f(*[v[b] for v in stacks], *arrays[k:]) for b in range(size)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{label}: batch() vs stacked values")


# --- run-time (None) dims, batched reference tensors, unbatched results ---------------------------
def test_jacobian_through_run_time_shapes():
    """x has static shape but meets tensors with None dims: the dynamic paths of the *_like rules."""
    x = sad.placeholder((3,), F64, name="x")
    z = sad.placeholder((None, 3), F64, name="z")
    m = sad.placeholder((None,), F64, name="m")
    y = sad.sum(sad.sin(x) * z, axis=0) + sad.mean(x * z) + sad.concatenate([m, x])[-3:] * x \
        + sad.sum(sad.reshape(z * x, (-1,))[:3]) + sad.stack([x, x * x]).sum(axis=0)
    xv, zv, mv = np.array([0.3, -0.7, 1.1]), rng_for("dyn").uniform(-1, 1, (4, 3)), np.array([1.0, 2.0])
    f = sad.function([x, z, m], y, backend="numpy")
    _, (num,) = numeric_jacobians(lambda a: f(a, zv, mv), [xv])
    s = sad.sum(y * y)
    g = sad.grad(s, x)
    gf = sad.function([x, z, m], g, backend="numpy")
    _, (num_h,) = numeric_jacobians(lambda a: gf(a, zv, mv), [xv])
    outs = [_batched(y, x, "rev"), _batched(y, x, "fwd"), _batched(g, x, "fwd"), _batched(g, x, "rev"),
            sad.hessian(s, x)]
    got = run([x, z, m], outs, [xv, zv, mv])
    for k, v in enumerate(got[:2]):
        np.testing.assert_allclose(v, num, rtol=1e-6, atol=1e-6, err_msg=f"output {k}")
    for k, v in enumerate(got[2:]):
        np.testing.assert_allclose(v, num_h, rtol=1e-5, atol=1e-5, err_msg=f"hessian output {k}")


def test_jacobian_with_a_run_time_shaped_reference_of_a_tangent():
    """Reverse over forward where the JVP graph's reference tensors depend on the cotangent."""
    x = sad.placeholder((2, 3), F64, name="x")
    y = sad.sum(sad.exp(x) * sad.sin(x), axis=1)
    u = np.arange(6.0).reshape(2, 3) / 6
    t = sad.jvp(y, x, u)
    gt = sad.grad(sad.sum(t * t), x)  # backward graph of a forward graph
    xv = rng_for("refs").uniform(-1, 1, (2, 3))
    got = run([x], [_batched(gt, x, "fwd"), _batched(gt, x, "rev"), autodiff._jacobian_columns(gt, x, "fwd")], [xv])
    np.testing.assert_allclose(got[0], got[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[1], got[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_unbatched_results(mode):
    """Outputs that do not depend on x, or only through stop_gradient, and y = x (identity)."""
    x = sad.placeholder((2, 2), F64, name="x")
    c = sad.placeholder((3,), F64, name="c")
    xv, cv = np.ones((2, 2)), np.arange(3.0)
    j0 = sad.jacobian(sad.sin(c), x, mode=mode)
    j1 = sad.jacobian(sad.stop_gradient(x) * 2.0, x, mode=mode)
    j2 = sad.jacobian(x, x, mode=mode)
    j3 = sad.jacobian(sad.zeros_like(x) + sad.sum(c), x, mode=mode)  # full_like of x: no tangent
    got = run([x, c], [j0, j1, j2, j3], [xv, cv])
    assert got[0].shape == (3, 2, 2) and not got[0].any()
    assert got[1].shape == (2, 2, 2, 2) and not got[1].any()
    np.testing.assert_array_equal(got[2], np.eye(4).reshape(2, 2, 2, 2))
    assert not got[3].any()


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_empty_jacobians(mode):
    x = sad.placeholder((0,), F64, name="x")
    w = sad.placeholder((3,), F64, name="w")
    y = w * 2.0 + sad.sum(x)
    got = run([x, w], [sad.jacobian(y, x, mode=mode), sad.jacobian(sad.sum(x) * w[:0], w, mode=mode)],
              [np.zeros(0), np.ones(3)])
    assert got[0].shape == (3, 0) and got[1].shape == (0, 3)


def test_batch_transform_directly():
    """batch() on a hand-made fragment: the batched value equals stacking the per-element values."""
    x = sad.placeholder((3,), F64, name="x")
    v = sad.placeholder((3,), F64, name="v")
    out = sad.sum(sad.exp(x) * v) * v[1:] + x[:2]
    vals = rng_for("direct").uniform(-1, 1, (5, 3))
    ((bo, is_b),) = batching.batch([out], {v: sad.constant(vals)}, 5)
    assert is_b and bo.shape == (5, 2)
    xv = np.array([0.1, 0.2, 0.3])
    got = run([x], bo, [xv])
    f = sad.function([x, v], out, backend="numpy")
    np.testing.assert_allclose(got, np.stack([f(xv, vi) for vi in vals]), rtol=1e-14)
    with pytest.raises(RuntimeError, match="expected"):
        batching.batch([out], {v: sad.constant(vals[:, :2])}, 5)


# --- the fallback: an op without a batching rule ------------------------------------------------
def test_fallback_to_columns_when_an_op_has_no_rule(monkeypatch):
    calls = []
    original = autodiff._jacobian_columns

    def spy(y, x, mode):
        calls.append(mode)
        return original(y, x, mode)
    monkeypatch.setattr(autodiff, "_jacobian_columns", spy)
    with_rules = batching.rule_for
    monkeypatch.setattr(batching, "rule_for", lambda op: None if op.name == "sum" else with_rules(op))

    def build(n):
        x = sad.placeholder((n,), F64, name="x")
        y = sad.sum(x * x) * x + sad.sin(x)
        return x, y
    x, y = build(4)
    with pytest.raises(batching.NotBatchable, match="sum"):
        autodiff._jacobian_batched(y, x, "fwd")
    jr, jf = sad.jacobian(y, x, mode="rev"), sad.jacobian(y, x, mode="fwd")
    assert calls == ["fwd"]  # the JVP of sum is a sum of the tangent; the VJP graph has no sum
    xv = np.array([0.5, -1.2, 0.8, 1.5])
    got_r, got_f = run([x], [jr, jf], [xv])
    want = np.diag(xv @ xv + np.cos(xv)) + 2 * np.outer(xv, xv)
    np.testing.assert_allclose(got_r, want, rtol=1e-12)
    np.testing.assert_allclose(got_f, want, rtol=1e-12)
    # the fallback graph grows with n; ops with rules are unaffected
    x8, y8 = build(8)
    assert len(walk([sad.jacobian(y8, x8, mode="fwd")])) > len(walk([jf]))
    assert len(walk([sad.jacobian(y8, x8, mode="rev")])) == len(walk([jr]))
    calls.clear()
    sad.jacobian(sad.sin(x), x)
    assert calls == []


def test_fallback_for_an_unregistered_op_without_a_rule():
    """An op the batching module has never heard of (not elementwise): column by column."""
    from staticad.graph import apply
    from staticad.registry import Op
    cube = Op(name="cube_test_only", infer=lambda x: (x.shape, x.dtype), impl=lambda x: x ** 3,
              vjp=lambda g, out, x: [g * 3.0 * x * x], jvp=lambda ts, out, x: ts[0] * 3.0 * x * x)
    x = sad.placeholder((3,), F64, name="x")
    y = apply(cube, (x,)) + x
    xv = np.array([1.0, -2.0, 0.5])
    for mode in ("rev", "fwd"):
        np.testing.assert_allclose(run([x], sad.jacobian(y, x, mode=mode), [xv]), np.diag(3 * xv ** 2 + 1))
    np.testing.assert_allclose(run([x], sad.hessian(sad.sum(y), x), [xv]), np.diag(6 * xv))


# --- the Hessian at n = 100: analytic values, graph size, numba ----------------------------------------
def _bench_hessian(n):
    x = sad.placeholder((n,), F64, name="x")
    y = sad.sum(sad.exp(x) * sad.sin(x)) + (x @ x) ** 2
    return x, sad.hessian(y, x)


def _analytic(xv):
    n = xv.size
    return np.diag(2 * np.exp(xv) * np.cos(xv)) + 4 * (xv @ xv) * np.eye(n) + 8 * np.outer(xv, xv)


def test_hessian_n100_equals_the_analytic_hessian():
    x, H = _bench_hessian(100)
    xv = rng_for("h100").uniform(-1, 1, 100)
    assert H.shape == (100, 100)
    np.testing.assert_allclose(run([x], H, [xv]), _analytic(xv), rtol=1e-12, atol=1e-10)


def test_hessian_graph_size_does_not_grow_with_n():
    sizes = {n: len(walk([_bench_hessian(n)[1]])) for n in (10, 100)}
    assert sizes[10] == sizes[100], sizes
    assert sizes[100] < 200, sizes  # column by column it was ~4200 nodes at n = 100
    for mode in ("rev", "fwd"):
        counts = []
        for n in (10, 100):
            x = sad.placeholder((n,), F64, name="x")
            counts.append(len(walk([sad.jacobian(sad.tanh(x) * sad.sum(x * x), x, mode=mode)])))
        assert counts[0] == counts[1], (mode, counts)


def test_hessian_n100_compiles_on_numba_and_matches_numpy():
    pytest.importorskip("numba")
    x, H = _bench_hessian(100)
    xv = rng_for("h100-numba").uniform(-1, 1, 100)
    got = sad.function([x], H, backend="numba")(xv)
    want = sad.function([x], H, backend="numpy")(xv)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(got, _analytic(xv), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("label", ["matmul-3d-2d", "getitem", "concatenate-stack", "broadcast-rank3", "sum-axes"])
def test_batched_jacobians_on_numba(label):
    """A few batched graphs (batched matmul, getitem_grad, concat_part, ...) compiled by numba."""
    pytest.importorskip("numba")
    (param,) = [p for p in CASES if p.id == label]
    build, specs = param.values[0], param.values[1]
    rng = rng_for(label)
    arrays = [dist(rng, shape).astype(np.float64) for shape, dist in specs]
    xs = [sad.placeholder(a.shape, F64, name=f"x{i}") for i, a in enumerate(arrays)]
    y = build(*xs)
    s = sad.sum(y * y)
    outs = [sad.jacobian(y, xs[0], mode="rev"), sad.jacobian(y, xs[-1], mode="fwd"), sad.hessian(s, xs[0])]
    got = run(xs, outs, arrays, backend="numba")
    want = run(xs, outs, arrays, backend="numpy")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


def test_every_batching_rule_ran_with_its_operand_combinations():
    """Runs after the cases above (same module, defined last): each rule met each combination
    of batched/unbatched operands that derivative graphs produce."""
    if not any(k == "elementwise" for k, _ in RAN):
        pytest.skip("run together with the batched Jacobian cases")
    ran = {k for k, _ in RAN}
    missing = sorted({name for name, op in ops.REGISTRY.items() if op.batch is not None} - ran)
    assert not missing, f"batching rules never exercised: {missing}"
    want = {
        ("elementwise", (True, False)), ("elementwise", (False, True)), ("elementwise", (True, True)),
        ("matmul", (True, False)), ("matmul", (False, True)), ("matmul", (True, True)),
        ("sum_to_like", (True, False)), ("broadcast_like", (True, False)),
        ("getitem_grad", (True, False)), ("concatenate", (True, False)), ("concatenate", (False, True)),
    }
    assert want <= RAN, f"combinations never exercised: {sorted(want - RAN)}"

"""The numba backend agrees with the NumPy reference on every op, its derivatives, and random graphs."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st, HealthCheck

import staticad as sad
from staticad import fuzz

RTOL = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-12}


def _pos(shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _any(shape):
    return lambda rng: rng.uniform(-2.0, 2.0, shape)


# (id, function of placeholders, [(shape, generator)])
CASES = [
    ("add_bcast", lambda a, b: a + b, [((3, 1), _any), ((4,), _any)]),
    ("subtract", lambda a, b: a - b, [((2, 3), _any), ((2, 3), _any)]),
    ("multiply_scalar", lambda a, b: a * b, [((2, 3), _any), ((), _any)]),
    ("divide", lambda a, b: a / b, [((2, 3), _any), ((3,), _pos)]),
    ("negative", lambda a: -a, [((5,), _any)]),
    ("power", lambda a, b: a ** b, [((4,), _pos), ((4,), _any)]),
    ("power_const", lambda a: a ** 3, [((4,), _any)]),
    ("square", sad.square, [((2, 2), _any)]),
    ("sqrt", sad.sqrt, [((6,), _pos)]),
    ("exp", sad.exp, [((6,), _any)]),
    ("log", sad.log, [((6,), _pos)]),
    ("log1p", sad.log1p, [((6,), _pos)]),
    ("sin", sad.sin, [((6,), _any)]),
    ("cos", sad.cos, [((6,), _any)]),
    ("tan", sad.tan, [((6,), lambda s: (lambda rng: rng.uniform(-1, 1, s)))]),
    ("tanh", sad.tanh, [((6,), _any)]),
    ("sigmoid", sad.sigmoid, [((6,), _any)]),
    ("softplus", sad.softplus, [((6,), _any)]),
    ("relu", sad.relu, [((6,), _any)]),
    ("abs", sad.abs, [((6,), _any)]),
    ("sign", lambda a: sad.sign(a) * a, [((6,), _any)]),
    ("maximum", sad.maximum, [((2, 3), _any), ((3,), _any)]),
    ("minimum", sad.minimum, [((2, 3), _any), ((2, 1), _any)]),
    ("where", lambda a, b: sad.where(a > 0, a, b), [((3, 3), _any), ((3,), _any)]),
    ("clip", lambda a: sad.clip(a, -0.5, 0.5), [((8,), _any)]),
    ("sum_axis", lambda a: sad.sum(a, axis=1), [((3, 4), _any)]),
    ("sum_keep", lambda a: sad.sum(a, axis=(0, 2), keepdims=True), [((2, 3, 2), _any)]),
    ("mean", lambda a: sad.mean(a, axis=0), [((3, 4), _any)]),
    ("max", lambda a: sad.max(a, axis=-1), [((3, 4), _any)]),
    ("min_all", lambda a: sad.min(a), [((3, 4), _any)]),
    ("prod", lambda a: sad.prod(a, axis=0), [((3, 2), _pos)]),
    ("matmul", sad.matmul, [((3, 4), _any), ((4, 2), _any)]),
    ("matmul_vec", sad.matmul, [((4,), _any), ((4, 2), _any)]),
    ("matmul_mat_vec", sad.matmul, [((3, 4), _any), ((4,), _any)]),
    ("matmul_batched", sad.matmul, [((2, 3, 4), _any), ((4, 5), _any)]),
    ("dot_vec", sad.dot, [((5,), _any), ((5,), _any)]),
    ("transpose", lambda a: sad.transpose(a) * 2, [((2, 3), _any)]),
    ("reshape", lambda a: sad.reshape(a, (3, -1)) + 1, [((2, 3), _any)]),
    ("broadcast_to", lambda a: sad.broadcast_to(a, (4, 3)), [((3,), _any)]),
    ("expand_squeeze", lambda a: sad.squeeze(sad.expand_dims(a, 1), 1) * 3, [((4,), _any)]),
    ("concatenate", lambda a, b: sad.concatenate([a, b], axis=1), [((2, 3), _any), ((2, 2), _any)]),
    ("stack", lambda a, b: sad.stack([a, b], axis=0), [((3,), _any), ((3,), _any)]),
    ("getitem", lambda a: a[1:, ::2] * a[0, 1], [((3, 4), _any)]),
    ("norm", sad.norm, [((3, 4), _any)]),
    ("softmax", sad.softmax, [((2, 5), _any)]),
    ("log_softmax", sad.log_softmax, [((2, 5), _any)]),
    ("logsumexp", lambda a: sad.logsumexp(a, axis=1), [((2, 5), _any)]),
    ("astype", lambda a: sad.astype(a, "float32").astype("float64") * 2, [((4,), _any)]),
    ("compare_logic", lambda a, b: sad.where(sad.logical_or(sad.logical_and(a > b, a >= 0), sad.logical_not(a <= b)), a, b * 2), [((6,), _any), ((6,), _any)]),
    ("zeros_ones_full", lambda a: a + sad.ones_like(a) * 2 + sad.full((3,), 0.5, "float64") + sad.zeros((3,), "float64"), [((2, 3), _any)]),
    ("linspace_arange", lambda a: a * sad.linspace(0, 1, 4, dtype="float64") + sad.arange(4.0).astype("float64"), [((4,), _any)]),
]


def _build(fn, specs, dtype, rng):
    phs = [sad.placeholder(shape, dtype, name=f"p{i}") for i, (shape, _) in enumerate(specs)]
    vals = [np.asarray(gen(shape)(rng), dtype=dtype) for shape, gen in specs]
    out = fn(*phs)
    w = rng.uniform(-1, 1, out.shape).astype(dtype)
    loss = sad.sum(out * w)
    grads = sad.grad(loss, phs)
    tang = [rng.uniform(-1, 1, s).astype(dtype) for s, _ in specs]
    jv = sad.jvp(out, phs, tang)
    return phs, [out, loss, jv] + list(grads), vals


@pytest.fixture(scope="module", params=["float64", "float32"])
def all_cases(request):
    """Every case compiled into ONE function per backend (numba compile time is the suite's main cost)."""
    dtype = request.param
    rng = np.random.default_rng(0)
    phs, outs, vals, spans = [], [], [], []
    for name, fn, specs in CASES:
        p, o, v = _build(fn, specs, dtype, rng)
        for t in p:
            t.name = f"{name}_{t.name}"
        spans.append((name, len(outs), len(o)))
        phs += p
        outs += o
        vals += v
    ref = sad.function(phs, outs, backend="numpy")(*vals)
    got = sad.function(phs, outs, backend="numba")(*vals)
    return dtype, spans, ref, got


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_values_and_derivatives_agree(case, all_cases):
    dtype, spans, ref, got = all_cases
    name = case[0]
    _, start, n = next(s for s in spans if s[0] == name)
    labels = ["value", "loss", "jvp"] + [f"grad{i}" for i in range(n - 3)]
    for r, g, label in zip(ref[start:start + n], got[start:start + n], labels):
        assert g.shape == r.shape and g.dtype == r.dtype, (name, dtype, label)
        np.testing.assert_allclose(g, r, rtol=RTOL[np.dtype(dtype)] * 10, atol=1e-6 if dtype == "float32" else 1e-12,
                                   err_msg=f"{name} {dtype} {label}")


def test_dynamic_dims_size0_size1_and_noncontiguous():
    x = sad.placeholder((None, 3), "float64", name="x")
    y = sad.placeholder((None, 3), "float64", name="y")
    loss = sad.sum(sad.sin(x) * y)
    outs = [loss] + sad.grad(loss, [x, y])
    f_ref = sad.function([x, y], outs, backend="numpy")
    f = sad.function([x, y], outs, backend="numba")
    rng = np.random.default_rng(1)
    for nx_, ny in [(4, 4), (1, 5), (5, 1), (0, 0), (1, 1)]:
        a, b = rng.standard_normal((nx_, 3)), rng.standard_normal((ny, 3))
        for r, g in zip(f_ref(a, b), f(a, b)):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    a = rng.standard_normal((3, 6))[:, ::2]  # non-contiguous input
    b = np.asfortranarray(rng.standard_normal((3, 3)))
    for r, g in zip(f_ref(a, b), f(a, b)):
        np.testing.assert_allclose(g, r, rtol=1e-12)
    with pytest.raises(ValueError):
        f(rng.standard_normal((2, 3)), rng.standard_normal((3, 3)))


def test_large_sums_agree_float32():
    x = sad.placeholder((None,), "float32", name="x")
    f = sad.function([x], [sad.sum(x), sad.mean(x * x)], backend="numba")
    v = np.random.default_rng(2).uniform(0, 1, 1_000_003).astype("float32")
    s, m = f(v)
    exact = np.sum(v.astype(np.float64))
    assert abs(float(s) - exact) / exact <= abs(float(np.sum(v)) - exact) / exact + 1e-7
    np.testing.assert_allclose(m, np.mean(v.astype(np.float64) ** 2), rtol=1e-6)


def test_updates_in_place_are_atomic():
    w = sad.Variable(np.ones(3), name="w")
    x = sad.placeholder((None,), "float64", name="x")
    f = sad.function([x], w * 2, updates=[(w, w + x)], backend="numba")
    out = f(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out, [2, 2, 2])
    np.testing.assert_array_equal(w.value, [2, 3, 4])
    with pytest.raises(ValueError):
        f(np.array([1.0, 2.0]))  # broadcasting error at run time
    np.testing.assert_array_equal(w.value, [2, 3, 4])


# the fuzzer's recipes (``staticad fuzz`` runs many more of them); this slice keeps to the ops
# without control flow, which test_numba_control.py covers
random_graph = lambda: fuzz.random_graph(kinds=["u", "u", "b", "b", "r", "m"])  # noqa: E731


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_graph())
# found by hypothesis: a kernel recomputing two cheap values with a shared sub-expression duplicated
# it and wrote a recomputed value into a buffer that a later output had taken over
@example(([(4, 1), ()], [("u", 1366, 50885), ("r", 652, 831929), ("m", 459252, 21713), ("u", 272521, 387),
                         ("b", 99999, 111966), ("m", 336747, 9047), ("m", 9047, 86542), ("b", 253006, 1433),
                         ("u", 2116, 50100), ("u", 141730, 170), ("u", 298, 239), ("u", 101032, 54223),
                         ("u", 470, 537983), ("u", 114, 60), ("u", 0, 9099), ("u", 116, 1033), ("m", 1054, 41),
                         ("u", 30104, 0), ("r", 372875, 0), ("r", 115216, 0), ("u", 1175, 4794)]))
# found by hypothesis: two recomputed values where one feeds the other were put out of order
@example(([(3,), (3,)], [
                         ("u", 3944, 602523), ("u", 5787, 3430), ("b", 680881, 612), ("u", 408174, 8094),
                         ("m", 29574, 18637), ("u", 771, 0), ("u", 16835, 367037), ("u", 285, 607687),
                         ("u", 386, 256), ("b", 219562, 655), ("u", 245166, 315), ("u", 2243, 762),
                         ("u", 168776, 320524), ("u", 446, 53568), ("m", 131072, 5039), ("m", 285506, 373),
                         ("u", 4025, 73497), ("u", 383, 26570), ("m", 1198, 2447), ("u", 2422, 596568),
                         ("u", 13035, 26663), ("r", 418, 684), ("u", 429, 11031), ("u", 10584, 275),
                         ("u", 905, 52), ("b", 409, 65537), ("u", 3883, 0), ("u", 14985, 0)]))
def test_random_graphs_agree(graph):
    assert fuzz.check([graph]) is None

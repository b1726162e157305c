"""Every op's VJP and JVP against central finite differences (float64), and their conventions.

The catalogue of cases is :mod:`.cases`; a failure names the op, the shapes and the attributes.
Second order: each case also differentiates its VJP and JVP graphs again (``order=2``).
"""
import re
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import staticad as sad
from staticad import ops

from .cases import (API_OPS, BINARY, DEDICATED_DERIVATIVE_TESTS, DERIVATIVE_CASES, SOURCE_OPS, distinct,
                    fmt_shapes, nonzero)
from .checks import check_derivatives, compile_fn

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=[c.label for c in DERIVATIVE_CASES])
def test_vjp_and_jvp_match_finite_differences(case):
    from .checks import rng_for
    arrays = case.make(rng_for(case.label))
    check_derivatives(case.build, arrays, case.label, eps=case.eps, rtol=case.rtol, atol=case.atol,
                      order=case.order, op=case.registry_op)


# --- coverage: adding an op without a derivative test fails here -----------------------------------------
def test_every_registry_op_has_a_derivative_test():
    covered = {c.registry_op for c in DERIVATIVE_CASES} | set(DEDICATED_DERIVATIVE_TESTS)
    missing = sorted(name for name in ops.REGISTRY if name not in SOURCE_OPS and name not in covered)
    assert not missing, f"registry ops without a derivative test (add cases to tests/ops/cases.py): {missing}"


def test_dedicated_derivative_tests_exist():
    for op, ref in DEDICATED_DERIVATIVE_TESTS.items():
        path, name = ref.split("::")
        text = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", text, re.M), f"{op}: dedicated derivative test {ref} not found"


def test_every_api_op_has_a_derivative_test():
    covered = {c.op for c in DERIVATIVE_CASES}
    missing = [name for name in API_OPS if name not in covered]
    assert not missing, f"ops of API.md section 1 without a derivative test: {missing}"


# --- subgradient and tie conventions -------------------------------------------------------------------
def _grad_and_jvp(build, x_value, u):
    x = sad.placeholder(np.shape(x_value), "float64", name="x")
    y = build(x)
    g = sad.grad(sad.sum(y), x)
    t = sad.jvp(y, x, np.asarray(u, dtype=np.float64))
    return compile_fn([x], [g, t])(np.asarray(x_value, dtype=np.float64))


@pytest.mark.parametrize("name, fn, want", [
    ("abs", sad.abs, [-1.0, 0.0, 1.0]),
    ("relu", sad.relu, [0.0, 0.0, 1.0]),
    ("sign", sad.sign, [0.0, 0.0, 0.0]),
], ids=["abs'(0)=0", "relu'(0)=0", "sign'=0"])
def test_subgradient_at_zero(name, fn, want):
    g, t = _grad_and_jvp(fn, [-2.0, 0.0, 3.0], [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(g, want, err_msg=f"{name}: gradient at [-2, 0, 3]")
    np.testing.assert_array_equal(t, want, err_msg=f"{name}: JVP at [-2, 0, 3] with tangent 1")


@pytest.mark.parametrize("name, fn, x, want", [
    ("max", sad.max, [1.0, 3.0, 3.0], [0.0, 0.5, 0.5]),
    ("min", sad.min, [2.0, 1.0, 1.0, 5.0], [0.0, 0.5, 0.5, 0.0]),
    ("max", sad.max, [4.0, 4.0, 4.0], [1 / 3, 1 / 3, 1 / 3]),
    ("max-axis=1", lambda x: sad.max(x, axis=1), [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]],
     [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]),
    ("min-axis=0-keepdims", lambda x: sad.min(x, axis=0, keepdims=True), [[1.0, 3.0], [1.0, 2.0]],
     [[0.5, 0.0], [0.5, 1.0]]),
    ("logsumexp", sad.logsumexp, [0.0, 0.0], [0.5, 0.5]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_ties_in_reductions_share_the_gradient(name, fn, x, want):
    u = np.arange(1.0, np.size(x) + 1).reshape(np.shape(x))
    g, t = _grad_and_jvp(fn, x, u)
    np.testing.assert_allclose(g, want, rtol=1e-12, err_msg=f"{name} of {x}: gradient")
    # forward mode uses the same weights: J u = sum(weights * u) per output
    np.testing.assert_allclose(np.sum(t), np.sum(np.asarray(want) * u), rtol=1e-12,
                               err_msg=f"{name} of {x}: JVP (output shape {t.shape})")


@pytest.mark.parametrize("name, fn", [("maximum", sad.maximum), ("minimum", sad.minimum)])
def test_ties_in_maximum_minimum_share_the_gradient(name, fn):
    a = sad.placeholder((3,), "float64", name="a")
    b = sad.placeholder((3,), "float64", name="b")
    y = sad.sum(fn(a, b))
    ga, gb = sad.grad(y, [a, b])
    gx = sad.grad(sad.sum(fn(a, a)), a)
    t = sad.jvp(fn(a, b), [a, b], [np.full(3, 2.0), np.full(3, 4.0)])
    f = compile_fn([a, b], [ga, gb, gx, t])
    av, bv = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    ga_, gb_, gx_, t_ = f(av, bv)
    first = [0.5, 0.0, 1.0] if name == "maximum" else [0.5, 1.0, 0.0]
    np.testing.assert_array_equal(ga_, first, err_msg=f"{name}: gradient wrt a (tie at index 0)")
    np.testing.assert_array_equal(gb_, 1 - np.array(first), err_msg=f"{name}: gradient wrt b (tie at index 0)")
    np.testing.assert_array_equal(gx_, [1.0, 1.0, 1.0], err_msg=f"{name}(x, x): 0.5 + 0.5 per element")
    want_t = np.array(first) * 2 + (1 - np.array(first)) * 4
    np.testing.assert_array_equal(t_, want_t, err_msg=f"{name}: JVP with tangents 2 (a) and 4 (b)")


def test_maximum_of_x_with_itself_gives_each_operand_half():
    x = sad.placeholder((2,), "float64", name="x")
    m = sad.maximum(x, x)
    # one cotangent per operand of the maximum node: differentiate through an identity on each side
    a, b = x * 1.0, x * 1.0
    ga, gb = sad.grad(sad.sum(sad.maximum(a, b)), [a, b])
    out = compile_fn([x], [sad.grad(sad.sum(m), x), ga, gb])(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(out[0], [1.0, 1.0])
    np.testing.assert_array_equal(out[1], [0.5, 0.5])
    np.testing.assert_array_equal(out[2], [0.5, 0.5])


def test_norm_gradient_at_zero_is_zero():
    x = sad.placeholder((3,), "float64", name="x")
    n = sad.norm(x)
    g = sad.grad(n, x)
    t = sad.jvp(n, x, np.ones(3))
    g_, t_ = compile_fn([x], [g, t])(np.zeros(3))
    np.testing.assert_array_equal(g_, np.zeros(3))
    assert t_ == 0.0


# --- prod with exact zeros ---------------------------------------------------------------------------------
def _prod_others(x, axis):
    """d prod(x, axis) / d x_k by brute force: the product with x_k replaced by 1."""
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        x2 = x.copy()
        x2[k] = 1.0
        grad[k] = np.broadcast_to(np.prod(x2, axis=axis, keepdims=True), x.shape)[k]
    return grad


def _prod_hessian(x):
    """Hessian of prod(x) over all elements: H[j, k] = product of the others (0 on the diagonal)."""
    flat = x.reshape(-1)
    n = flat.size
    H = np.zeros((n, n))
    for j in range(n):
        for k in range(n):
            if j != k:
                f = flat.copy()
                f[j] = f[k] = 1.0
                H[j, k] = np.prod(f)
    return H.reshape(x.shape + x.shape)


PROD_ZERO_CASES = [
    ([2.0, 0.0, 3.0], None), ([0.0, 0.0, 4.0], None), ([0.0, 0.0, 0.0], None), ([1.5, -2.0, 0.5], None),
    ([0.0], None), ([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0], [2.0, 3.0, 4.0]], 1),
    ([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0], [2.0, 3.0, 4.0]], 0), ([[1.0, 0.0], [-2.0, 3.0]], None),
]


@pytest.mark.parametrize("x, axis", PROD_ZERO_CASES, ids=[f"{x}-axis={a}" for x, a in PROD_ZERO_CASES])
def test_prod_derivatives_with_exact_zeros(x, axis):
    xv = np.array(x)
    p = sad.placeholder(xv.shape, "float64", name="x")
    y = sad.prod(p, axis=axis)
    u = np.arange(1.0, xv.size + 1).reshape(xv.shape)
    g = sad.grad(sad.sum(y), p)
    t = sad.jvp(y, p, u)
    outs = [g, t]
    if axis is None:
        outs.append(sad.hessian(y, p))
    got = compile_fn([p], outs)(xv)
    want_g = _prod_others(xv, axis)
    np.testing.assert_allclose(got[0], want_g, rtol=1e-12, err_msg=f"prod{x} axis={axis}: gradient")
    want_t = np.sum(np.broadcast_to(u * want_g, xv.shape), axis=axis)
    np.testing.assert_allclose(got[1], want_t, rtol=1e-12, err_msg=f"prod{x} axis={axis}: JVP")
    if axis is None:
        np.testing.assert_allclose(got[2], _prod_hessian(xv), rtol=1e-12, err_msg=f"prod{x}: Hessian")


# --- random shapes (hypothesis) ------------------------------------------------------------------------------
FEW = settings(max_examples=12, deadline=None, derandomize=True)


@FEW
@given(op=st.sampled_from(sorted(BINARY)), shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_binary_ops_broadcast_random_shapes(op, shapes, seed):
    fn, _ref, da, db = BINARY[op]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    arrays = [da(rng, sa), db(rng, sb)]
    check_derivatives(fn, arrays, f"{op}-{fmt_shapes(sa, sb)}", order=1, op=op)


@st.composite
def shape_axis_keepdims(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if nd == 0 or kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        axis = tuple(a - nd if draw(st.booleans()) else a for a in axes)
    return shape, axis, draw(st.booleans())


REDUCERS = {"sum": (sad.sum, np.random.Generator.uniform), "mean": (sad.mean, None), "max": (sad.max, None),
            "min": (sad.min, None), "prod": (sad.prod, None), "logsumexp": (sad.logsumexp, None)}


@FEW
@given(op=st.sampled_from(sorted(REDUCERS)), sak=shape_axis_keepdims(), seed=st.integers(0, 2 ** 16))
def test_reductions_random_shapes_and_axes(op, sak, seed):
    shape, axis, keepdims = sak
    rng = np.random.default_rng(seed)
    x = distinct(rng, shape) if op in ("max", "min") else (
        nonzero(0.6, 1.4)(rng, shape) if op == "prod" else rng.uniform(-2, 2, size=shape))
    fn = REDUCERS[op][0]
    check_derivatives(lambda t: fn(t, axis=axis, keepdims=keepdims), [x],
                      f"{op}-{fmt_shapes(shape)}-axis={axis}-keepdims={keepdims}", order=1)


@FEW
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2),
       nkm=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
       vec=st.tuples(st.booleans(), st.booleans()), seed=st.integers(0, 2 ** 16))
def test_matmul_random_shapes(batch, nkm, vec, seed):
    n, k, m = nkm
    sa = (k,) if vec[0] else batch.input_shapes[0] + (n, k)
    sb = (k,) if vec[1] else batch.input_shapes[1] + (k, m)
    rng = np.random.default_rng(seed)
    check_derivatives(sad.matmul, [rng.uniform(-2, 2, sa), rng.uniform(-2, 2, sb)], f"matmul-{fmt_shapes(sa, sb)}",
                      order=1, op="matmul")

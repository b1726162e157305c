"""Derivative checks shared by the op tests: values vs NumPy, VJP/JVP vs central finite differences.

``check_derivatives(build, arrays)`` builds ``y = build(*placeholders)`` and checks, in float64:

* the VJP ``sad.vjp(y, xs, v)`` against ``v . J`` and the JVP ``sad.jvp(y, xs, u)`` against ``J u``,
  where ``J`` is the central-difference Jacobian of the compiled forward function;
* that they agree with each other: ``<v, J u> == sum_i <vjp_i, u_i>``;
* shapes and dtypes of the derivatives (each gradient has its input's shape and dtype);
* with ``order=2`` the same again for ``x -> <vjp(x), w>`` (reverse over reverse and forward over
  reverse) and ``x -> <v, jvp(x)>`` (reverse over forward and forward over forward): the rules are
  graphs, so they must be differentiable themselves.

Every assertion message starts with the label (op and shapes) so a failure says what broke.
"""
from __future__ import annotations

import zlib

import numpy as np

import staticad as sad
from staticad.graph import walk

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6


def rng_for(label: str) -> np.random.Generator:
    """A generator seeded by the test's label: reruns see the same numbers."""
    return np.random.default_rng(zlib.crc32(label.encode()))


def compile_fn(inputs, outputs):
    return sad.function(list(inputs), outputs, backend="numpy")


def placeholders(arrays, prefix="x"):
    return [sad.placeholder(np.shape(a), np.asarray(a).dtype, name=f"{prefix}{i}") for i, a in enumerate(arrays)]


def evaluate(build, arrays):
    """Value of ``build(*placeholders)`` on ``arrays`` (and the symbolic output)."""
    xs = placeholders(arrays)
    y = build(*xs)
    return compile_fn(xs, y)(*arrays), y


def numeric_jacobians(f, arrays, eps=EPS):
    """Central-difference Jacobians ``d f / d x_i`` of shape ``f.shape + x_i.shape``."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    y0 = np.asarray(f(*arrays))
    jacs = []
    for i, a in enumerate(arrays):
        flat = np.zeros((y0.size, a.size))
        for k in range(a.size):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[i].flat[k] += eps
            minus[i].flat[k] -= eps
            flat[:, k] = (np.asarray(f(*plus), dtype=np.float64)
                          - np.asarray(f(*minus), dtype=np.float64)).reshape(-1) / (2 * eps)
        jacs.append(flat.reshape(y0.shape + a.shape))
    return y0, jacs


def _contract_out(v, J, ndim_out):
    return np.tensordot(v, J, axes=ndim_out) if ndim_out else v * J


def _contract_in(J, u, ndim_in):
    axes = (list(range(J.ndim - ndim_in, J.ndim)), list(range(ndim_in)))
    return np.tensordot(J, u, axes=axes) if ndim_in else J * u


def check_derivatives(build, arrays, label, *, eps=EPS, rtol=RTOL, atol=ATOL, order=2, op=None):
    """Check ``build``'s VJP and JVP (and, with ``order=2``, their derivatives) against finite differences.

    ``arrays`` are the float inputs (all differentiated); anything not differentiated belongs in
    ``build``'s closure. ``op``: a registry op name that must occur in the built graph.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    rng = rng_for(label)
    xs = placeholders(arrays)
    y = build(*xs)
    if op is not None:
        names = {n.op.name for n in walk([y])}
        assert op in names, f"{label}: the graph built for op {op!r} has no {op!r} node (only {sorted(names)})"
    f = compile_fn(xs, y)
    y0, jacs = numeric_jacobians(f, arrays, eps)
    assert y0.dtype == np.float64, f"{label}: output dtype {y0.dtype}, expected float64"

    v = rng.uniform(-1, 1, size=y0.shape)
    us = [rng.uniform(-1, 1, size=a.shape) for a in arrays]

    gs = sad.vjp(y, list(xs), v)
    t = sad.jvp(y, list(xs), list(us))
    assert isinstance(gs, list) and len(gs) == len(xs), f"{label}: vjp must mirror the list of xs"
    for i, (g, x) in enumerate(zip(gs, xs)):
        assert g.shape == x.shape, f"{label}: VJP wrt input {i} has static shape {g.shape}, expected {x.shape}"
        assert g.dtype == x.dtype, f"{label}: VJP wrt input {i} has dtype {g.dtype}, expected {x.dtype}"
    assert t.shape == y.shape, f"{label}: JVP has static shape {t.shape}, expected {y.shape}"

    values = compile_fn(xs, [gs, t])(*arrays)
    got_gs, got_t = values
    for i, (g, J, a) in enumerate(zip(got_gs, jacs, arrays)):
        want = _contract_out(v, J, y0.ndim)
        assert g.shape == a.shape, f"{label}: VJP wrt input {i} has shape {g.shape}, expected {a.shape}"
        np.testing.assert_allclose(g, want, rtol=rtol, atol=atol,
                                   err_msg=f"{label}: VJP wrt input {i} (shape {a.shape}) vs finite differences")
    want_t = sum(_contract_in(J, u, a.ndim) for J, u, a in zip(jacs, us, arrays))
    want_t = np.broadcast_to(want_t, y0.shape)
    assert got_t.shape == y0.shape, f"{label}: JVP has shape {got_t.shape}, expected {y0.shape}"
    np.testing.assert_allclose(got_t, want_t, rtol=rtol, atol=atol,
                               err_msg=f"{label}: JVP vs finite differences")
    # the two modes agree with each other: <v, J u> = <J^T v, u>
    lhs = float(np.sum(v * got_t))
    rhs = float(sum(np.sum(g * u) for g, u in zip(got_gs, us)))
    ctol = 1e-9 if rtol <= RTOL else rtol  # float32 round trips (astype) round the tangents too
    np.testing.assert_allclose(lhs, rhs, rtol=ctol, atol=ctol, err_msg=f"{label}: <v, jvp(u)> != <vjp(v), u>")

    if order >= 2:
        ws = [rng.uniform(-1, 1, size=a.shape) for a in arrays]

        def through_vjp(*zs):
            grads = sad.vjp(build(*zs), list(zs), v)
            return _sum_all([sad.sum(g * sad.constant(w, dtype="float64")) for g, w in zip(grads, ws)])

        def through_jvp(*zs):
            tan = sad.jvp(build(*zs), list(zs), list(us))
            return sad.sum(tan * sad.constant(v, dtype="float64"))

        check_derivatives(through_vjp, arrays, f"{label} [d(vjp)]", eps=eps, rtol=rtol, atol=atol, order=order - 1)
        check_derivatives(through_jvp, arrays, f"{label} [d(jvp)]", eps=eps, rtol=rtol, atol=atol, order=order - 1)


def _sum_all(terms):
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def check_forward(build, ref, arrays, label, rtol=1e-12, atol=1e-12):
    """The compiled value equals NumPy's, with numpy's shape and dtype (static shape too)."""
    got, y = evaluate(build, arrays)
    want = np.asarray(ref(*arrays))
    assert got.shape == want.shape, f"{label}: shape {got.shape}, numpy gives {want.shape}"
    assert y.shape == want.shape, f"{label}: static shape {y.shape}, numpy gives {want.shape}"
    assert got.dtype == want.dtype, f"{label}: dtype {got.dtype}, numpy gives {want.dtype}"
    assert y.dtype == want.dtype, f"{label}: static dtype {y.dtype}, numpy gives {want.dtype}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{label}: value vs numpy")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"{label}: value vs numpy")

"""Matrix products and the 2-norm."""
from __future__ import annotations

import numpy as np

from ..graph import apply, broadcast_shapes
from ._util import fmt, lift_operands
from ..registry import defop


def _infer_matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have rank >= 1, got {fmt(a.shape)} @ {fmt(b.shape)}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(f"matmul: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned "
                         f"(inner dims {ka} != {kb})")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], op_name="matmul batch dims") if (a.ndim > 2 or b.ndim > 2) else ()
    rows = (a.shape[-2],) if a.ndim >= 2 else ()
    cols = (b.shape[-1],) if b.ndim >= 2 else ()
    return batch + rows + cols, np.result_type(a.dtype, b.dtype)


def _matmul_vjp(g, out, a, b):
    from .shape import expand_dims, squeeze, swapaxes
    from .elementwise import multiply
    if a.ndim == 1 and b.ndim == 1:
        return [multiply(g, b), multiply(g, a)]
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, -1) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = expand_dims(g2, g2.ndim - 1)
    if b.ndim == 1:
        g2 = expand_dims(g2, g2.ndim)
    ga = matmul(g2, swapaxes(b2, -1, -2))
    gb = matmul(swapaxes(a2, -1, -2), g2)
    if a.ndim == 1:
        ga = squeeze(ga, ga.ndim - 2)
    if b.ndim == 1:
        gb = squeeze(gb, gb.ndim - 1)
    return [ga, gb]  # batch dims are summed back to each input's shape by the walker


def _matmul_jvp(ts, out, a, b):
    from .elementwise import _tadd
    return _tadd(None if ts[0] is None else matmul(ts[0], b), None if ts[1] is None else matmul(a, ts[1]))


MATMUL = defop("matmul", _infer_matmul, np.matmul, vjp=_matmul_vjp, jvp=_matmul_jvp,
               doc="numpy matmul semantics (1-D operands promoted, batch dims broadcast)")


def matmul(a, b):
    """Matrix product with numpy semantics (``a @ b``)."""
    a, b = lift_operands(a, b)
    return apply(MATMUL, (a, b))


def dot(a, b):
    """``numpy.dot`` for tensors of rank <= 2 (0-d operands multiply)."""
    from .elementwise import multiply
    a, b = lift_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim > 2 or b.ndim > 2:
        raise ValueError(f"dot: supports ranks <= 2, got {fmt(a.shape)} and {fmt(b.shape)}; use matmul "
                         "for batched products")
    return matmul(a, b)


def _norm_unit(out, x):
    """x / ||x||, defined as 0 at x = 0 (the subgradient of smallest norm)."""
    from .elementwise import divide, greater, where
    from .creation import zeros_like
    from .shape import broadcast_like
    positive = broadcast_like(greater(out, 0), x)
    return where(positive, divide(x, out), zeros_like(x))


def _norm_impl(x):
    dt = x.dtype if x.dtype.kind == "f" else np.dtype("float64")
    return np.asarray(np.sqrt(np.sum(np.square(x, dtype=dt))), dtype=dt)


NORM = defop(
    "norm", lambda x: ((), x.dtype if x.dtype.kind == "f" else np.dtype("float64")), _norm_impl,
    vjp=lambda g, out, x: [_mul(g, _norm_unit(out, x))],
    jvp=lambda ts, out, x: _sum(_mul(ts[0], _norm_unit(out, x))),
    doc="2-norm over all elements; gradient 0 at x = 0")


def _mul(a, b):
    from .elementwise import multiply
    return multiply(a, b)


def _sum(x):
    from .reduce import sum as _s
    return _s(x)


def norm(x):
    """2-norm over all elements (Frobenius for matrices)."""
    (x,) = lift_operands(x)
    return apply(NORM, (x,))

"""Reductions over all or some axes. Ties in max/min share the gradient evenly."""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..graph import apply
from . import _batch
from . import symbolic as _sym
from ._util import lift_operands, normalize_axes, reduced_shape
from ..registry import Reduction, defop


def _keep(t, out):
    """``t`` (shaped like the reduction's output) with the reduced axes restored as size 1."""
    from .shape import expand_dims
    if out.attrs["keepdims"] or not out.attrs["axes"]:
        return t
    return expand_dims(t, out.attrs["axes"])


def _infer_reduce(name, int_to=None):
    def infer(x, axes, keepdims):
        dt = x.dtype
        if name == "sum" or name == "prod":
            dt = np.dtype("int64") if dt.kind in "bi" else (np.dtype("uint64") if dt.kind == "u" else dt)
        return reduced_shape(x.shape, axes, keepdims), dt
    return infer


def _back(g, out, x):
    from .shape import broadcast_like
    return broadcast_like(_keep(g, out), x)


SUM = defop(
    "sum", _infer_reduce("sum"), lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
    vjp=lambda g, out, x: [_back(g, out, x)],
    jvp=lambda ts, out, x: sum(ts[0], axis=out.attrs["axes"], keepdims=out.attrs["keepdims"]),
    reduction=Reduction("sum"), symshape=_sym.reduced, batch=_batch.reduction, doc="sum over axes")


def _extremum_weights(out, x):
    """mask(x == extremum) / count: the share of the gradient each element gets."""
    from .elementwise import astype, divide, equal
    dt = _dt.float_result(x.dtype)
    mask = astype(equal(x, _keep(out, out)), dt)
    count = sum(mask, axis=out.attrs["axes"], keepdims=True)
    return divide(mask, count)


def _extremum(name, fn):
    from .elementwise import multiply
    return defop(
        name, _infer_reduce(name), lambda x, axes, keepdims: fn(x, axis=axes, keepdims=keepdims),
        vjp=lambda g, out, x: [multiply(_back(g, out, x), _extremum_weights(out, x))],
        jvp=lambda ts, out, x: sum(multiply(ts[0], _extremum_weights(out, x)),
                                   axis=out.attrs["axes"], keepdims=out.attrs["keepdims"]),
        reduction=Reduction(name), symshape=_sym.reduced, batch=_batch.reduction,
        doc=f"{name} over axes; ties share the gradient evenly")


MAX = _extremum("max", np.max)
MIN = _extremum("min", np.min)


def _prod_partials(out, x):
    """d prod / d x_k = product of the other elements, safe with exact zeros.

    Nonzero factors are divided out of ``prod(where(x == 0, 1, x))`` (never a division by 0); the
    zero factors other than x_k are kept as graph expressions of x, so that the second derivative
    is exact too: with one zero in the slice, every other element's partial is ``that zero * ...``;
    with two, each zero's partial is ``the other zero * ...``; with more, every partial is 0.
    """
    from .creation import ones_like, zeros_like
    from .elementwise import astype, divide, equal, logical_and, multiply, subtract, where
    axes, dt = out.attrs["axes"], _dt.float_result(x.dtype)
    is_zero = equal(x, 0)
    x_safe = where(is_zero, ones_like(x), x)
    nonzero_prod = prod(x_safe, axis=axes, keepdims=True)
    zeros = sum(astype(is_zero, dt), axis=axes, keepdims=True)
    zero_sum = sum(where(is_zero, x, zeros_like(x)), axis=axes, keepdims=True)  # value 0, slope 1 at each zero
    other_zeros = where(equal(zeros, 0), 1, where(
        equal(zeros, 1), where(is_zero, 1, zero_sum),
        where(logical_and(equal(zeros, 2), is_zero), subtract(zero_sum, x), 0)))
    return multiply(divide(nonzero_prod, x_safe), other_zeros)


PROD = defop(
    "prod", _infer_reduce("prod"), lambda x, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims),
    vjp=lambda g, out, x: [_mul(_back(g, out, x), _prod_partials(out, x))],
    jvp=lambda ts, out, x: sum(_mul(ts[0], _prod_partials(out, x)), axis=out.attrs["axes"],
                               keepdims=out.attrs["keepdims"]),
    reduction=Reduction("prod"), symshape=_sym.reduced, batch=_batch.reduction, doc="product over axes")


def _mul(a, b):
    from .elementwise import multiply
    return multiply(a, b)


def _np_count(x, axes, dtype):
    return np.array(int(np.prod([x.shape[a] for a in axes], dtype=np.int64)), dtype=dtype)


def _batch_count(node, vals, flags, size):
    (x,) = vals  # the same count for every batch element: unbatched
    return apply(node.op, (x,), axes=_batch.shift(node.attrs["axes"]), dtype=node.attrs["dtype"]), False


COUNT = defop(
    "count", lambda x, axes, dtype: ((), np.dtype(dtype)), _np_count,
    vjp=lambda g, out, x: [None], jvp=lambda ts, out, x: None, nondifferentiable=True,
    shape_only_inputs=(0,), symshape=_sym.scalar, batch=_batch_count,
    doc="number of elements over axes of x's run-time shape (for mean)")


def _reduce(op, x, axis, keepdims):
    (x,) = lift_operands(x)
    axes = normalize_axes(axis, x.ndim, op.name)
    return apply(op, (x,), axes=axes, keepdims=bool(keepdims))


def sum(x, axis=None, keepdims=False):  # noqa: A001 - numpy name
    """Sum over ``axis`` (all axes when None)."""
    return _reduce(SUM, x, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; ties share the gradient evenly."""
    return _reduce(MAX, x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; ties share the gradient evenly."""
    return _reduce(MIN, x, axis, keepdims)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``."""
    return _reduce(PROD, x, axis, keepdims)


def count(x, axis=None, dtype="float32"):
    """Run-time number of elements of ``x`` over ``axis`` as a scalar of ``dtype``."""
    (x,) = lift_operands(x)
    axes = normalize_axes(axis, x.ndim, "count")
    return apply(COUNT, (x,), axes=axes, dtype=np.dtype(dtype))


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (sum divided by the run-time element count)."""
    from .elementwise import astype, divide
    (x,) = lift_operands(x)
    dt = _dt.float_result(x.dtype)
    return divide(sum(astype(x, dt), axis=axis, keepdims=keepdims), count(x, axis=axis, dtype=dt))


_batch.bind(sum=sum)

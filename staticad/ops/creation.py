"""Tensor creation: filled tensors of a static shape or of another tensor's run-time shape."""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, _check_shape_spec, apply, constant
from . import _batch
from . import symbolic as _sym
from ._util import lift_operands
from ..registry import defop

FULL = defop(
    "full", lambda shape, value, dtype: (shape, np.dtype(dtype)),
    lambda shape, value, dtype: np.full(shape, value, dtype=dtype),
    vjp=lambda g, out: [], jvp=lambda ts, out: None, nondifferentiable=True,
    expr="{value}", loop=True, cheap=True, symshape=_sym.static_shape,
    doc="tensor of a static shape filled with a scalar")


def _batch_full_like(node, vals, flags, size):
    (x,) = vals  # the same fill for every batch element: unbatched
    if _batch.static(node.shape):
        return apply(FULL, (), shape=tuple(node.shape), value=node.attrs["value"], dtype=node.attrs["dtype"]), False
    return apply(node.op, (_batch.element0(x),), **node.attrs), False


FULL_LIKE = defop(
    "full_like", lambda x, value, dtype: (x.shape, np.dtype(dtype)),
    lambda x, value, dtype: np.full(x.shape, value, dtype=dtype),
    vjp=lambda g, out, x: [None], jvp=lambda ts, out, x: None, nondifferentiable=True,
    expr="{value}", loop=True, cheap=True, shape_only_inputs=(0,), symshape=_sym.broadcast_inputs,
    batch=_batch_full_like,
    doc="tensor of x's run-time shape filled with a scalar (x's values are not read)")


def full(shape, fill_value, dtype=None):
    """Tensor of static ``shape`` filled with ``fill_value``."""
    shape = _check_shape_spec(shape)
    if any(d is None for d in shape):
        raise ValueError(f"full: shape {shape!r} must be fully known; use full_like for run-time shapes")
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.default_dtype_for_python(fill_value)
    return apply(FULL, (), shape=shape, value=dt.type(fill_value).item(), dtype=dt)


def zeros(shape, dtype="float32"):
    return full(shape, 0, dtype)


def ones(shape, dtype="float32"):
    return full(shape, 1, dtype)


def full_like(x, fill_value, dtype=None):
    """Tensor of ``x``'s (run-time) shape filled with ``fill_value``."""
    (x,) = lift_operands(x)
    dt = _dt.as_dtype(dtype) if dtype is not None else x.dtype
    return apply(FULL_LIKE, (x,), value=dt.type(fill_value).item(), dtype=dt)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Like ``numpy.arange``; a constant (bounds are static)."""
    for v in (start, stop, step):
        if isinstance(v, Tensor):
            raise TypeError("arange: bounds must be Python numbers (the graph is static)")
    if stop is None:
        start, stop = 0, start
    values = np.arange(start, stop, step)
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.default_dtype_for_python(values.flat[0] if values.size else start)
    if dtype is None and values.dtype.kind == "f":
        dt = _dt.DEFAULT_FLOAT
    return constant(values.astype(dt))


def linspace(start, stop, num=50, endpoint=True, dtype="float32"):
    """Like ``numpy.linspace`` (computed in float64, then cast); a constant."""
    for v in (start, stop):
        if isinstance(v, Tensor):
            raise TypeError("linspace: bounds must be Python numbers (the graph is static)")
    return constant(np.linspace(start, stop, num, endpoint=endpoint).astype(_dt.as_dtype(dtype)))


_batch.bind(zeros=zeros)

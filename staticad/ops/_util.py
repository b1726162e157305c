"""Helpers shared by the op definitions: operand lifting, shape and axis inference."""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, _format_shape, broadcast_shapes, constant


_EAGER_SCALARS: dict = {}  # (type, value, other operands' dtype) -> constant, for eager ops only


def _lift_scalar(v, strong, eager: bool) -> Tensor:
    """A Python scalar beside tensors of dtype ``strong`` (None: no tensor) as a weakly typed constant.

    Eager code lifts the same few scalars (1, 2, 0.5, ...) op after op: their constants are shared
    (immutable nodes) and the dtype rule runs once per (value, dtype). Graphs keep one node per
    use, as their node statistics count them."""
    if eager:
        key = (v.__class__, v, strong)
        c = _EAGER_SCALARS.get(key)
        if c is not None:
            return c
    dt = _dt.result_dtype(strong, v) if strong is not None else _dt.default_dtype_for_python(v)
    c = constant(v, dtype=dt)
    if eager:
        if len(_EAGER_SCALARS) > 1024:
            _EAGER_SCALARS.clear()
        _EAGER_SCALARS[key] = c
    return c


def lift_operands(*values) -> list[Tensor]:
    """Make every operand a tensor; Python scalars are weak (take the tensors' dtype, NEP 50)."""
    tensors, eager = [], False
    for v in values:  # a loop, not a comprehension: this runs for every op
        if isinstance(v, Tensor):
            tensors.append(v)
            eager = eager or v._eager
    if len(tensors) == len(values):
        return tensors
    if len(tensors) == 1:
        strong = tensors[0].dtype
    else:
        strong = np.result_type(*[t.dtype for t in tensors]) if tensors else None
    out = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v)
        elif v.__class__ in (float, int) or (_dt.is_python_scalar(v) and not isinstance(v, np.generic)):
            out.append(_lift_scalar(v, strong, eager))
        else:
            out.append(constant(v))
    return out


def elementwise_shape(op_name, *inputs: Tensor):
    return broadcast_shapes(*[t.shape for t in inputs], op_name=op_name)


def normalize_axes(axis, ndim: int, op_name: str) -> tuple:
    """Axis spec (None, int, tuple) -> sorted tuple of non-negative axes; errors name the rank."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op_name}: axis must be an int or tuple of ints, got {a!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{op_name}: axis {a} is out of bounds for a tensor of rank {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op_name}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def fmt(shape) -> str:
    return _format_shape(shape)


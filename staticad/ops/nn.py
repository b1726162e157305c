"""Numerically stable softmax family, written as compositions of primitive ops.

Their derivatives come from the primitives' rules; the max shift is wrapped in
``stop_gradient`` (the result does not depend on it), so ties in the max do not matter.
"""
from __future__ import annotations

from ._util import lift_operands, normalize_axes
from .elementwise import divide, exp, log, subtract, add
from .gradient import stop_gradient
from .reduce import max as _max, sum as _sum
from .shape import squeeze


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))`` without overflow."""
    (x,) = lift_operands(x)
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    m = stop_gradient(_max(x, axis=axes, keepdims=True))
    out = add(m, log(_sum(exp(subtract(x, m)), axis=axes, keepdims=True)))
    return out if keepdims else squeeze(out, axes)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)`` computed with the max subtracted."""
    (x,) = lift_operands(x)
    axes = normalize_axes(axis, x.ndim, "softmax")
    e = exp(subtract(x, stop_gradient(_max(x, axis=axes, keepdims=True))))
    return divide(e, _sum(e, axis=axes, keepdims=True))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis, keepdims=True)``."""
    (x,) = lift_operands(x)
    return subtract(x, logsumexp(x, axis=axis, keepdims=True))

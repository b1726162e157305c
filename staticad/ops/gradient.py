"""Ops that exist for differentiation itself."""
from __future__ import annotations

from ..graph import apply
from ._util import lift_operands
from ..registry import defop

STOP_GRADIENT = defop(
    "stop_gradient", lambda x: (x.shape, x.dtype), lambda x: x,
    vjp=lambda g, out, x: [None], jvp=lambda ts, out, x: None,
    expr="{0}", elementwise=True, nondifferentiable=True, cheap=True,
    doc="identity whose derivative is zero")


def stop_gradient(x):
    """Same value as ``x``; no gradient flows through it (alias ``detach``)."""
    (x,) = lift_operands(x)
    return apply(STOP_GRADIENT, (x,))


detach = stop_gradient

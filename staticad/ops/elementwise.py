"""Elementwise ops (numpy broadcasting). One ``defop`` per op: inference, NumPy, VJP, JVP, scalar template.

VJP rules may return cotangents of the broadcast output shape; the autodiff walker sums
them back to each input's shape. Tie conventions: ``maximum/minimum`` share the gradient
evenly on ties; ``abs'(0) = relu'(0) = sign' = 0``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, apply
from . import scalar as _scalar
from ._util import elementwise_shape, lift_operands
from ..registry import defop


def _infer_arith(name):
    def infer(*xs, **attrs):
        return elementwise_shape(name, *xs), np.result_type(*[x.dtype for x in xs])
    return infer


def _infer_float(name):
    def infer(*xs, **attrs):
        return elementwise_shape(name, *xs), _dt.float_result(np.result_type(*[x.dtype for x in xs]))
    return infer


def _infer_bool(name):
    def infer(*xs, **attrs):
        return elementwise_shape(name, *xs), np.dtype(bool)
    return infer


def _tadd(a, b):
    """Sum of two tangents where ``None`` means zero."""
    if a is None:
        return b
    if b is None:
        return a
    return add(a, b)


def _tneg(a):
    return None if a is None else negative(a)


# --- arithmetic ---------------------------------------------------------------------------
ADD = defop(
    "add", _infer_arith("add"), np.add,
    vjp=lambda g, out, a, b: [g, g],
    jvp=lambda ts, out, a, b: _tadd(ts[0], ts[1]),
    expr="({0} + {1})", elementwise=True, cheap=True, commutative=True)

SUBTRACT = defop(
    "subtract", _infer_arith("subtract"), np.subtract,
    vjp=lambda g, out, a, b: [g, negative(g)],
    jvp=lambda ts, out, a, b: _tadd(ts[0], _tneg(ts[1])),
    expr="({0} - {1})", elementwise=True, cheap=True)

MULTIPLY = defop(
    "multiply", _infer_arith("multiply"), np.multiply,
    vjp=lambda g, out, a, b: [multiply(g, b), multiply(g, a)],
    jvp=lambda ts, out, a, b: _tadd(None if ts[0] is None else multiply(ts[0], b),
                                    None if ts[1] is None else multiply(a, ts[1])),
    expr="({0} * {1})", elementwise=True, cheap=True, commutative=True)

DIVIDE = defop(
    "divide", _infer_float("divide"), np.true_divide,
    vjp=lambda g, out, a, b: [divide(g, b), negative(multiply(g, divide(out, b)))],
    jvp=lambda ts, out, a, b: _tadd(None if ts[0] is None else divide(ts[0], b),
                                    None if ts[1] is None else negative(multiply(ts[1], divide(out, b)))),
    expr="({0} / {1})", elementwise=True)

NEGATIVE = defop(
    "negative", _infer_arith("negative"), np.negative,
    vjp=lambda g, out, a: [negative(g)],
    jvp=lambda ts, out, a: negative(ts[0]),
    expr="(-{0})", elementwise=True, cheap=True)


def _pow_grad_base(a, b):
    # d(a**b)/da = b * a**(b-1); at 0**0 it is 0 (not 0 * 0**-1 = nan), so repeated derivatives of
    # polynomials x**n stay finite at x = 0 (the exponent reaches 0 after n derivatives).
    if b.op.name == "constant" and np.all(b.attrs["value"] != 0):
        return multiply(b, power(a, subtract(b, 1)))  # no 0**0 possible: keep the graph small
    zero_pow_zero = logical_and(equal(a, 0), equal(b, 0))
    return multiply(b, power(a, subtract(where(zero_pow_zero, ones_like(b), b), 1)))


def _pow_grad_exp(out, a):
    # d(a**b)/db = a**b * log(a); defined as 0 where a == 0 (0**b, b > 0). The log reads 1 there,
    # so that no inf/nan sits in the unselected branch (its derivative would be 0 * inf = nan).
    at_zero = equal(a, 0)
    safe_a = where(at_zero, ones_like(a), a)
    return where(at_zero, zeros_like(out), multiply(out, log(safe_a)))


def _np_power(a, b):
    # x ** 2 with a constant 2 (a 0-d array, as constants are): np.power with an array exponent
    # runs pow() per element, ~10x slower than the multiplication it equals (pow(x, 2) is exact)
    if b.ndim == 0 and b.dtype == a.dtype and a.dtype.kind == "f" and b == 2:
        return np.square(a)
    return np.power(a, b)


POWER = defop(
    "power", _infer_arith("power"), _np_power,
    vjp=lambda g, out, a, b: [multiply(g, _pow_grad_base(a, b)), multiply(g, _pow_grad_exp(out, a))],
    jvp=lambda ts, out, a, b: _tadd(None if ts[0] is None else multiply(ts[0], _pow_grad_base(a, b)),
                                    None if ts[1] is None else multiply(ts[1], _pow_grad_exp(out, a))),
    expr="({0} ** {1})", elementwise=True)

MAXIMUM = defop(
    "maximum", _infer_arith("maximum"), np.maximum,
    vjp=lambda g, out, a, b: [multiply(g, _tie_weight(a, b, greater)), multiply(g, _tie_weight(b, a, greater))],
    jvp=lambda ts, out, a, b: _tadd(None if ts[0] is None else multiply(ts[0], _tie_weight(a, b, greater)),
                                    None if ts[1] is None else multiply(ts[1], _tie_weight(b, a, greater))),
    scalar=_scalar.maximum, elementwise=True, cheap=True)

MINIMUM = defop(
    "minimum", _infer_arith("minimum"), np.minimum,
    vjp=lambda g, out, a, b: [multiply(g, _tie_weight(a, b, less)), multiply(g, _tie_weight(b, a, less))],
    jvp=lambda ts, out, a, b: _tadd(None if ts[0] is None else multiply(ts[0], _tie_weight(a, b, less)),
                                    None if ts[1] is None else multiply(ts[1], _tie_weight(b, a, less))),
    scalar=_scalar.minimum, elementwise=True, cheap=True)


def _tie_weight(x, other, wins):
    """1 where x strictly wins, 0.5 on ties, 0 where it loses (in x's float dtype)."""
    dt = _dt.float_result(np.result_type(x.dtype, other.dtype))
    return add(astype(wins(x, other), dt), multiply(astype(equal(x, other), dt), 0.5))


# --- unary math -----------------------------------------------------------------------------
def _unary(name, fn, expr, deriv, float_out=True, vector_math=False, **kw):
    """Unary op whose VJP and JVP are both ``t * deriv(out, x)``; ``expr`` a template or a scalar function.

    ``vector_math``: the CPU backend has a vectorizable implementation of it
    (``staticad.backends.numba_math``) to use instead of the libm call in ``expr``.
    """
    infer = _infer_float(name) if float_out else _infer_arith(name)
    code = {"scalar": expr} if callable(expr) else {"expr": expr}
    return defop(
        name, infer, fn,
        vjp=lambda g, out, x: [multiply(g, deriv(out, x))],
        jvp=lambda ts, out, x: multiply(ts[0], deriv(out, x)),
        elementwise=True, extra={"vector_math": name} if vector_math else {}, **code, **kw)


SQUARE = _unary("square", np.square, "({0} * {0})", lambda out, x: multiply(x, 2), float_out=False, cheap=True)
SQRT = _unary("sqrt", np.sqrt, "math.sqrt({0})", lambda out, x: divide(0.5, out))
EXP = _unary("exp", np.exp, "math.exp({0})", lambda out, x: out, vector_math=True)
LOG = _unary("log", np.log, "math.log({0})", lambda out, x: reciprocal(x), vector_math=True)
LOG1P = _unary("log1p", np.log1p, "math.log1p({0})", lambda out, x: reciprocal(add(x, 1)), vector_math=True)
SIN = _unary("sin", np.sin, "math.sin({0})", lambda out, x: cos(x), vector_math=True)
COS = _unary("cos", np.cos, "math.cos({0})", lambda out, x: negative(sin(x)), vector_math=True)
TAN = _unary("tan", np.tan, "math.tan({0})", lambda out, x: add(square(out), 1), vector_math=True)
TANH = _unary("tanh", np.tanh, "math.tanh({0})", lambda out, x: subtract(1, square(out)), vector_math=True)
SIGMOID = _unary(
    "sigmoid", lambda x: _np_sigmoid(x), _scalar.sigmoid, lambda out, x: multiply(out, subtract(1, out)), vector_math=True)
ABS = _unary("abs", np.abs, "abs({0})", lambda out, x: sign(x), float_out=False, cheap=True)
RELU = _unary(
    "relu", lambda x: np.maximum(x, np.zeros((), x.dtype)), _scalar.relu,
    lambda out, x: astype(greater(x, 0), x.dtype), float_out=False, cheap=True)


def _np_sigmoid(x):
    # exp of a non-positive argument only, so neither branch overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(_dt.float_result(x.dtype), copy=False)


def _softplus(x):
    # log(1 + e^x) as log1p(e^-|x|) + max(x, 0): exp of a non-positive argument only, so it
    # neither overflows for large x nor loses the tail for very negative x (math.fabs: this
    # module's ``abs`` is the op)
    return math.log1p(math.exp(-math.fabs(x))) + (x if x > 0 else 0.0)


def _np_softplus(x):
    x = x.astype(_dt.float_result(x.dtype), copy=False)
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


SOFTPLUS = _unary("softplus", _np_softplus, _softplus, lambda out, x: sigmoid(x))


SIGN = defop(
    "sign", _infer_arith("sign"), np.sign, vjp=lambda g, out, x: [None], jvp=lambda ts, out, x: None,
    scalar=_scalar.sign, elementwise=True, nondifferentiable=True, cheap=True)


def reciprocal(x):
    return divide(1, x)


# --- comparisons and logic (no derivative) --------------------------------------------------
def _cmp(name, fn, expr, commutative=False):
    return defop(name, _infer_bool(name), fn, vjp=lambda g, out, *xs: [None] * len(xs),
                 jvp=lambda ts, out, *xs: None, expr=expr, elementwise=True, nondifferentiable=True,
                 cheap=True, commutative=commutative)


LESS = _cmp("less", np.less, "({0} < {1})")
LESS_EQUAL = _cmp("less_equal", np.less_equal, "({0} <= {1})")
GREATER = _cmp("greater", np.greater, "({0} > {1})")
GREATER_EQUAL = _cmp("greater_equal", np.greater_equal, "({0} >= {1})")
EQUAL = _cmp("equal", np.equal, "({0} == {1})", commutative=True)
NOT_EQUAL = _cmp("not_equal", np.not_equal, "({0} != {1})", commutative=True)
LOGICAL_AND = _cmp("logical_and", np.logical_and, "({0} and {1})", commutative=True)
LOGICAL_OR = _cmp("logical_or", np.logical_or, "({0} or {1})", commutative=True)
LOGICAL_NOT = _cmp("logical_not", np.logical_not, "(not {0})")


# --- selection --------------------------------------------------------------------------------
def _infer_where(c, a, b):
    shape = elementwise_shape("where", c, a, b)
    return shape, np.result_type(a.dtype, b.dtype)


WHERE = defop(
    "where", _infer_where, lambda c, a, b: np.where(c, a, b),
    vjp=lambda g, out, c, a, b: [None, where(c, g, zeros_like(g)), where(c, zeros_like(g), g)],
    jvp=lambda ts, out, c, a, b: where(c, ts[1] if ts[1] is not None else zeros_like(out),
                                       ts[2] if ts[2] is not None else zeros_like(out)),
    scalar=_scalar.select, elementwise=True, cheap=True)


def _infer_clip(x, lo, hi):
    return elementwise_shape("clip", x, lo, hi), np.result_type(x.dtype, lo.dtype, hi.dtype)


def _clip_impl(x, lo, hi):
    return np.minimum(np.maximum(x, lo), hi)


def _inside(x, lo, hi):
    return logical_and(greater_equal(x, lo), less_equal(x, hi))


CLIP = defop(
    "clip", _infer_clip, _clip_impl,
    vjp=lambda g, out, x, lo, hi: [
        where(_inside(x, lo, hi), g, zeros_like(g)),
        where(less(x, lo), g, zeros_like(g)),
        where(logical_and(greater(x, hi), greater_equal(x, lo)), g, zeros_like(g))],
    jvp=lambda ts, out, x, lo, hi: _tadd(_tadd(
        None if ts[0] is None else where(_inside(x, lo, hi), ts[0], zeros_like(out)),
        None if ts[1] is None else where(less(x, lo), ts[1], zeros_like(out))),
        None if ts[2] is None else where(logical_and(greater(x, hi), greater_equal(x, lo)), ts[2], zeros_like(out))),
    scalar=_scalar.clip, elementwise=True)


# --- casting -----------------------------------------------------------------------------------
ASTYPE = defop(
    "astype", lambda x, dtype: (x.shape, np.dtype(dtype)), lambda x, dtype: x.astype(dtype),
    vjp=lambda g, out, x: [astype(g, x.dtype) if _dt.is_float(x.dtype) and _dt.is_float(out.dtype) else None],
    jvp=lambda ts, out, x: astype(ts[0], out.dtype) if _dt.is_float(out.dtype) else None,
    expr="{0}", elementwise=True, cheap=True)


# --- public functions ----------------------------------------------------------------------------
def _binary(op):
    def f(a, b):
        a, b = lift_operands(a, b)
        return apply(op, (a, b))
    f.__name__ = op.name
    f.__doc__ = f"Elementwise ``{op.name}`` with numpy broadcasting."
    return f


def _unary_fn(op):
    def f(x):
        (x,) = lift_operands(x)
        return apply(op, (x,))
    f.__name__ = op.name
    f.__doc__ = f"Elementwise ``{op.name}``."
    return f


add = _binary(ADD)
subtract = _binary(SUBTRACT)
multiply = _binary(MULTIPLY)
divide = _binary(DIVIDE)
power = _binary(POWER)
maximum = _binary(MAXIMUM)
minimum = _binary(MINIMUM)
less = _binary(LESS)
less_equal = _binary(LESS_EQUAL)
greater = _binary(GREATER)
greater_equal = _binary(GREATER_EQUAL)
equal = _binary(EQUAL)
not_equal = _binary(NOT_EQUAL)
logical_and = _binary(LOGICAL_AND)
logical_or = _binary(LOGICAL_OR)

negative = _unary_fn(NEGATIVE)
square = _unary_fn(SQUARE)
sqrt = _unary_fn(SQRT)
exp = _unary_fn(EXP)
log = _unary_fn(LOG)
log1p = _unary_fn(LOG1P)
sin = _unary_fn(SIN)
cos = _unary_fn(COS)
tan = _unary_fn(TAN)
tanh = _unary_fn(TANH)
sigmoid = _unary_fn(SIGMOID)
softplus = _unary_fn(SOFTPLUS)
relu = _unary_fn(RELU)
sign = _unary_fn(SIGN)
logical_not = _unary_fn(LOGICAL_NOT)


def abs(x):  # noqa: A001 - numpy name
    """Elementwise absolute value; ``abs'(0) = 0``."""
    (x,) = lift_operands(x)
    return apply(ABS, (x,))


def where(condition, x, y):
    """Elementwise select: ``x`` where ``condition`` else ``y`` (broadcasting)."""
    c, x, y = lift_operands(condition, x, y)
    if c.dtype != np.dtype(bool):
        c = not_equal(c, 0)
    return apply(WHERE, (c, x, y))


def clip(x, a_min, a_max):
    """Clamp ``x`` to ``[a_min, a_max]`` (bounds may be tensors, one may be None as in numpy); the
    gradient flows to the active operand."""
    if a_min is None and a_max is None:
        raise ValueError("clip: at least one of a_min and a_max must be given")
    if a_min is None:
        return minimum(x, a_max)
    if a_max is None:
        return maximum(x, a_min)
    x, lo, hi = lift_operands(x, a_min, a_max)
    return apply(CLIP, (x, lo, hi))


def astype(x, dtype):
    """Cast to ``dtype``; a no-op node is not created when the dtype already matches."""
    (x,) = lift_operands(x)
    dt = _dt.as_dtype(dtype)
    if dt == x.dtype:
        return x
    return apply(ASTYPE, (x,), dtype=dt)


def zeros_like(x):
    from .creation import zeros_like as _z
    return _z(x)


def ones_like(x):
    from .creation import ones_like as _o
    return _o(x)

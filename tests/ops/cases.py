"""The catalogue of op test cases: every public op and every registry op, on several shapes.

``DERIVATIVE_CASES``: differentiable float64 graphs checked against finite differences
(:func:`checks.check_derivatives`); inputs are kept away from kinks and domain edges.
``FORWARD_CASES``: graphs whose values are checked against plain NumPy.
Ids name the op, the shapes and the attributes, so a failure says what broke.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import staticad as sad
from staticad import ops
from staticad.graph import apply
from staticad.ops import shape as shape_ops

from .checks import rng_for

F64 = "float64"


@dataclass(frozen=True)
class DerivCase:
    op: str                     # the op under test (registry or public name)
    label: str                  # pytest id: op, shapes, attributes
    build: Callable             # (*tensors) -> tensor
    make: Callable              # rng -> list of float64 arrays
    registry_op: Optional[str] = None  # registry op that must occur in the built graph
    eps: float = 1e-6
    rtol: float = 1e-5
    atol: float = 1e-6
    order: int = 2


@dataclass(frozen=True)
class FwdCase:
    op: str
    label: str
    build: Callable
    ref: Callable
    make: Callable = field(default=lambda rng: [])
    rtol: float = 1e-12
    atol: float = 1e-12


DERIVATIVE_CASES: list[DerivCase] = []
FORWARD_CASES: list[FwdCase] = []


def _reg(op):
    return op if op in ops.REGISTRY else None


def add_case(op, label, build, make, ref=None, registry_op="auto", fwd_rtol=1e-12, **kw):
    """Register a derivative case (and a forward case when ``ref`` is given)."""
    label = f"{op}-{label}" if label else op
    reg = _reg(op) if registry_op == "auto" else registry_op
    DERIVATIVE_CASES.append(DerivCase(op, label, build, make, reg, **kw))
    if ref is not None:
        FORWARD_CASES.append(FwdCase(op, label, build, ref, make, rtol=fwd_rtol, atol=fwd_rtol))


def add_forward(op, label, build, ref, make=lambda rng: [], **kw):
    FORWARD_CASES.append(FwdCase(op, f"{op}-{label}" if label else op, build, ref, make, **kw))


# --- input distributions (float64, away from kinks and domain edges) -------------------------------
def uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, size=shape)


def nonzero(lo=0.3, hi=2.0):
    return lambda rng, shape: rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)


def grid(offset):
    """Values ``k + offset + noise``: two grids with offsets 0 and 0.5 never come within 0.1."""
    return lambda rng, shape: rng.integers(-3, 4, size=shape) + offset + rng.uniform(-0.2, 0.2, size=shape)


def distinct(rng, shape):
    """Pairwise distinct values (gaps >= 0.2): no ties in max/min."""
    n = int(np.prod(shape, dtype=int))
    return ((rng.permutation(n) - n / 2) * 0.37 + rng.uniform(0, 0.1, size=n)).reshape(shape)


def outside_bands(rng, shape):
    """Values in [-2, 2] away from +-0.5 (the clip bounds) by more than 0.1."""
    intervals = np.array([[-2.0, -0.6], [-0.4, 0.4], [0.6, 2.0]])
    k = rng.integers(0, 3, size=shape)
    lo, hi = intervals[k, 0], intervals[k, 1]
    return lo + (hi - lo) * rng.uniform(size=shape)


ANY = uniform(-2, 2)
POS = uniform(0.5, 2.0)


def inputs(*specs):
    """``make`` from (distribution, shape) pairs."""
    return lambda rng: [np.asarray(dist(rng, shape), dtype=np.float64) for dist, shape in specs]


def fmt_shapes(*shapes):
    return "+".join("(" + ",".join(map(str, s)) + ("," if len(s) == 1 else "") + ")" for s in shapes)


# --- elementwise binary, with broadcasting ----------------------------------------------------------
BROADCAST_PAIRS = [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3), (3,)), ((), (2, 3)), ((2, 3), ()),
                   ((1,), (3,)), ((2, 1, 3), (4, 1)), ((), ())]

BINARY = {
    "add": (sad.add, np.add, ANY, ANY),
    "subtract": (sad.subtract, np.subtract, ANY, ANY),
    "multiply": (sad.multiply, np.multiply, ANY, ANY),
    "divide": (sad.divide, np.divide, ANY, nonzero()),
    "power": (sad.power, np.power, POS, uniform(-2, 2)),
    "maximum": (sad.maximum, np.maximum, grid(0.0), grid(0.5)),
    "minimum": (sad.minimum, np.minimum, grid(0.0), grid(0.5)),
}

for _name, (_fn, _ref, _da, _db) in BINARY.items():
    for _sa, _sb in BROADCAST_PAIRS:
        add_case(_name, fmt_shapes(_sa, _sb), _fn, inputs((_da, _sa), (_db, _sb)), ref=_ref)

# operators and Python-scalar operands (weakly typed constants)
add_case("add", "x+2.5", lambda x: x + 2.5, inputs((ANY, (2, 3))), ref=lambda x: x + 2.5)
add_case("subtract", "2-x", lambda x: 2 - x, inputs((ANY, (3,))), ref=lambda x: 2 - x)
add_case("multiply", "x*x", lambda x: x * x, inputs((ANY, (2, 3))), ref=lambda x: x * x)
add_case("divide", "1/x", lambda x: 1 / x, inputs((nonzero(), (4,))), ref=lambda x: 1 / x)
add_case("divide", "x/x", lambda x: x / x, inputs((nonzero(), (4,))), ref=lambda x: x / x)
add_case("power", "x**3-negative-base", lambda x: x ** 3, inputs((ANY, (2, 3))), ref=lambda x: x ** 3)
add_case("power", "x**2.0", lambda x: x ** 2.0, inputs((ANY, (4,))), ref=lambda x: x ** 2.0)
add_case("power", "x**0.5", lambda x: x ** 0.5, inputs((POS, (4,))), ref=lambda x: x ** 0.5)
add_case("power", "2**x", lambda x: 2.0 ** x, inputs((ANY, (4,))), ref=lambda x: 2.0 ** x)
add_case("power", "x**x", lambda x: x ** x, inputs((POS, (4,))), ref=lambda x: x ** x)
add_case("negative", "-x-operator", lambda x: -x, inputs((ANY, (2, 3))), ref=lambda x: -x)
add_case("maximum", "x-vs-0.25", lambda x: sad.maximum(x, 0.25), inputs((grid(0.0), (2, 3))),
         ref=lambda x: np.maximum(x, 0.25))

# --- elementwise unary ----------------------------------------------------------------------------
UNARY_SHAPES = [(), (4,), (2, 3), (1, 3, 1)]
UNARY = {
    "negative": (sad.negative, np.negative, ANY),
    "square": (sad.square, np.square, ANY),
    "sqrt": (sad.sqrt, np.sqrt, POS),
    "exp": (sad.exp, np.exp, ANY),
    "log": (sad.log, np.log, POS),
    "log1p": (sad.log1p, np.log1p, uniform(-0.5, 2.0)),
    "sin": (sad.sin, np.sin, ANY),
    "cos": (sad.cos, np.cos, ANY),
    "tan": (sad.tan, np.tan, uniform(-1.2, 1.2)),
    "tanh": (sad.tanh, np.tanh, ANY),
    "sigmoid": (sad.sigmoid, lambda x: 1 / (1 + np.exp(-x)), uniform(-4, 4)),
    "softplus": (sad.softplus, lambda x: np.logaddexp(0, x), uniform(-4, 4)),
    "relu": (sad.relu, lambda x: np.maximum(x, 0), nonzero()),
    "abs": (sad.abs, np.abs, nonzero()),
    "sign": (sad.sign, np.sign, nonzero()),  # derivative 0 everywhere it is defined
}
for _name, (_fn, _ref, _dist) in UNARY.items():
    for _s in UNARY_SHAPES:
        add_case(_name, fmt_shapes(_s), _fn, inputs((_dist, _s)), ref=_ref, fwd_rtol=1e-14)

add_case("abs", "operator-abs(x)", lambda x: abs(x), inputs((nonzero(), (3,))), ref=np.abs)
add_case("sign", "sign(x)*x", lambda x: sad.sign(x) * x, inputs((nonzero(), (2, 3))), ref=lambda x: np.sign(x) * x)
add_case("softplus", "large-inputs", sad.softplus, inputs((uniform(-800, 800), (6,))),
         ref=lambda x: np.logaddexp(0, x), fwd_rtol=1e-13)
add_case("sigmoid", "large-inputs", sad.sigmoid, inputs((uniform(-30, 30), (6,))),
         ref=lambda x: 1 / (1 + np.exp(-x)), fwd_rtol=1e-13)

# --- where / clip ---------------------------------------------------------------------------------
for _sc, _sa, _sb in [((2, 3), (2, 3), (2, 3)), ((3, 1), (1, 4), ()), ((), (2,), (2,)), ((3,), (2, 1), (2, 3))]:
    _cond = rng_for(f"where-cond-{_sc}").random(_sc) > 0.5
    add_case("where", fmt_shapes(_sc, _sa, _sb),
             (lambda c: lambda a, b: sad.where(sad.constant(c), a, b))(_cond),
             inputs((ANY, _sa), (ANY, _sb)), ref=(lambda c: lambda a, b: np.where(c, a, b))(_cond))
add_case("where", "tensor-condition-x>0", lambda x: sad.where(x > 0, x, x * 0.1), inputs((nonzero(), (2, 3))),
         ref=lambda x: np.where(x > 0, x, x * 0.1))
add_case("where", "float-condition", lambda x: sad.where(sad.constant([0.0, 2.0, -1.0], F64), x, -x),
         inputs((ANY, (2, 3))), ref=lambda x: np.where([0.0, 2.0, -1.0], x, -x))

add_case("clip", "scalar-bounds-(2,3)", lambda x: sad.clip(x, -0.5, 0.5), inputs((outside_bands, (2, 3))),
         ref=lambda x: np.clip(x, -0.5, 0.5))
add_case("clip", "tensor-bounds-(2,3)+(3,)+()", sad.clip,
         inputs((outside_bands, (2, 3)), (uniform(-0.55, -0.45), (3,)), (uniform(0.45, 0.55), ())),
         ref=np.clip)
add_case("clip", "tensor-bounds-(4,)+(4,)+(4,)", sad.clip,
         inputs((outside_bands, (4,)), (uniform(-0.55, -0.45), (4,)), (uniform(0.45, 0.55), (4,))), ref=np.clip)

add_case("clip", "a_min=None", lambda x: sad.clip(x, None, 0.5), inputs((outside_bands, (2, 3))),
         ref=lambda x: np.clip(x, None, 0.5), registry_op="minimum")
add_case("clip", "a_max=None", lambda x: sad.clip(x, -0.5, None), inputs((outside_bands, (2, 3))),
         ref=lambda x: np.clip(x, -0.5, None), registry_op="maximum")

# --- casting --------------------------------------------------------------------------------------
add_case("astype", "float64->float32->float64", lambda x: sad.astype(sad.astype(x, "float32"), F64),
         inputs((ANY, (2, 3))), ref=lambda x: x.astype(np.float32).astype(np.float64),
         eps=1e-3, rtol=1e-3, atol=1e-3, fwd_rtol=0)
add_case("astype", "float64->int64 (no derivative)", lambda x: sad.astype(sad.astype(x * 3, "int64"), F64) + x,
         inputs((grid(0.5), (4,))), ref=lambda x: (x * 3).astype(np.int64).astype(np.float64) + x)
add_case("astype", "x.astype-method", lambda x: (x.astype("float32") * 2).astype(F64), inputs((ANY, (3,))),
         ref=lambda x: (x.astype(np.float32) * 2).astype(np.float64), eps=1e-3, rtol=1e-3, atol=1e-3, fwd_rtol=0)

# --- comparisons and logic: bool outputs, zero derivative ----------------------------------------------
COMPARISONS = {
    "less": (sad.less, np.less), "less_equal": (sad.less_equal, np.less_equal),
    "greater": (sad.greater, np.greater), "greater_equal": (sad.greater_equal, np.greater_equal),
    "equal": (sad.equal, np.equal), "not_equal": (sad.not_equal, np.not_equal),
}
for _name, (_fn, _ref) in COMPARISONS.items():
    for _sa, _sb in [((2, 3), (3,)), ((3, 1), (1, 4))]:
        add_case(_name, fmt_shapes(_sa, _sb), (lambda f: lambda a, b: sad.astype(f(a, b), F64) * a)(_fn),
                 inputs((grid(0.0), _sa), (grid(0.5), _sb)))
    add_forward(_name, "(2,3)+(3,)", _fn, _ref, inputs((grid(0.0), (2, 3)), (grid(0.0), (3,))))
    add_forward(_name, "scalar-1.0", (lambda f: lambda a: f(a, 1.0))(_fn), (lambda f: lambda a: f(a, 1.0))(_ref),
                make=lambda rng: [np.array([0.0, 1.0, 2.0])])
add_forward("less", "operator-<", lambda a, b: a < b, np.less, inputs((grid(0.0), (4,)), (grid(0.0), (4,))))
add_forward("less_equal", "operator-<=", lambda a, b: a <= b, np.less_equal,
            inputs((grid(0.0), (4,)), (grid(0.0), (4,))))
add_forward("greater", "operator->", lambda a, b: a > b, np.greater, inputs((grid(0.0), (4,)), (grid(0.0), (4,))))
add_forward("greater_equal", "operator->=", lambda a, b: a >= b, np.greater_equal,
            inputs((grid(0.0), (4,)), (grid(0.0), (4,))))

LOGIC = {
    "logical_and": (lambda a, b: sad.logical_and(a > 0, b > 0), lambda a, b: np.logical_and(a > 0, b > 0)),
    "logical_or": (lambda a, b: sad.logical_or(a > 0, b > 0), lambda a, b: np.logical_or(a > 0, b > 0)),
}
for _name, (_fn, _ref) in LOGIC.items():
    add_case(_name, "(2,3)+(3,)", (lambda f: lambda a, b: sad.astype(f(a, b), F64) * (a + b))(_fn),
             inputs((nonzero(), (2, 3)), (nonzero(), (3,))))
    add_forward(_name, "(2,3)+(3,)", _fn, _ref, inputs((nonzero(), (2, 3)), (nonzero(), (3,))))
add_case("logical_not", "(2,3)", lambda a: sad.astype(sad.logical_not(a > 0), F64) * a, inputs((nonzero(), (2, 3))))
add_forward("logical_not", "(2,3)", lambda a: sad.logical_not(a > 0), lambda a: np.logical_not(a > 0),
            inputs((nonzero(), (2, 3))))

# --- reductions -----------------------------------------------------------------------------------
REDUCE_CONFIGS = [((), None), ((4,), None), ((4,), 0), ((4,), -1), ((2, 3), None), ((2, 3), 0), ((2, 3), 1),
                  ((2, 3), -1), ((2, 3), (0, 1)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, 0)), ((2, 3, 4), 1),
                  ((1, 3), 0), ((3, 1), 1)]
REDUCTIONS = {
    "sum": (sad.sum, np.sum, ANY),
    "mean": (sad.mean, np.mean, ANY),
    "max": (sad.max, np.max, distinct),
    "min": (sad.min, np.min, distinct),
    "prod": (sad.prod, np.prod, nonzero(0.6, 1.4)),
    "logsumexp": (sad.logsumexp, None, ANY),
}


def _np_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


for _name, (_fn, _ref, _dist) in REDUCTIONS.items():
    _ref = _ref or _np_logsumexp
    for _s, _axis in REDUCE_CONFIGS:
        for _keep in (False, True):
            add_case(_name, f"{fmt_shapes(_s)}-axis={_axis}-keepdims={_keep}",
                     (lambda f, a, k: lambda x: f(x, axis=a, keepdims=k))(_fn, _axis, _keep),
                     inputs((_dist, _s)), ref=(lambda f, a, k: lambda x: f(x, axis=a, keepdims=k))(_ref, _axis, _keep),
                     registry_op=_reg(_name) if _name != "logsumexp" else "log", fwd_rtol=1e-13)

for _m in ("sum", "mean", "max", "min", "prod"):
    add_case(_m, "method-x.m(axis=1)", (lambda m: lambda x: getattr(x, m)(axis=1))(_m), inputs((distinct, (2, 3))),
             ref=(lambda m: lambda x: getattr(np, m)(x, axis=1))(_m))

# --- matmul / dot / norm --------------------------------------------------------------------------
MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((1, 3), (3, 1)),
                 ((2, 2, 3), (2, 3, 4)), ((2, 2, 3), (3, 4)), ((3, 4), (2, 4, 2)), ((1, 2, 3), (2, 3, 2)),
                 ((3,), (2, 3, 4)), ((2, 2, 3), (3,)), ((2, 1, 2, 3), (3, 3, 2))]
for _sa, _sb in MATMUL_SHAPES:
    add_case("matmul", fmt_shapes(_sa, _sb), sad.matmul, inputs((ANY, _sa), (ANY, _sb)), ref=np.matmul,
             fwd_rtol=1e-13)
add_case("matmul", "operator-@", lambda a, b: a @ b, inputs((ANY, (2, 3)), (ANY, (3, 2))), ref=np.matmul,
         fwd_rtol=1e-13)
add_case("matmul", "x@x", lambda a: a @ a, inputs((ANY, (3, 3))), ref=lambda a: a @ a, fwd_rtol=1e-13)

# made by the pass fuse_gemm_updates only; built directly here to check its rules
for _alpha in (-0.25, 1.0):
    add_case("gemm_update", f"(2,4)+({_alpha})*(2,3)@(3,4)",
             (lambda al: lambda c, a, b: apply(ops.REGISTRY["gemm_update"], (c, a, b), alpha=al))(_alpha),
             inputs((ANY, (2, 4)), (ANY, (2, 3)), (ANY, (3, 4))),
             ref=(lambda al: lambda c, a, b: c + al * (a @ b))(_alpha), fwd_rtol=1e-13)

for _sa, _sb in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2)), ((), (2, 3)), ((2,), ())]:
    add_case("dot", fmt_shapes(_sa, _sb), sad.dot, inputs((ANY, _sa), (ANY, _sb)), ref=np.dot,
             registry_op="matmul" if _sa and _sb else "multiply", fwd_rtol=1e-13)

for _s in [(), (4,), (2, 3), (2, 1, 2)]:
    add_case("norm", fmt_shapes(_s), sad.norm, inputs((nonzero(), _s)), ref=lambda x: np.asarray(np.linalg.norm(x)),
             fwd_rtol=1e-13)
add_case("norm", "method-x.norm()", lambda x: x.norm(), inputs((ANY, (3,))), ref=lambda x: np.asarray(np.linalg.norm(x)),
         fwd_rtol=1e-13)

# --- softmax family -------------------------------------------------------------------------------


def _np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


for _s, _axis in [((4,), -1), ((2, 3), -1), ((2, 3), 0), ((2, 3, 2), 1), ((2, 3), (0, 1)), ((1, 3), -1)]:
    add_case("softmax", f"{fmt_shapes(_s)}-axis={_axis}", (lambda a: lambda x: sad.softmax(x, axis=a))(_axis),
             inputs((ANY, _s)), ref=(lambda a: lambda x: _np_softmax(x, a))(_axis), registry_op="exp", fwd_rtol=1e-13)
    add_case("log_softmax", f"{fmt_shapes(_s)}-axis={_axis}", (lambda a: lambda x: sad.log_softmax(x, axis=a))(_axis),
             inputs((ANY, _s)), ref=(lambda a: lambda x: np.log(_np_softmax(x, a)))(_axis), registry_op="log",
             fwd_rtol=1e-13)
add_case("softmax", "ties-in-max", sad.softmax, lambda rng: [np.array([1.0, 3.0, 3.0, 0.5])], ref=_np_softmax,
         registry_op="exp", fwd_rtol=1e-13)
add_forward("softmax", "large-inputs-stable", sad.softmax, _np_softmax,
            make=lambda rng: [np.array([1000.0, 1001.0, 999.0])])
add_forward("logsumexp", "large-inputs-stable", sad.logsumexp, lambda x: 1001 + np.log(np.sum(np.exp(x - 1001))),
            make=lambda rng: [np.array([1000.0, 1001.0, 999.0])], rtol=1e-13)

# --- shape ops ------------------------------------------------------------------------------------
for _s, _new in [((2, 3), (3, 2)), ((2, 3), (6,)), ((2, 3), (-1,)), ((2, 3, 4), (4, -1)), ((), (1, 1)),
                 ((6,), (2, 1, 3))]:
    add_case("reshape", f"{fmt_shapes(_s)}->{_new}", (lambda n: lambda x: sad.reshape(x, n))(_new),
             inputs((ANY, _s)), ref=(lambda n: lambda x: np.reshape(x, n))(_new))
add_case("reshape", "method-x.reshape(3,2)", lambda x: x.reshape(3, 2), inputs((ANY, (6,))),
         ref=lambda x: x.reshape(3, 2))

for _s, _axes in [((2, 3), None), ((2, 3, 4), (1, 2, 0)), ((2, 3, 4), None), ((2, 3, 4), (0, 2, 1)),
                  ((2, 3, 4), (-1, 0, 1))]:
    add_case("transpose", f"{fmt_shapes(_s)}-axes={_axes}", (lambda a: lambda x: sad.transpose(x, a))(_axes),
             inputs((ANY, _s)), ref=(lambda a: lambda x: np.transpose(x, a))(_axes))
add_case("transpose", "x.T", lambda x: x.T, inputs((ANY, (2, 3))), ref=lambda x: x.T)
add_case("transpose", "swapaxes-(2,3,4)-0-2", lambda x: ops.swapaxes(x, 0, 2), inputs((ANY, (2, 3, 4))),
         ref=lambda x: np.swapaxes(x, 0, 2))

for _s, _to in [((3,), (2, 3)), ((3, 1), (3, 4)), ((), (2, 2)), ((1, 3), (2, 4, 3)), ((2, 1, 1), (2, 3, 4))]:
    add_case("broadcast_to", f"{fmt_shapes(_s)}->{_to}", (lambda t: lambda x: sad.broadcast_to(x, t))(_to),
             inputs((ANY, _s)), ref=(lambda t: lambda x: np.broadcast_to(x, t))(_to))

for _s, _axis in [((2, 3), 0), ((2, 3), 1), ((2, 3), -1), ((2, 3), (0, 2)), ((2, 3), (0, -1)), ((), 0)]:
    add_case("expand_dims", f"{fmt_shapes(_s)}-axis={_axis}", (lambda a: lambda x: sad.expand_dims(x, a))(_axis),
             inputs((ANY, _s)), ref=(lambda a: lambda x: np.expand_dims(x, a))(_axis))

for _s, _axis in [((1, 3, 1), None), ((1, 3, 1), 0), ((1, 3, 1), -1), ((1, 3, 1), (0, 2)), ((1,), None)]:
    add_case("squeeze", f"{fmt_shapes(_s)}-axis={_axis}", (lambda a: lambda x: sad.squeeze(x, a))(_axis),
             inputs((ANY, _s)), ref=(lambda a: lambda x: np.squeeze(x, a))(_axis))

for _shapes, _axis in [([(2, 3), (2, 1)], 1), ([(2, 3), (1, 3), (3, 3)], 0), ([(2, 3, 1), (2, 3, 2)], -1),
                       ([(3,), (2,)], 0)]:
    add_case("concatenate", f"{fmt_shapes(*_shapes)}-axis={_axis}",
             (lambda a: lambda *xs: sad.concatenate(list(xs), axis=a))(_axis),
             inputs(*[(ANY, s) for s in _shapes]), ref=(lambda a: lambda *xs: np.concatenate(xs, axis=a))(_axis))
add_case("concatenate", "same-tensor-twice", lambda x: sad.concatenate([x, x * 2], axis=0), inputs((ANY, (2,))),
         ref=lambda x: np.concatenate([x, x * 2]))

for _shapes, _axis in [([(3,), (3,)], 0), ([(2, 3)] * 3, 1), ([(2, 3)] * 2, -1), ([(), ()], 0), ([(2,)], 0)]:
    add_case("stack", f"{fmt_shapes(*_shapes)}-axis={_axis}",
             (lambda a: lambda *xs: sad.stack(list(xs), axis=a))(_axis),
             inputs(*[(ANY, s) for s in _shapes]), ref=(lambda a: lambda *xs: np.stack(xs, axis=a))(_axis),
             registry_op="expand_dims")

_S = slice
GETITEM_CASES = [
    ((5,), 1, "[1]"), ((5,), -1, "[-1]"), ((5,), _S(1, 4), "[1:4]"), ((5,), _S(None, None, 2), "[::2]"),
    ((5,), _S(None, None, -1), "[::-1]"), ((5,), (None, _S(2, None)), "[None,2:]"),
    ((3, 4), 1, "[1]"), ((3, 4), (_S(None), _S(1, 3)), "[:,1:3]"), ((3, 4), (1, 2), "[1,2]"),
    ((3, 4), (Ellipsis, 0), "[...,0]"), ((3, 4), (None, _S(None), -1), "[None,:,-1]"),
    ((3, 4), (_S(None, None, -1), _S(None, None, 2)), "[::-1,::2]"), ((2, 3, 4), (1, Ellipsis, _S(1, None)), "[1,...,1:]"),
    ((2, 3, 4), (_S(None), None, 1), "[:,None,1]"), ((), (), "[()]"), ((3,), _S(5, 7), "[5:7]-empty"),
]
for _s, _idx, _txt in GETITEM_CASES:
    add_case("getitem", f"{fmt_shapes(_s)}{_txt}", (lambda i: lambda x: x[i])(_idx), inputs((ANY, _s)),
             ref=(lambda i: lambda x: np.asarray(x[i]))(_idx))
add_case("getitem", "sad.getitem(x,(0,1))", lambda x: sad.getitem(x, (0, 1)), inputs((ANY, (2, 3))),
         ref=lambda x: np.asarray(x[0, 1]))
add_case("getitem", "overlapping-slices-summed", lambda x: x[1:] * x[:-1], inputs((ANY, (5,))),
         ref=lambda x: x[1:] * x[:-1])

# --- creation ops (constants; the derivative flows through what uses them) -----------------------------
add_case("zeros", "(2,3)+x", lambda x: sad.zeros((2, 3), F64) + x * 2, inputs((ANY, (2, 3))),
         ref=lambda x: np.zeros((2, 3)) + x * 2, registry_op="full")
add_case("ones", "(2,3)*x", lambda x: sad.ones((2, 3), F64) * sad.sin(x), inputs((ANY, (3,))),
         ref=lambda x: np.ones((2, 3)) * np.sin(x), registry_op="full")
add_case("full", "(2,3)-2.5*x", lambda x: sad.full((2, 3), 2.5, F64) * x, inputs((ANY, (2, 3))),
         ref=lambda x: np.full((2, 3), 2.5) * x)
add_case("zeros_like", "x", lambda x: sad.zeros_like(x) + x * 3, inputs((ANY, (2, 3))), ref=lambda x: x * 3,
         registry_op="full_like")
add_case("ones_like", "x", lambda x: sad.ones_like(x) * sad.exp(x), inputs((ANY, (3,))), ref=np.exp,
         registry_op="full_like")
add_case("full_like", "x", lambda x: sad.full_like(x, 2.5) * sad.sin(x), inputs((ANY, (2, 3))),
         ref=lambda x: 2.5 * np.sin(x))
add_case("full_like", "alone", lambda x: sad.full_like(x, -1.5), inputs((ANY, (2, 2))),
         ref=lambda x: np.full((2, 2), -1.5))
add_case("arange", "(6,)*x", lambda x: sad.arange(6, dtype=F64) * x, inputs((ANY, (6,))),
         ref=lambda x: np.arange(6.0) * x, registry_op=None)
add_case("linspace", "(5,)*x", lambda x: sad.linspace(0, 1, 5, dtype=F64) * sad.cos(x), inputs((ANY, (5,))),
         ref=lambda x: np.linspace(0, 1, 5) * np.cos(x), registry_op=None)
add_case("count", "axis=1", lambda x: ops.count(x, axis=1, dtype=F64) * x, inputs((ANY, (2, 3))),
         ref=lambda x: 3.0 * x)
add_case("count", "axis=None", lambda x: ops.count(x, dtype=F64) + x, inputs((ANY, (2, 3))), ref=lambda x: 6.0 + x)

add_forward("zeros", "default-float32", lambda: sad.zeros((2, 3)), lambda: np.zeros((2, 3), np.float32))
add_forward("ones", "int64", lambda: sad.ones((3,), "int64"), lambda: np.ones(3, np.int64))
add_forward("full", "float-fill", lambda: sad.full((2, 2), 1.5), lambda: np.full((2, 2), 1.5, np.float32))
add_forward("full", "int-fill", lambda: sad.full((2,), 7), lambda: np.full((2,), 7, np.int64))
add_forward("full", "bool-fill", lambda: sad.full((2,), True), lambda: np.full((2,), True))
add_forward("zeros_like", "int64-like", lambda x: sad.zeros_like(sad.astype(x, "int64")),
            lambda x: np.zeros(x.shape, np.int64), make=lambda rng: [np.ones((2, 3))])
add_forward("ones_like", "dtype=float32", lambda x: sad.ones_like(x, dtype="float32"),
            lambda x: np.ones(x.shape, np.float32), make=lambda rng: [np.ones((2, 3))])
add_forward("arange", "arange(5)", lambda: sad.arange(5), lambda: np.arange(5))
add_forward("arange", "arange(1,7,2)", lambda: sad.arange(1, 7, 2), lambda: np.arange(1, 7, 2))
add_forward("arange", "arange(0.,1.,.25)", lambda: sad.arange(0.0, 1.0, 0.25),
            lambda: np.arange(0.0, 1.0, 0.25).astype(np.float32))
add_forward("linspace", "linspace(0,1,5)", lambda: sad.linspace(0, 1, 5), lambda: np.linspace(0, 1, 5).astype(np.float32))
add_forward("linspace", "endpoint=False", lambda: sad.linspace(-1, 1, 4, endpoint=False, dtype=F64),
            lambda: np.linspace(-1, 1, 4, endpoint=False))
add_forward("constant", "list", lambda: sad.constant([[1, 2], [3, 4]]), lambda: np.array([[1, 2], [3, 4]]))
add_forward("astype", "float64->int32", lambda x: sad.astype(x, "int32"), lambda x: x.astype(np.int32),
            make=lambda rng: [np.array([-1.7, 0.2, 2.9])])
add_forward("astype", "bool->float32", lambda x: sad.astype(x > 0, "float32"), lambda x: (x > 0).astype(np.float32),
            make=lambda rng: [np.array([-1.0, 0.0, 2.0])])
add_forward("sign", "with-zero", sad.sign, np.sign, make=lambda rng: [np.array([-2.0, 0.0, 3.0])])
add_forward("relu", "with-zero", sad.relu, lambda x: np.maximum(x, 0), make=lambda rng: [np.array([-2.0, 0.0, 3.0])])
add_forward("mean", "int-input", lambda x: sad.mean(sad.astype(x, "int64")), lambda x: np.mean(x.astype(np.int64)),
            make=lambda rng: [np.array([1.0, 2.0, 4.0])])
add_forward("sum", "int-input-int64", lambda x: sad.sum(sad.astype(x, "int32")),
            lambda x: np.sum(x.astype(np.int32)).astype(np.int64), make=lambda rng: [np.array([1.0, 2.0, 4.0])])


# --- internal ops used by derivative rules (applied directly) -------------------------------------------
def _index(shape, index):
    """The ``index`` attribute a getitem node gets for ``x[index]``."""
    return sad.placeholder(shape, F64)[index].attrs["index"]


for _sg, _sr in [((2, 3, 4), (3, 1)), ((2, 3), (3,)), ((2, 3), ()), ((4, 3), (1, 3)), ((2, 3), (2, 3))]:
    add_case("sum_to_like", fmt_shapes(_sg, _sr), lambda g, r: apply(shape_ops.SUM_TO_LIKE, (g, r)),
             inputs((ANY, _sg), (ANY, _sr)),
             ref=(lambda sr: lambda g, r: shape_ops._np_sum_to(g, sr))(_sr))
for _sx, _sr in [((3, 1), (2, 3, 4)), ((), (2, 3)), ((1, 3), (4, 1)), ((2, 3), (2, 3))]:
    add_case("broadcast_like", fmt_shapes(_sx, _sr), lambda x, r: apply(shape_ops.BROADCAST_LIKE, (x, r)),
             inputs((ANY, _sx), (ANY, _sr)), ref=lambda x, r: np.broadcast_to(x, np.broadcast_shapes(x.shape, r.shape)))
for _sx, _sr in [((2, 6), (3, 4)), ((6,), (2, 3)), ((), (1, 1))]:
    add_case("reshape_like", fmt_shapes(_sx, _sr), lambda x, r: apply(shape_ops.RESHAPE_LIKE, (x, r)),
             inputs((ANY, _sx), (ANY, _sr)), ref=lambda x, r: np.reshape(x, r.shape))
for _sref, _idx, _txt in [((5,), _S(1, 4), "[1:4]"), ((3, 4), (_S(None, None, 2), _S(1, 3)), "[::2,1:3]"),
                          ((3, 4), 1, "[1]"), ((4,), None, "[None]"), ((3, 4), (_S(None, None, -1), 2), "[::-1,2]")]:
    _key = _index(_sref, _idx)
    _sg = np.zeros(_sref)[_idx].shape

    def _ref_gg(g, r, i=_idx):
        z = np.zeros(r.shape)
        z[i] = g
        return z
    add_case("getitem_grad", f"{fmt_shapes(_sg)}-into-{fmt_shapes(_sref)}{_txt}",
             (lambda k: lambda g, r: apply(shape_ops.GETITEM_GRAD, (g, r), index=k))(_key),
             inputs((ANY, _sg), (ANY, _sref)), ref=_ref_gg)
for _sg, _srefs, _axis, _i in [((2, 5), [(2, 3), (2, 2)], 1, 0), ((2, 5), [(2, 3), (2, 2)], 1, 1),
                               ((6,), [(2,), (3,), (1,)], 0, 2), ((4, 2), [(1, 2), (3, 2)], 0, 1)]:
    def _ref_cp(g, *refs, a=_axis, i=_i):
        start = int(np.sum([r.shape[a] for r in refs[:i]]))
        return np.take(g, np.arange(start, start + refs[i].shape[a]), axis=a)
    add_case("concat_part", f"{fmt_shapes(_sg)}-split-{fmt_shapes(*_srefs)}-axis={_axis}-part={_i}",
             (lambda a, i: lambda g, *refs: apply(shape_ops.CONCAT_PART, (g, *refs), axis=a, index=i))(_axis, _i),
             inputs((ANY, _sg), *[(ANY, s) for s in _srefs]), ref=_ref_cp)

# --- control flow (staticad.control): loops and branches, and the stack ops of their backward pass ---
from staticad.control.ops import stack_read, stack_scatter  # noqa: E402

_K1, _K2 = (lambda: sad.constant(1, dtype="int64")), (lambda: sad.constant(2, dtype="int64"))
add_case("stack_read", "(4,3)-row2", lambda s: stack_read(s, _K2()), inputs((ANY, (4, 3))), ref=lambda s: s[2])
add_case("stack_read", "(5,)-row1", lambda s: stack_read(s, _K1()) * s.sum(), inputs((ANY, (5,))),
         ref=lambda s: s[1] * s.sum())
add_case("stack_scatter", "(3,)-into-(4,3)-row1", lambda g, r: stack_scatter(g, _K1(), r) * r,
         inputs((ANY, (3,)), (ANY, (4, 3))),
         ref=lambda g, r: np.concatenate([np.zeros((1, 3)), g[None], np.zeros((2, 3))]) * r)
add_case("while_loop", "fori-3-(3,)", lambda x: sad.fori_loop(0, 3, lambda i, y: sad.sin(y) * x + y, x),
         inputs((ANY, (3,))), registry_op="while_loop")
add_case("while_loop", "data-dependent-(2,)",
         lambda x: sad.while_loop(lambda y: (y * y).sum() < 20.0, lambda y: y * 1.5 + sad.sin(y), x + 3.0),
         inputs((ANY, (2,))), registry_op="while_loop")
add_case("tuple_get", "two-loop-vars", lambda x: sad.fori_loop(0, 2, lambda i, y, z: (y * z, z + sad.cos(y)),
                                                               (x, x * x))[0],
         inputs((ANY, (3,))), registry_op="tuple_get")
add_case("cond", "sin-or-square", lambda x: sad.cond(x.sum() > 0, lambda x: sad.sin(x) * 2.0, lambda x: x * x, x),
         inputs((ANY, (3,))), registry_op="cond")
add_case("cond", "captures-(2,)+(2,)", lambda x, w: sad.cond(w.sum() > 0, lambda: x * w, lambda: sad.exp(x) - w),
         inputs((ANY, (2,)), (ANY, (2,))), registry_op="cond")

# Ops whose derivative is checked by a dedicated test instead of finite differences (the finite
# difference of stop_gradient is the identity, its defined derivative is 0): op -> test name.
DEDICATED_DERIVATIVE_TESTS = {
    "stop_gradient": "tests/test_autodiff.py::test_stop_gradient_has_value_but_no_derivative",
}

SOURCE_OPS = {"placeholder", "constant", "variable"}

# Every name of API.md section 1 (the op list).
API_OPS = """add subtract multiply divide negative power square sqrt exp log log1p sin cos tan tanh sigmoid softplus relu abs
sign maximum minimum where clip sum mean max min prod matmul dot transpose reshape broadcast_to expand_dims squeeze
concatenate stack getitem norm softmax log_softmax logsumexp astype less less_equal greater greater_equal equal
not_equal logical_and logical_or logical_not zeros ones zeros_like ones_like full arange linspace""".split()

"""``simplify``: algebraic identities that remove work without changing results.

Each rule looks at one node whose inputs are already simplified and returns a cheaper
tensor with the same value, static shape and dtype (or ``None``). Run-time shapes are
compared with the symbolic shapes of :mod:`.symshape`: two tensors whose symbolic shapes
are equal have equal shapes at every call, whatever the ``None`` dims turn out to be.

Rules (``x`` any tensor, ``c`` a constant or fill whose elements all equal one value):

* ``x*1``, ``1*x``, ``x+0``, ``0+x``, ``x-0``, ``x/1``, ``x**1`` -> ``x``; ``x*(-1)``, ``x/(-1)`` -> ``-x``;
  ``x**0`` -> ones; ``-(-x)`` -> ``x`` -- only when broadcasting ``c`` cannot change ``x``'s shape
  and the result dtype is ``x``'s. ``x+0`` -> ``x`` keeps ``x = -0.0`` as ``-0.0`` where IEEE
  gives ``+0.0``: the only difference (the two compare equal; only the sign bit differs).
* ``x*0`` -> zeros for integer and bool ``x`` only. For floats it stays: IEEE gives NaN for
  ``x = inf/NaN`` and ``-0.0`` for negative ``x``, and a placeholder may hold any of those.
* A fill (``full_like``, a broadcast of a uniform constant, ``full``) feeding an elementwise
  op next to an operand that already has the fill's run-time shape -> a 0-d constant.
* ``astype`` to the same dtype, or a widening round trip (``f32 -> f64 -> f32``) -> ``x``.
* ``sum_to_like(g, ref)`` / ``reshape_like(x, ref)`` when ``g``/``x`` provably has ``ref``'s
  run-time shape, ``broadcast_like(x, ref)`` / ``broadcast_to`` when broadcasting cannot grow
  ``x``, ``x[:, :]``, transpose of a transpose, ``squeeze(expand_dims(x))`` -> the operand.
* ``where(c, x, x)``, or of two branches of one uniform value -> the (first) branch.
* ``stop_gradient(x)`` -> ``x``: derivative graphs are built before compilation, so at run
  time it is the identity (an optimized program is for running, not for differentiating).
* 2-D ``matmul`` with inner dim 1 -> ``a * b`` (bit for bit); with a ``(1, 1)`` result ->
  ``sum(a.T * b, axis=0, keepdims=True)`` (summation order, hence rounding, differs from BLAS).
* ``sum(fill of value v, all axes)`` (and ``sum_to_like`` of it down to one element) ->
  ``v * count(ref)``, for ``v`` known at compile time and finite (``inf * 0`` is NaN where
  the sum of an empty tensor is 0). For floats this rounds once instead of summing ``n``
  copies (equal up to float rounding), and an empty sum of a negative ``v`` gives ``-0.0``.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..graph import CONSTANT, Tensor, apply, constant
from ..ops import creation as _cr, elementwise as _ew, gradient as _gr, linalg as _la, reduce as _rd, shape as _sh
from ..program import Program
from .rewrite import rewrite
from .symshape import broadcast_sym, symbolic_shapes

MAX_SWEEPS = 4
MAX_RULES_PER_NODE = 16


class RuntimeShapes:
    """Symbolic run-time shapes of a program's nodes and of their replacements.

    A replacement has its original's run-time shape (every rule guarantees it), so it
    inherits the original's symbolic shape; any other tensor gets its static shape with
    fresh symbols for ``None`` dims (equal to nothing else: always safe).
    """

    def __init__(self, program: Program):
        self.sym = symbolic_shapes(program.nodes)

    def of(self, t: Tensor) -> tuple:
        s = self.sym.get(t)
        if s is None:
            s = self.sym[t] = tuple(d if d is not None else ("fresh", t.id, i) for i, d in enumerate(t.shape))
        return s

    def record(self, new: Tensor, like: Tensor) -> None:
        self.sym.setdefault(new, self.of(like))

    def same(self, a: Tensor, b: Tensor) -> bool:
        """``a`` and ``b`` have equal shapes at run time."""
        return self.of(a) == self.of(b)

    def absorbs(self, a: Tensor, b: Tensor) -> bool:
        """Broadcasting ``b`` against ``a`` gives ``a``'s run-time shape."""
        sa, sb = self.of(a), self.of(b)
        return len(sb) <= len(sa) and broadcast_sym(sa, sb) == sa


# --- what a tensor is made of ----------------------------------------------------------------
# ops whose every element is an element of input 0 (so a uniform input gives a uniform result)
_UNIFORM_THROUGH = frozenset({_sh.BROADCAST_LIKE, _sh.BROADCAST_TO, _sh.EXPAND_DIMS, _sh.SQUEEZE, _sh.RESHAPE,
                              _sh.RESHAPE_LIKE, _sh.TRANSPOSE, _gr.STOP_GRADIENT})
_FILLS = frozenset({_cr.FULL, _cr.FULL_LIKE})


def uniform_value(t: Tensor):
    """The one value every element of ``t`` has (a 0-d array of ``t.dtype``), or ``None``."""
    casts = []
    while t.op in _UNIFORM_THROUGH or t.op is _ew.ASTYPE:
        if t.op is _ew.ASTYPE:
            casts.append(t.dtype)
        t = t.inputs[0]
    if t.op is CONSTANT:
        flat = np.ascontiguousarray(t.attrs["value"]).reshape(-1)
        if flat.size == 0:
            return None
        raw = flat.view(np.uint8).reshape(flat.size, flat.itemsize)
        if not (raw == raw[0]).all():  # bytewise: -0.0 differs from 0.0, NaN equals itself
            return None
        value = flat[0]
    elif t.op in _FILLS:
        value = np.array(t.attrs["value"], dtype=t.dtype)
    else:
        return None
    value = np.asarray(value).astype(t.dtype)
    for dtype in reversed(casts):  # each cast acts elementwise, so on the one value too
        value = value.astype(dtype)
    return value


def _fill_ref(t: Tensor, shapes: RuntimeShapes) -> Tensor:
    """A tensor with ``t``'s run-time shape that ``t`` (a fill) only reads the shape of."""
    if t.op is _cr.FULL_LIKE:
        return t.inputs[0]
    if t.op is _sh.BROADCAST_LIKE and shapes.same(t, t.inputs[1]):
        return t.inputs[1]
    return t


def _exact_round_trip(src: np.dtype, mid: np.dtype) -> bool:
    """Casting ``src -> mid -> src`` returns every value unchanged."""
    if src.kind == "b":
        return True
    if src.kind == "f":
        return mid.kind == "f" and mid.itemsize >= src.itemsize
    if src.kind in "iu":
        if mid.kind in "iu":
            return np.can_cast(src, mid, "safe")
        if mid.kind == "f":
            bits = np.iinfo(src).bits - (src.kind == "i")
            return np.finfo(mid).nmant + 1 >= bits
    return False


# --- rules ------------------------------------------------------------------------------------
def fills_to_scalars(node, shapes):
    """A uniform operand of an elementwise op -> a 0-d constant, when another operand keeps the shape."""
    if not node.op.elementwise or len(node.inputs) < 2:
        return None
    inputs = list(node.inputs)
    changed = False
    for k, u in enumerate(inputs):
        if u.ndim == 0 and u.op is CONSTANT:
            continue
        if u.dtype != node.dtype and not (node.op is _ew.WHERE and k == 0):
            continue  # the scalar must not change the dtype the op computes in
        value = uniform_value(u)
        if value is None or not any(shapes.absorbs(j, u) for m, j in enumerate(inputs) if m != k):
            continue
        inputs[k] = constant(value, dtype=u.dtype)
        changed = True
    if not changed:
        return None
    new = apply(node.op, inputs, **node.attrs)
    return new if (new.shape, new.dtype) == (node.shape, node.dtype) else None


def arithmetic_identity(node, shapes):
    """``x*1, x+0, x-0, x/1, x**1 -> x``; ``x*-1, x/-1 -> -x``; ``x**0 -> 1``; ``x**2 -> x*x``; integer ``x*0 -> 0``."""
    op = node.op
    if op not in (_ew.ADD, _ew.SUBTRACT, _ew.MULTIPLY, _ew.DIVIDE, _ew.POWER):
        return None
    a, b = node.inputs
    for x, c, c_right in ((a, b, True), (b, a, False)):
        if x.dtype != node.dtype or not shapes.absorbs(x, c):
            continue
        v = uniform_value(c)
        if v is None:
            continue
        if (op is _ew.ADD and v == 0) or (op is _ew.MULTIPLY and v == 1):
            return x
        if op is _ew.MULTIPLY and v == -1:
            return ops.negative(x)
        if op is _ew.MULTIPLY and v == 0 and x.dtype.kind in "biu":
            return ops.full_like(x, 0, dtype=node.dtype)
        if c_right:
            if (op is _ew.SUBTRACT and v == 0) or (op in (_ew.DIVIDE, _ew.POWER) and v == 1):
                return x
            if op is _ew.DIVIDE and v == -1:
                return ops.negative(x)
            if op is _ew.POWER and v == 0:
                return ops.full_like(x, 1, dtype=node.dtype)
            if op is _ew.POWER and v == 2:
                return ops.square(x)  # one multiply instead of a pow call (exact in IEEE)
    return None


def double_negation(node, shapes):
    """``-(-x) -> x``."""
    if node.op is _ew.NEGATIVE and node.inputs[0].op is _ew.NEGATIVE:
        return node.inputs[0].inputs[0]
    return None


def redundant_cast(node, shapes):
    """``astype`` to ``x``'s own dtype, or back from an exact widening, -> ``x``."""
    if node.op is not _ew.ASTYPE:
        return None
    x = node.inputs[0]
    if x.dtype == node.dtype:
        return x
    if x.op is _ew.ASTYPE and x.inputs[0].dtype == node.dtype and _exact_round_trip(node.dtype, x.dtype):
        return x.inputs[0]
    return None


def redundant_shape_op(node, shapes):
    """Shape ops (and ``stop_gradient``) that provably return their operand unchanged -> the operand."""
    op = node.op
    x = node.inputs[0] if node.inputs else None
    if op in (_sh.SUM_TO_LIKE, _sh.RESHAPE_LIKE) and shapes.same(x, node.inputs[1]):
        return x
    if op is _sh.BROADCAST_LIKE and shapes.absorbs(x, node.inputs[1]):
        return x
    if op is _sh.BROADCAST_TO and shapes.of(x) == tuple(node.attrs["shape"]):
        return x
    if op is _gr.STOP_GRADIENT:
        return x
    if op is _sh.GETITEM and len(node.attrs["index"]) == x.ndim and all(
            k == ("slice", None, None, None) for k in node.attrs["index"]):
        return x
    if op is _sh.TRANSPOSE and x.op is _sh.TRANSPOSE:
        inner, p, q = x.inputs[0], x.attrs["axes"], node.attrs["axes"]
        axes = tuple(p[i] for i in q)
        return inner if axes == tuple(range(len(axes))) else apply(node.op, (inner,), axes=axes)
    if op is _sh.SQUEEZE and x.op is _sh.EXPAND_DIMS and x.attrs["axes"] == node.attrs["axes"]:
        return x.inputs[0]
    return None


def sum_of_fill(node, shapes):
    """``sum`` over all axes (or ``sum_to_like`` down to one element) of a finite fill."""
    b = node.inputs[0] if node.inputs else None
    if node.op is _rd.SUM:
        if tuple(node.attrs["axes"]) != tuple(range(b.ndim)):
            return None
    elif node.op is not _sh.SUM_TO_LIKE or node.static_size != 1 or node.ndim > b.ndim:
        return None
    if b.ndim == 0 or b.dtype != node.dtype:
        return None
    value = uniform_value(b)
    if value is None or (value.dtype.kind == "f" and not np.isfinite(value)):
        return None  # inf * 0 is NaN where the sum of no elements is 0
    total = ops.multiply(constant(value, dtype=b.dtype), ops.count(_fill_ref(b, shapes), dtype=node.dtype))
    return total if node.shape == () else ops.reshape(total, node.shape)


def degenerate_matmul(node, shapes):
    """2-D ``a @ b`` that is not a matrix product: an outer product (inner dim 1) -> ``a * b``
    (the same single product per element); an inner product (result ``(1, 1)``) ->
    ``sum(a.T * b, axis=0, keepdims=True)``. Both then fuse with their neighbours instead of
    calling BLAS on a degenerate shape (linear regression with one feature: a 1e6 x 1 by 1 x 1
    product, and a 1 x 1e6 by 1e6 x 1 one in its gradient)."""
    if node.op is not _la.MATMUL:
        return None
    a, b = node.inputs
    if a.ndim != 2 or b.ndim != 2 or a.dtype != node.dtype or b.dtype != node.dtype:
        return None
    if a.shape[1] == 1 and b.shape[0] == 1:
        return ops.multiply(a, b)
    if a.shape[0] == 1 and b.shape[1] == 1:
        return ops.sum(ops.multiply(ops.transpose(a), b), axis=0, keepdims=True)
    return None


def same_branches(node, shapes):
    """``where(c, x, x)`` -> ``x``, and ``where(c, u, v)`` of two fills or constants of one
    value (bit for bit) -> ``u`` (or that value in ``c``'s shape when ``c`` is the larger):
    whatever ``c`` holds, every element is the branch's."""
    if node.op is not _ew.WHERE:
        return None
    c, a, b = node.inputs
    value = None
    if a is not b:
        value, vb = uniform_value(a), uniform_value(b)
        if value is None or vb is None or value.dtype != vb.dtype or value.tobytes() != vb.tobytes():
            return None
    if a.dtype != node.dtype:
        return None
    if shapes.absorbs(a, c) and shapes.absorbs(a, b):
        return a
    if value is not None and shapes.absorbs(c, a) and shapes.absorbs(c, b):
        return ops.full_like(c, value.item(), dtype=node.dtype)  # the value, in the condition's shape
    return None


RULES = (fills_to_scalars, arithmetic_identity, double_negation, redundant_cast, redundant_shape_op,
         sum_of_fill, degenerate_matmul, same_branches)


def simplify(program: Program) -> Program:
    """Apply the identities of this module until none fires (at most ``MAX_SWEEPS`` sweeps).

    Guarantees: every output and update value keeps its static shape, dtype and run-time
    shape, and its value bit for bit, except for the documented float cases (``x+0`` keeps
    a ``-0.0``; ``sum`` of a fill becomes one multiply: rounding, and the sign of an empty
    sum). No rule assumes a placeholder, Variable or computed value is finite. Placeholders
    and Variables are kept.
    """
    for _ in range(MAX_SWEEPS):
        shapes = RuntimeShapes(program)
        fired = [0]

        def replace(node, original):
            shapes.record(node, original)
            current = node
            for _ in range(MAX_RULES_PER_NODE):
                for rule in RULES:
                    new = rule(current, shapes)
                    if new is not None and new is not current and \
                            new.shape == original.shape and new.dtype == original.dtype:
                        break
                else:
                    break
                shapes.record(new, original)
                fired[0] += 1
                current = new
            return current

        program = rewrite(program, replace, "simplify")
        if not fired[0]:
            break
    return program

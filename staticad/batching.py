"""The batching transform (like JAX's ``vmap``), on graphs: one graph for a whole batch of values.

:func:`batch` takes a graph (its ``outputs``) and a few of its nodes to replace by *batched*
values, tensors with an extra leading axis of size ``size``: element ``b`` of the batch is what
the node would be for the ``b``-th value. Every node that depends on a replaced node is rebuilt
by its op's *batching rule*, which receives the node and its inputs' new values (each batched or
not) and returns the batched (or, when every element of the batch is equal, unbatched) value.
Nodes that depend on no replaced node are kept as they are. The size of the result does not grow
with ``size``: that is what lets :func:`staticad.jacobian` and :func:`staticad.hessian` build one
batched JVP/VJP graph whose input tangents/cotangents are the rows of an identity matrix instead
of one graph per Jacobian row or column.

Invariant: a batched value of node ``t`` has rank ``1 + t.ndim`` and run-time shape
``(size,) + t's run-time shape``, and ``t``'s dtype. An unbatched value has ``t``'s shape and dtype.

Rules (``B`` the batch size; "aligned" = size-1 axes inserted right after the batch axis so
numpy broadcasting never lines the batch axis up with an operand's axis):

* elementwise ops (every op flagged ``elementwise``: arithmetic, math, comparisons, ``where``,
  ``clip``, ``astype``, ``stop_gradient``): batched operands aligned to ``1 + out.ndim``.
* ``sum max min prod``: axes shifted by 1 (the batch axis is never reduced); ``count``: the
  same count (unbatched); ``norm``: per batch element, ``sqrt`` of a sum of squares with
  ``norm``'s gradient convention at 0 kept.
* ``matmul``: operands promoted to matrices and aligned so the batch axis is a leading batch
  dim of numpy's batched matmul (one matmul for 1-D, 2-D and batched operands).
* ``reshape``: ``(B,) + shape``; ``transpose expand_dims squeeze``: axes shifted;
  ``broadcast_to``: aligned, to ``(B,) + shape``; ``getitem``: a full slice prefixed;
  ``concatenate``: unbatched operands broadcast over the batch, axis + 1.
* ``*_like`` ops (``sum_to_like broadcast_like reshape_like getitem_grad concat_part
  full_like``): the reference tensor only gives a run-time shape. A batched reference with
  unbatched data is replaced by its element 0 (the result is unbatched); batched data with an
  unbatched reference gets the reference broadcast over the batch (or static ``sum``/``reshape``
  /``getitem`` when the shapes are known).
* ``full_like`` of a batched tensor: the same fill, unbatched.

Control flow (``while_loop``, ``cond``, ``tuple_get``, ``stack_read``): see
:mod:`staticad.control.batching`; a multi-output node's batched value is a list of values
with a list of flags. An op without a rule raises :class:`NotBatchable`; :func:`staticad.jacobian` then falls back to
building the Jacobian column by column.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import ops
from .graph import Tensor, _format_shape, apply, walk
from .ops import creation as _creation
from .ops import linalg as _linalg
from .ops import reduce as _reduce
from .ops import shape as _shape

_FULL_SLICE = ("slice", None, None, None)


class NotBatchable(Exception):
    """Raised when the graph to batch holds an op that has no batching rule."""

    def __init__(self, op_name: str):
        super().__init__(f"op {op_name!r} has no batching rule")
        self.op_name = op_name


# rule(node, values, batched, size) -> (value, is_batched); values/batched are per input of node
RULES: dict[str, Callable] = {}


def rule(*names):
    def register(fn):
        for n in names:
            RULES[n] = fn
        return fn
    return register


def rule_for(op) -> Callable | None:
    """The batching rule of ``op`` (``None`` when it has none)."""
    fn = RULES.get(op.name)
    if fn is None and op.elementwise:
        return _elementwise
    return fn


# --- the transform --------------------------------------------------------------------------------
def batch(outputs, batched_values: dict, size: int) -> list:
    """Batch the graph of ``outputs``: ``batched_values`` maps nodes to their batched values.

    Returns ``[(value, is_batched)]`` for each output. Raises :class:`NotBatchable` when a node
    that depends on a batched value has an op without a rule (before building anything that
    would be left in the graph: the check runs over the whole graph first).
    """
    outputs = list(outputs)
    size = int(size)
    for node, value in batched_values.items():
        _check(node, value, True, size, "batched value")
    order = walk(outputs)
    depends: set = set()
    for node in order:
        if node in batched_values or any(i in depends for i in node.inputs):
            depends.add(node)
            if node not in batched_values and rule_for(node.op) is None:
                raise NotBatchable(node.op.name)
    memo: dict = {}
    for node in order:
        if node in batched_values:
            memo[node] = (batched_values[node], True)
            continue
        if node not in depends:
            memo[node] = (node, False)
            continue
        vals = [memo[i][0] for i in node.inputs]
        flags = [memo[i][1] for i in node.inputs]
        if not any(flags):  # inputs changed (a rule unbatched them) but carry no batch axis
            out = (apply(node.op, vals, **node.attrs), False)
        else:
            out = rule_for(node.op)(node, vals, flags, size)
        if node.op.extra.get("multi_output"):  # control flow: a list of values and a list of flags
            memo[node] = out
            continue
        _check(node, out[0], out[1], size, f"batching rule of {node.op.name!r}")
        memo[node] = out
    return [memo[o] for o in outputs]


def _check(node: Tensor, value: Tensor, is_batched: bool, size: int, what: str) -> None:
    want = ((size,) if is_batched else ()) + tuple(node.shape)
    ok = value.ndim == len(want) and all(a is None or b is None or a == b for a, b in zip(value.shape, want))
    if not ok or value.dtype != node.dtype:
        raise RuntimeError(f"{what} for {node.name!r} gave shape {_format_shape(value.shape)} {value.dtype}; "
                           f"expected {_format_shape(want)} {node.dtype}")


# --- helpers --------------------------------------------------------------------------------------
def _align(v: Tensor, rank: int) -> Tensor:
    """Batched ``v`` with size-1 axes inserted after the batch axis up to rank ``1 + rank``."""
    k = rank + 1 - v.ndim
    if k <= 0:
        return v
    return ops.expand_dims(v, tuple(range(1, 1 + k)))


def _element0(v: Tensor) -> Tensor:
    """Element 0 of a batched value: an unbatched tensor of the same run-time shape (for refs)."""
    return ops.getitem(v, 0)


def _static(shape) -> bool:
    return all(d is not None for d in shape)


def _over_batch(x: Tensor, size: int) -> Tensor:
    """Unbatched ``x`` broadcast over the batch: shape ``(size,) + x.shape``."""
    e = ops.expand_dims(x, 0)
    if _static(x.shape):
        return ops.broadcast_to(e, (size,) + tuple(x.shape))
    return ops.broadcast_like(e, ops.zeros((size,) + (1,) * x.ndim, x.dtype))


def _batched_ref(ref: Tensor, size: int) -> Tensor:
    """A tensor of run-time shape ``(size,) + ref's`` for ops that read only a reference's shape:
    a static ``zeros`` when the shape is known (nothing of ``ref`` is computed for it)."""
    if _static(ref.shape):
        return ops.zeros((size,) + tuple(ref.shape), ref.dtype)
    return _over_batch(ref, size)


def _shift(axes) -> tuple:
    return tuple(int(a) + 1 for a in axes)


# --- elementwise ------------------------------------------------------------------------------
def _elementwise(node, vals, flags, size):
    args = [_align(v, node.ndim) if b else v for v, b in zip(vals, flags)]
    return apply(node.op, args, **node.attrs), True


# --- reductions -------------------------------------------------------------------------------------
@rule("sum", "max", "min", "prod")
def _reduction(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), axes=_shift(node.attrs["axes"]), keepdims=node.attrs["keepdims"]), True


@rule("count")
def _count(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), axes=_shift(node.attrs["axes"]), dtype=node.attrs["dtype"]), False


@rule("norm")
def _norm(node, vals, flags, size):
    (x,) = vals
    xf = ops.astype(x, node.dtype)
    sq = ops.square(xf)
    s = ops.sum(sq, axis=tuple(range(1, x.ndim))) if x.ndim > 1 else sq
    positive = ops.greater(s, 0)
    # 0 at x = 0 with gradient 0 there (norm's convention), not sqrt'(0) * 0 = nan
    return ops.where(positive, ops.sqrt(ops.where(positive, s, ops.ones_like(s))), ops.zeros_like(s)), True


# --- matmul -------------------------------------------------------------------------------------------
@rule("matmul")
def _matmul(node, vals, flags, size):
    (a, b), (ba, bb) = vals, flags
    ra, rb = node.inputs[0].ndim, node.inputs[1].ndim
    # common cheap forms: a batch of vectors times one vector/matrix, and the mirror image
    if ba and not bb and ra == 1 and rb <= 2:
        return ops.matmul(a, b), True                       # (B,k) @ (k,) | (k,m)
    if bb and not ba and rb == 1 and ra <= 2:
        return ops.matmul(b, a if ra == 1 else ops.swapaxes(a, -1, -2)), True  # (B,k) @ (k,) | (k,n)
    # general: promote 1-D operands to matrices, align the batch axis in front of numpy's batch dims
    A = ops.expand_dims(a, a.ndim - 1) if ra == 1 else a   # (..., 1, k)
    Bm = ops.expand_dims(b, b.ndim) if rb == 1 else b      # (..., k, 1)
    ra2, rb2 = max(ra, 2), max(rb, 2)
    nb = max(ra2, rb2) - 2
    if ba:
        A = _align(A, nb + 2)
    if bb:
        Bm = _align(Bm, nb + 2)
    out = ops.matmul(A, Bm)                                # (B, *batch, rows, cols)
    if ra == 1:
        out = ops.squeeze(out, out.ndim - 2)
    if rb == 1:
        out = ops.squeeze(out, out.ndim - 1)
    return out, True


# --- shape ops ------------------------------------------------------------------------------------
@rule("reshape")
def _reshape(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), shape=(size,) + tuple(node.attrs["shape"])), True


@rule("transpose")
def _transpose(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), axes=(0,) + _shift(node.attrs["axes"])), True


@rule("expand_dims", "squeeze")
def _axes_op(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), axes=_shift(node.attrs["axes"])), True


@rule("broadcast_to")
def _broadcast_to(node, vals, flags, size):
    (x,) = vals
    shape = tuple(node.attrs["shape"])
    return apply(node.op, (_align(x, len(shape)),), shape=(size,) + shape), True


@rule("getitem")
def _getitem(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), index=(_FULL_SLICE,) + tuple(node.attrs["index"])), True


@rule("concatenate")
def _concatenate(node, vals, flags, size):
    args = [v if b else _over_batch(v, size) for v, b in zip(vals, flags)]
    return apply(node.op, args, axis=node.attrs["axis"] + 1), True


@rule("concat_part")
def _concat_part(node, vals, flags, size):
    g, refs = vals[0], vals[1:]
    axis, index = node.attrs["axis"], node.attrs["index"]
    if not flags[0]:
        refs = [_element0(r) if b else r for r, b in zip(refs, flags[1:])]
        return apply(node.op, (g, *refs), axis=axis, index=index), False
    dims = [r.shape[axis] for r in node.inputs[1:index + 2]]
    if None not in dims:
        start = sum(dims[:-1])
        key = ((_FULL_SLICE,) * (axis + 1) + (("slice", start, start + dims[-1], None),)
               + (_FULL_SLICE,) * (node.ndim - axis - 1))
        return apply(_shape.GETITEM, (g,), index=key), True
    refs = [r if b else _batched_ref(r, size) for r, b in zip(refs, flags[1:])]
    return apply(node.op, (g, *refs), axis=axis + 1, index=index), True


@rule("getitem_grad")
def _getitem_grad(node, vals, flags, size):
    (g, ref), (bg, bref) = vals, flags
    index = tuple(node.attrs["index"])
    if not bg:
        return apply(node.op, (g, _element0(ref)), index=index), False
    slot_rank = len(_shape._infer_getitem(node.inputs[1], index)[0])
    ref_b = ref if bref else _batched_ref(ref, size)
    return apply(node.op, (_align(g, slot_rank), ref_b), index=(_FULL_SLICE,) + index), True


@rule("sum_to_like")
def _sum_to_like(node, vals, flags, size):
    (g, ref), (bg, bref) = vals, flags
    if not bg:
        return apply(node.op, (g, _element0(ref)), **node.attrs), False
    gs, rs = tuple(node.inputs[0].shape), tuple(node.inputs[1].shape)
    if len(gs) < len(rs):
        g, gs = _align(g, len(rs)), (1,) * (len(rs) - len(gs)) + gs
    lead = len(gs) - len(rs)
    if not bref and _static(gs) and _static(rs):
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(rs) if d == 1 and gs[lead + i] != 1)
        r = ops.sum(g, axis=_shift(axes), keepdims=True) if axes else g
        r = ops.reshape(r, (size,) + tuple(1 if d == 1 else gs[lead + i] for i, d in enumerate(rs)))
        return ops.broadcast_to(r, (size,) + rs), True
    if lead:
        g = ops.sum(g, axis=tuple(range(1, 1 + lead)))
    ref_b = ref if bref else _batched_ref(ref, size)
    return apply(node.op, (g, ref_b)), True


@rule("broadcast_like")
def _broadcast_like(node, vals, flags, size):
    (x, ref), (bx, bref) = vals, flags
    if not bx:
        return apply(node.op, (x, _element0(ref))), False
    rank = max(node.inputs[0].ndim, node.inputs[1].ndim)
    return apply(node.op, (_align(x, rank), _align(ref, rank) if bref else ref)), True


@rule("reshape_like")
def _reshape_like(node, vals, flags, size):
    (x, ref), (bx, bref) = vals, flags
    if not bx:
        return apply(node.op, (x, _element0(ref))), False
    if not bref:
        if _static(ref.shape):
            return ops.reshape(x, (size,) + tuple(ref.shape)), True
        ref = _batched_ref(ref, size)
    return apply(node.op, (x, ref)), True


@rule("full_like")
def _full_like(node, vals, flags, size):
    (x,) = vals
    if _static(node.shape):
        return apply(_creation.FULL, (), shape=tuple(node.shape), value=node.attrs["value"],
                     dtype=node.attrs["dtype"]), False
    return apply(node.op, (_element0(x),), **node.attrs), False


# keep the imported op modules referenced (their ops are the ones the rules above rebuild)
_ = (_linalg, _reduce)

"""Shape ops: reshape, transpose, broadcasting, indexing, concatenation.

The ``*_like`` ops take a reference tensor whose *run-time* shape they use, so gradients
stay correct when a ``None`` dim turns out to be 1 (broadcast) at call time.
"""
from __future__ import annotations

import numpy as np

from ..graph import Tensor, _check_shape_spec, apply, broadcast_shapes
from . import _batch
from . import symbolic as _sym
from ._batch import FULL_SLICE, align, batched_ref, element0, shift
from ._util import fmt, lift_operands, normalize_axes
from ..registry import Reduction, defop


# --- run-time-shaped helpers used by derivative rules -----------------------------------------
def _np_sum_to(g, shape):
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    if lead < 0:
        return np.broadcast_to(g, shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    r = np.sum(g, axis=axes, keepdims=True) if axes else g
    r = r.reshape(r.shape[lead:])
    return np.broadcast_to(r, shape) if r.shape != tuple(shape) else r


# --- batching rules (Op.batch): a reference input only gives a run-time shape. A batched reference
# with unbatched data is replaced by its element 0 (the result is unbatched); batched data with an
# unbatched reference gets the reference broadcast over the batch (or static ops when shapes are known).
def _batch_sum_to_like(node, vals, flags, size):
    _sum = _batch._F["sum"]  # ops.reduce registers it (it imports this module)
    (g, ref), (bg, bref) = vals, flags
    if not bg:
        return apply(node.op, (g, element0(ref)), **node.attrs), False
    gs, rs = tuple(node.inputs[0].shape), tuple(node.inputs[1].shape)
    if len(gs) < len(rs):
        g, gs = align(g, len(rs)), (1,) * (len(rs) - len(gs)) + gs
    lead = len(gs) - len(rs)
    if not bref and _batch.static(gs) and _batch.static(rs):
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(rs) if d == 1 and gs[lead + i] != 1)
        r = _sum(g, axis=shift(axes), keepdims=True) if axes else g
        r = reshape(r, (size,) + tuple(1 if d == 1 else gs[lead + i] for i, d in enumerate(rs)))
        return broadcast_to(r, (size,) + rs), True
    if lead:
        g = _sum(g, axis=tuple(range(1, 1 + lead)))
    ref_b = ref if bref else batched_ref(ref, size)
    return apply(node.op, (g, ref_b)), True


def _batch_broadcast_like(node, vals, flags, size):
    (x, ref), (bx, bref) = vals, flags
    if not bx:
        return apply(node.op, (x, element0(ref))), False
    rank = max(node.inputs[0].ndim, node.inputs[1].ndim)
    return apply(node.op, (align(x, rank), align(ref, rank) if bref else ref)), True


def _batch_reshape_like(node, vals, flags, size):
    (x, ref), (bx, bref) = vals, flags
    if not bx:
        return apply(node.op, (x, element0(ref))), False
    if not bref:
        if _batch.static(ref.shape):
            return reshape(x, (size,) + tuple(ref.shape)), True
        ref = batched_ref(ref, size)
    return apply(node.op, (x, ref)), True


def _batch_axes(node, vals, flags, size):
    (x,) = vals  # expand_dims, squeeze: axes shifted
    return apply(node.op, (x,), axes=shift(node.attrs["axes"])), True


def _batch_transpose(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), axes=(0,) + shift(node.attrs["axes"])), True


def _batch_reshape(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), shape=(size,) + tuple(node.attrs["shape"])), True


def _batch_broadcast_to(node, vals, flags, size):
    (x,) = vals
    shape = tuple(node.attrs["shape"])
    return apply(node.op, (align(x, len(shape)),), shape=(size,) + shape), True


def _batch_getitem(node, vals, flags, size):
    (x,) = vals
    return apply(node.op, (x,), index=(FULL_SLICE,) + tuple(node.attrs["index"])), True


def _batch_getitem_grad(node, vals, flags, size):
    (g, ref), (bg, bref) = vals, flags
    index = tuple(node.attrs["index"])
    if not bg:
        return apply(node.op, (g, element0(ref)), index=index), False
    slot_rank = len(_infer_getitem(node.inputs[1], index)[0])
    ref_b = ref if bref else batched_ref(ref, size)
    return apply(node.op, (align(g, slot_rank), ref_b), index=(FULL_SLICE,) + index), True


def _batch_concatenate(node, vals, flags, size):
    args = [v if b else _batch.over_batch(v, size) for v, b in zip(vals, flags)]
    return apply(node.op, args, axis=node.attrs["axis"] + 1), True


def _batch_concat_part(node, vals, flags, size):
    g, refs = vals[0], vals[1:]
    axis, index = node.attrs["axis"], node.attrs["index"]
    if not flags[0]:
        refs = [element0(r) if b else r for r, b in zip(refs, flags[1:])]
        return apply(node.op, (g, *refs), axis=axis, index=index), False
    dims = [r.shape[axis] for r in node.inputs[1:index + 2]]
    if None not in dims:
        start = sum(dims[:-1])
        key = ((FULL_SLICE,) * (axis + 1) + (("slice", start, start + dims[-1], None),)
               + (FULL_SLICE,) * (node.ndim - axis - 1))
        return apply(GETITEM, (g,), index=key), True
    refs = [r if b else batched_ref(r, size) for r, b in zip(refs, flags[1:])]
    return apply(node.op, (g, *refs), axis=axis + 1, index=index), True


SUM_TO_LIKE = defop(
    "sum_to_like", lambda g, ref: (ref.shape, g.dtype), lambda g, ref: _np_sum_to(g, ref.shape),
    vjp=lambda gg, out, g, ref: [broadcast_like(gg, g), None],
    jvp=lambda ts, out, g, ref: None if ts[0] is None else sum_to_like(ts[0], ref),
    reduction=Reduction("sum", over="like"), shape_only_inputs=(1,), symshape=_sym.shape_of_input(1),
    batch=_batch_sum_to_like,
    doc="sum g over broadcast dims down to ref's run-time shape (the gradient of broadcasting)")

BROADCAST_LIKE = defop(
    "broadcast_like",
    lambda x, ref: (broadcast_shapes(x.shape, ref.shape, op_name="broadcast_like"), x.dtype),
    lambda x, ref: np.broadcast_to(x, np.broadcast_shapes(x.shape, ref.shape)),
    vjp=lambda g, out, x, ref: [sum_to_like(g, x), None],
    jvp=lambda ts, out, x, ref: None if ts[0] is None else broadcast_like(ts[0], ref),
    expr="{0}", loop=True, cheap=True, shape_only_inputs=(1,), symshape=_sym.broadcast_inputs,
    batch=_batch_broadcast_like,
    doc="broadcast x against ref's run-time shape")

RESHAPE_LIKE = defop(
    "reshape_like", lambda x, ref: (ref.shape, x.dtype), lambda x, ref: np.reshape(x, ref.shape),
    vjp=lambda g, out, x, ref: [reshape_like(g, x), None],
    jvp=lambda ts, out, x, ref: None if ts[0] is None else reshape_like(ts[0], ref),
    aliases_input=True, shape_only_inputs=(1,), symshape=_sym.shape_of_input(1), batch=_batch_reshape_like)


def sum_to_like(g: Tensor, ref: Tensor) -> Tensor:
    """Reduce ``g`` to ``ref``'s shape by summing broadcast dims; no node when shapes are static and equal."""
    if g.shape == ref.shape and None not in g.shape:
        return g
    return apply(SUM_TO_LIKE, (g, ref))


def broadcast_like(x: Tensor, ref: Tensor) -> Tensor:
    if x.shape == ref.shape and None not in x.shape:
        return x
    return apply(BROADCAST_LIKE, (x, ref))


def reshape_like(x: Tensor, ref: Tensor) -> Tensor:
    if x.shape == ref.shape and None not in x.shape:
        return x
    return apply(RESHAPE_LIKE, (x, ref))


# --- reshape / transpose / broadcast_to / expand_dims / squeeze ----------------------------------
def _infer_reshape(x, shape):
    known = [d for d in shape if d != -1]
    if sum(1 for d in shape if d == -1) > 1:
        raise ValueError(f"reshape: at most one -1 allowed in {shape!r}")
    size = x.static_size
    if -1 in shape:
        rest = int(np.prod(known, dtype=np.int64)) if known else 1
        if size is None:
            out = tuple(None if d == -1 else d for d in shape)
        else:
            if rest == 0 or size % rest:
                raise ValueError(f"reshape: cannot reshape {fmt(x.shape)} into {shape!r}")
            out = tuple(size // rest if d == -1 else d for d in shape)
    else:
        out = tuple(shape)
        if size is not None and size != int(np.prod(out, dtype=np.int64)):
            raise ValueError(f"reshape: cannot reshape {fmt(x.shape)} (size {size}) into {fmt(out)}")
    return out, x.dtype


RESHAPE = defop(
    "reshape", _infer_reshape, lambda x, shape: np.reshape(x, shape),
    vjp=lambda g, out, x: [reshape_like(g, x)],
    jvp=lambda ts, out, x: reshape(ts[0], out.attrs["shape"]), aliases_input=True, batch=_batch_reshape)


def reshape(x, shape):
    """Like ``numpy.reshape``; one dim may be -1."""
    (x,) = lift_operands(x)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(d) for d in shape)
    for d in shape:
        if d < -1:
            raise ValueError(f"reshape: invalid dim {d} in {shape!r}")
    if shape == x.shape:
        return x
    return apply(RESHAPE, (x,), shape=shape)


TRANSPOSE = defop(
    "transpose", lambda x, axes: (tuple(x.shape[a] for a in axes), x.dtype),
    lambda x, axes: np.transpose(x, axes),
    vjp=lambda g, out, x: [transpose(g, tuple(np.argsort(out.attrs["axes"]).tolist()))],
    jvp=lambda ts, out, x: transpose(ts[0], out.attrs["axes"]), aliases_input=True, batch=_batch_transpose,
    symshape=lambda node, ins: tuple(ins[0][k] for k in node.attrs["axes"]))


def transpose(x, axes=None):
    """Permute dims (reverse them when ``axes`` is None)."""
    (x,) = lift_operands(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes!r} are not a permutation of the {x.ndim} dims of {fmt(x.shape)}")
    if axes == tuple(range(x.ndim)):
        return x
    return apply(TRANSPOSE, (x,), axes=axes)


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def _infer_broadcast_to(x, shape):
    out = broadcast_shapes(x.shape, shape, op_name="broadcast_to")
    if len(out) != len(shape) or any(o != s for o, s in zip(out, shape) if s is not None):
        raise ValueError(f"broadcast_to: cannot broadcast {fmt(x.shape)} to {fmt(shape)}")
    return tuple(shape), x.dtype


BROADCAST_TO = defop(
    "broadcast_to", _infer_broadcast_to, lambda x, shape: np.broadcast_to(x, shape),
    vjp=lambda g, out, x: [sum_to_like(g, x)],
    jvp=lambda ts, out, x: broadcast_to(ts[0], out.attrs["shape"]), expr="{0}", loop=True, cheap=True,
    batch=_batch_broadcast_to,
    symshape=lambda node, ins: _sym.broadcast_sym(ins[0], tuple(node.attrs["shape"])))


def broadcast_to(x, shape):
    """Broadcast to a static shape."""
    (x,) = lift_operands(x)
    shape = _check_shape_spec(shape)
    if any(d is None for d in shape):
        raise ValueError("broadcast_to: target shape must be fully known; use broadcast_like for run-time shapes")
    if shape == x.shape:
        return x
    return apply(BROADCAST_TO, (x,), shape=shape)


def _expanded_shape(shape, axes):
    out = list(shape)
    for a in axes:
        out.insert(a, 1)
    return tuple(out)


EXPAND_DIMS = defop(
    "expand_dims", lambda x, axes: (_expanded_shape(x.shape, axes), x.dtype),
    lambda x, axes: np.expand_dims(x, axes),
    vjp=lambda g, out, x: [squeeze(g, out.attrs["axes"])],
    jvp=lambda ts, out, x: expand_dims(ts[0], out.attrs["axes"]), aliases_input=True, batch=_batch_axes,
    symshape=lambda node, ins: _expanded_shape(ins[0], node.attrs["axes"]))


def expand_dims(x, axis):
    """Insert size-1 dims at ``axis`` (int or tuple, positions in the result)."""
    (x,) = lift_operands(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = normalize_axes(axes, x.ndim + len(axes), "expand_dims")
    return apply(EXPAND_DIMS, (x,), axes=axes)


def _infer_squeeze(x, axes):
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ValueError(f"squeeze: cannot squeeze axis {a} of size {x.shape[a]} in {fmt(x.shape)}")
    return tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype


SQUEEZE = defop(
    "squeeze", _infer_squeeze, lambda x, axes: np.squeeze(x, axes),
    vjp=lambda g, out, x: [expand_dims(g, out.attrs["axes"])],
    jvp=lambda ts, out, x: squeeze(ts[0], out.attrs["axes"]), aliases_input=True, batch=_batch_axes,
    symshape=lambda node, ins: tuple(d for i, d in enumerate(ins[0]) if i not in node.attrs["axes"]))


def squeeze(x, axis=None):
    """Remove size-1 dims (all statically known ones when ``axis`` is None)."""
    (x,) = lift_operands(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
    if not axes:
        return x
    return apply(SQUEEZE, (x,), axes=axes)


# --- indexing ------------------------------------------------------------------------------------
def _normalize_index(index, ndim):
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    for it in index:
        if isinstance(it, Tensor) or isinstance(it, (list, np.ndarray)):
            raise TypeError("getitem: only basic indexing (ints, slices, None, ...) is supported; "
                            "use where() or a mask multiply for data-dependent selection")
        if isinstance(it, (bool, np.bool_)):
            raise TypeError("getitem: boolean indices are not supported")
        if isinstance(it, (int, np.integer)):
            items.append(int(it))
        elif isinstance(it, slice):
            items.append(slice(*(None if v is None else int(v) for v in (it.start, it.stop, it.step))))
        elif it is None or it is Ellipsis:
            items.append(it)
        else:
            raise TypeError(f"getitem: unsupported index {it!r}")
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("getitem: an index can only have a single ellipsis")
    consumed = sum(1 for it in items if it is not None and it is not Ellipsis)
    if consumed > ndim:
        raise IndexError(f"getitem: too many indices for a tensor of rank {ndim}")
    if Ellipsis in items:
        k = items.index(Ellipsis)
        items[k:k + 1] = [slice(None)] * (ndim - consumed)
    else:
        items += [slice(None)] * (ndim - consumed)
    return tuple(items)


def _slice_key(it):
    # slices are unhashable before Python 3.12; attrs must be hashable for caching and CSE.
    return ("slice", it.start, it.stop, it.step) if isinstance(it, slice) else it


def _from_key(k):
    return slice(k[1], k[2], k[3]) if isinstance(k, tuple) and k and k[0] == "slice" else k


def index_of(node):
    return tuple(_from_key(k) for k in node.attrs["index"])


def _infer_getitem(x, index):
    shape = []
    dim = 0
    for k in index:
        it = _from_key(k)
        if it is None:
            shape.append(1)
            continue
        d = x.shape[dim]
        if isinstance(it, int):
            if d is not None and not -d <= it < d:
                raise IndexError(f"getitem: index {it} is out of bounds for axis {dim} with size {d}")
        else:
            shape.append(None if d is None else len(range(*it.indices(d))))
        dim += 1
    return tuple(shape), x.dtype


def _np_getitem(x, index):
    return x[tuple(_from_key(k) for k in index)]


def _np_getitem_grad(g, ref, index):
    z = np.zeros(ref.shape, dtype=g.dtype)
    z[tuple(_from_key(k) for k in index)] = g
    return z


def _getitem_symshape(node, ins):
    # a full slice keeps the input's dim; another slice's length is static or the node's own
    out, dim = [], 0
    for it in index_of(node):
        if it is None:
            out.append(1)
            continue
        if isinstance(it, slice):
            if it == slice(None):
                out.append(ins[0][dim])
            else:
                out.append(node.shape[len(out)] if node.shape[len(out)] is not None
                           else ("node", node.id, len(out)))
        dim += 1
    return tuple(out)


GETITEM = defop(
    "getitem", _infer_getitem, _np_getitem,
    vjp=lambda g, out, x: [apply(GETITEM_GRAD, (g, x), index=out.attrs["index"])],
    jvp=lambda ts, out, x: apply(GETITEM, (ts[0],), index=out.attrs["index"]),
    aliases_input=True, symshape=_getitem_symshape, batch=_batch_getitem)

GETITEM_GRAD = defop(
    "getitem_grad", lambda g, ref, index: (ref.shape, g.dtype), _np_getitem_grad,
    vjp=lambda gg, out, g, ref: [apply(GETITEM, (gg,), index=out.attrs["index"]), None],
    jvp=lambda ts, out, g, ref: None if ts[0] is None else apply(GETITEM_GRAD, (ts[0], ref), index=out.attrs["index"]),
    shape_only_inputs=(1,), symshape=_sym.shape_of_input(1), batch=_batch_getitem_grad,
    doc="zeros of ref's shape with g written at the index (the gradient of basic indexing)")


def getitem(x, index):
    """Basic indexing: ints, slices, None and Ellipsis (views in numpy)."""
    (x,) = lift_operands(x)
    items = _normalize_index(index, x.ndim)
    return apply(GETITEM, (x,), index=tuple(_slice_key(it) for it in items))


# --- concatenate / stack --------------------------------------------------------------------------
def _infer_concat(*xs, axis):
    first = xs[0]
    for x in xs[1:]:
        if x.ndim != first.ndim:
            raise ValueError("concatenate: all inputs need the same rank, got "
                             + ", ".join(fmt(t.shape) for t in xs))
    shape = []
    for i in range(first.ndim):
        dims = [x.shape[i] for x in xs]
        if i == axis:
            shape.append(None if None in dims else sum(dims))
        else:
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ValueError(f"concatenate: shapes {', '.join(fmt(t.shape) for t in xs)} differ "
                                 f"outside axis {axis}")
            shape.append(known.pop() if known else None)
    return tuple(shape), np.result_type(*[x.dtype for x in xs])


CONCATENATE = defop(
    "concatenate", _infer_concat, lambda *xs, axis: np.concatenate(xs, axis=axis),
    vjp=lambda g, out, *xs: [apply(CONCAT_PART, (g, *xs), axis=out.attrs["axis"], index=i) for i in range(len(xs))],
    jvp=lambda ts, out, *xs: concatenate(
        [t if t is not None else _zeros_like_dt(x, out.dtype) for t, x in zip(ts, xs)], axis=out.attrs["axis"]),
    batch=_batch_concatenate)


def _np_concat_part(g, *refs, axis, index):
    start = sum(r.shape[axis] for r in refs[:index])
    sl = [slice(None)] * g.ndim
    sl[axis] = slice(start, start + refs[index].shape[axis])
    return g[tuple(sl)]


CONCAT_PART = defop(
    "concat_part", lambda g, *refs, axis, index: (refs[index].shape, g.dtype), _np_concat_part,
    vjp=lambda gg, out, g, *refs: [concatenate(
        [gg if j == out.attrs["index"] else _zeros_like_dt(r, gg.dtype) for j, r in enumerate(refs)],
        axis=out.attrs["axis"])] + [None] * len(refs),
    jvp=lambda ts, out, g, *refs: None if ts[0] is None else apply(
        CONCAT_PART, (ts[0], *refs), axis=out.attrs["axis"], index=out.attrs["index"]),
    aliases_input=True, shape_only_inputs=lambda node: range(1, len(node.inputs)),
    symshape=lambda node, ins: ins[1 + node.attrs["index"]], batch=_batch_concat_part,
    doc="the index-th part of g split like concatenate(refs) (the gradient of concatenate)")


def _zeros_like_dt(x, dtype):
    from .creation import zeros_like
    return zeros_like(x, dtype=dtype)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    xs = lift_operands(*tensors)
    if not xs:
        raise ValueError("concatenate: need at least one tensor")
    if xs[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    (axis,) = normalize_axes(axis, xs[0].ndim, "concatenate")
    if len(xs) == 1:
        return xs[0]
    return apply(CONCATENATE, xs, axis=axis)


def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    xs = lift_operands(*tensors)
    if not xs:
        raise ValueError("stack: need at least one tensor")
    ranks = {x.ndim for x in xs}
    # None (run-time) dims are compatible with anything; known dims must agree
    if len(ranks) > 1 or any(len({d for d in dims if d is not None}) > 1 for dims in zip(*[x.shape for x in xs])):
        raise ValueError("stack: all inputs need the same shape, got " + ", ".join(fmt(x.shape) for x in xs))
    (axis,) = normalize_axes(axis, xs[0].ndim + 1, "stack")
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis) if len(xs) > 1 else expand_dims(xs[0], axis)


_batch.bind(expand_dims=expand_dims, getitem=getitem, broadcast_like=broadcast_like, broadcast_to=broadcast_to)

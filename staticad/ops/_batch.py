"""Helpers of the ops' batching rules (``Op.batch``; the transform is :mod:`staticad.batching`).

A rule gets ``(node, values, batched flags, size)`` and returns ``(value, is_batched)``; a batched
value has a leading batch axis of size ``size``. "Aligned": size-1 axes inserted right after the
batch axis, so numpy broadcasting never lines the batch axis up with an operand's axis.
"""
from __future__ import annotations

from ..graph import Tensor, apply

FULL_SLICE = ("slice", None, None, None)

# expand_dims, getitem, broadcast_like, broadcast_to, zeros: registered by ops.shape and
# ops.creation when they are imported (they build on these helpers, so no import here)
_F: dict = {}


def bind(**functions):
    _F.update(functions)


def align(v: Tensor, rank: int) -> Tensor:
    """Batched ``v`` with size-1 axes inserted after the batch axis up to rank ``1 + rank``."""
    k = rank + 1 - v.ndim
    if k <= 0:
        return v
    return _F["expand_dims"](v, tuple(range(1, 1 + k)))


def element0(v: Tensor) -> Tensor:
    """Element 0 of a batched value: an unbatched tensor of the same run-time shape (for refs)."""
    return _F["getitem"](v, 0)


def static(shape) -> bool:
    return all(d is not None for d in shape)


def over_batch(x: Tensor, size: int) -> Tensor:
    """Unbatched ``x`` broadcast over the batch: shape ``(size,) + x.shape``."""
    e = _F["expand_dims"](x, 0)
    if static(x.shape):
        return _F["broadcast_to"](e, (size,) + tuple(x.shape))
    return _F["broadcast_like"](e, _F["zeros"]((size,) + (1,) * x.ndim, x.dtype))


def batched_ref(ref: Tensor, size: int) -> Tensor:
    """A tensor of run-time shape ``(size,) + ref's`` for ops that read only a reference's shape:
    a static ``zeros`` when the shape is known (nothing of ``ref`` is computed for it)."""
    if static(ref.shape):
        return _F["zeros"]((size,) + tuple(ref.shape), ref.dtype)
    return over_batch(ref, size)


def shift(axes) -> tuple:
    return tuple(int(a) + 1 for a in axes)


def elementwise(node, vals, flags, size):
    """The rule of every elementwise op: batched operands aligned to ``1 + out.ndim``."""
    args = [align(v, node.ndim) if b else v for v, b in zip(vals, flags)]
    return apply(node.op, args, **node.attrs), True


def reduction(node, vals, flags, size):
    """Reductions over ``attrs["axes"]``: the axes shifted by 1 (the batch axis is never reduced)."""
    (x,) = vals
    return apply(node.op, (x,), axes=shift(node.attrs["axes"]), keepdims=node.attrs["keepdims"]), True

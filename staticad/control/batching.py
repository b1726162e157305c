"""Batching rules (see :mod:`staticad.batching`) for the control ops.

A batched loop or cond keeps ONE trip count / ONE taken branch for the whole batch, so the rules
apply only when the predicate does not depend on a batched value (the case of batched Jacobians
and Hessians: the batch runs over tangents and cotangents, which never steer control flow);
otherwise they raise :class:`~staticad.batching.NotBatchable` and Jacobians go column by column.
The sub-graphs are batched with :func:`~staticad.batching.batch` itself. A control node's
batched value is the list of its outputs' values; ``tuple_get`` picks one. A loop variable is
batched when its initial value is or when the body mixes a batched value into it (a fixpoint);
a recorded stack of a batched variable is stored ``(trip count, B, ...)`` by the loop and
transposed to the batched layout ``(B, trip count, ...)``.
"""
from __future__ import annotations

from .. import ops
from ..batching import NotBatchable, batch
from ..ops._batch import over_batch as _over_batch
from ..graph import placeholder, walk
from .api import build_cond, build_while
from .ops import RULES, stack_read, stack_scatter, tuple_get
from .subgraph import inline


def _depends(sub, batched: set) -> list:
    """For each output of ``sub``: whether it reads a param whose index is in ``batched``."""
    params = {p: k for k, p in enumerate(sub.params)}
    out = []
    for o in sub.outputs:
        out.append(any(params.get(n) in batched for n in walk([o]) if n in params))
    return out


def _run(sub, values, flags, size) -> list:
    """``sub``'s outputs on ``values`` (batched where ``flags``): ``[(value, is_batched)]``."""
    stand = [placeholder(p.shape, p.dtype, name=f"b{k}") for k, p in enumerate(sub.params)]
    outs = inline(sub, [s if f else v for s, v, f in zip(stand, values, flags)])
    return batch(outs, {s: v for s, v, f in zip(stand, values, flags) if f}, size)


def _fit(pair, want: bool, size: int):
    value, is_batched = pair
    if is_batched and not want:
        raise NotBatchable("while_loop")  # cannot happen after the fixpoint; never silently wrong
    return _over_batch(value, size) if want and not is_batched else value


def _move_batch_first(stack):
    return ops.transpose(stack, (1, 0) + tuple(range(2, stack.ndim)))


def _while(node, vals, flags, size):
    a = node.attrs
    n = a["n_vars"]
    cond, body = a["cond"], a["body"]
    vb = list(flags[:n])
    while True:  # a loop variable is batched when the body mixes a batched value into it
        deps = _depends(body, {k for k, f in enumerate(vb + list(flags[n:])) if f})
        new = [b or d for b, d in zip(vb, deps)]
        if new == vb:
            break
        vb = new
    pflags = vb + list(flags[n:])
    if _depends(cond, {k for k, f in enumerate(pflags) if f})[0]:
        raise NotBatchable("while_loop")  # the trip count would differ between batch elements
    caps = list(vals[n:])
    init = [_over_batch(v, size) if want and not f else v for v, f, want in zip(vals[:n], flags[:n], vb)]

    def body_fn(*v):
        return [_fit(p, want, size) for p, want in zip(_run(body, list(v) + caps, pflags, size), vb)]

    def cond_fn(*v):
        return _fit(_run(cond, list(v) + caps, pflags, size)[0], False, size)

    loop = build_while(cond_fn, body_fn, init, a["max_iterations"], record=a["record"])
    outs = [tuple_get(loop, k) for k in range(n + 1)]
    for k, r in enumerate(a["record"]):
        stack = tuple_get(loop, n + 1 + k)
        outs.append(_move_batch_first(stack) if vb[r] else stack)
    return outs, vb + [False] + [vb[r] for r in a["record"]]


def _cond(node, vals, flags, size):
    a = node.attrs
    if flags[0]:
        raise NotBatchable("cond")  # the taken branch would differ between batch elements
    m = a["n_operands"]
    pflags = list(flags[1:])
    batched = {k for k, f in enumerate(pflags) if f}
    want = [t or f for t, f in zip(_depends(a["true"], batched), _depends(a["false"], batched))]
    caps = list(vals[1 + m:])

    def branch(sub):
        return lambda *ops_: [_fit(p, w, size) for p, w in zip(_run(sub, list(ops_) + caps, pflags, size), want)]

    node2, _ = build_cond(vals[0], branch(a["true"]), branch(a["false"]), list(vals[1:1 + m]))
    return [tuple_get(node2, k) for k in range(len(want))], want


def _tuple_get(node, vals, flags, size):
    k = node.attrs["index"]
    if isinstance(vals[0], list):
        return vals[0][k], flags[0][k]
    return tuple_get(vals[0], k), False


def _stack_read(node, vals, flags, size):
    (stack, k), (bs, bk) = vals, flags
    if bk:
        raise NotBatchable("stack_read")
    return stack_read(_move_batch_first(stack), k), True


def _stack_scatter(node, vals, flags, size):
    (g, k, ref), (bg, bk, bref) = vals, flags
    if bk:
        raise NotBatchable("stack_scatter")
    g = g if bg else _over_batch(g, size)
    if bref:  # the stack's layout (trip count, B, ...): the batch axis second
        ref_t = _move_batch_first(ref)
    else:
        ref_t = ops.broadcast_like(ops.expand_dims(ref, 1), ops.zeros((1, size) + (1,) * (ref.ndim - 1), ref.dtype))
    return _move_batch_first(stack_scatter(g, k, ref_t)), True


RULES.update(_while=_while, _cond=_cond, _tuple_get=_tuple_get, _stack_read=_stack_read,
             _stack_scatter=_stack_scatter)

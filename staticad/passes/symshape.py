"""Symbolic shapes: which nodes are guaranteed to have the same run-time shape.

Every dim is a static ``int`` or a symbol. Unknown (``None``) dims of placeholders are
symbols ``("in", node_id, axis)``; broadcasting distinct symbols gives ``("bc", frozenset)``;
dims no rule can relate to the inputs are ``("node", node_id, axis)``. Two nodes with equal
symbolic shapes have equal run-time shapes, which is what fusion needs to share one loop.
"""
from __future__ import annotations

from ..ops.shape import index_of

LOOPABLE_SHAPE_OPS = {"broadcast_like", "broadcast_to", "full_like", "full"}


def is_symbol(d) -> bool:
    return isinstance(d, tuple)


def broadcast_dims(dims):
    """Broadcast aligned dims (ints or symbols)."""
    statics = {d for d in dims if not is_symbol(d) and d != 1}
    if statics:
        return statics.pop()
    syms = set()
    for d in dims:
        if is_symbol(d):
            syms |= set(d[1]) if d[0] == "bc" else {d}
    if not syms:
        return 1
    if len(syms) == 1:
        return syms.pop()
    return ("bc", frozenset(syms))


def broadcast_sym(*shapes):
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        out.append(broadcast_dims([s[i] for s in shapes if len(s) >= -i]))
    return tuple(out)


def _node_dims(node):
    return tuple(d if d is not None else ("node", node.id, i) for i, d in enumerate(node.shape))


def _rule(node, ins):
    name = node.op.name
    a = node.attrs
    if name == "placeholder":
        return tuple(d if d is not None else ("in", node.id, i) for i, d in enumerate(node.shape))
    if name in ("constant", "variable", "full"):
        return tuple(node.shape)
    if node.op.elementwise or name in ("broadcast_like", "full_like"):
        return broadcast_sym(*ins)
    if name == "broadcast_to":
        return broadcast_sym(ins[0], tuple(a["shape"]))
    if name in ("sum", "max", "min", "prod"):
        axes, keep = a["axes"], a["keepdims"]
        if keep:
            return tuple(1 if i in axes else d for i, d in enumerate(ins[0]))
        return tuple(d for i, d in enumerate(ins[0]) if i not in axes)
    if name in ("count", "norm"):
        return ()
    if name in ("sum_to_like", "reshape_like", "getitem_grad"):
        return ins[1]
    if name == "concat_part":
        return ins[1 + a["index"]]
    if name == "transpose":
        return tuple(ins[0][k] for k in a["axes"])
    if name == "expand_dims":
        out = list(ins[0])
        for ax in a["axes"]:
            out.insert(ax, 1)
        return tuple(out)
    if name == "squeeze":
        return tuple(d for i, d in enumerate(ins[0]) if i not in a["axes"])
    if name == "matmul":
        sa, sb = ins
        batch = broadcast_sym(sa[:-2], sb[:-2]) if (len(sa) > 2 or len(sb) > 2) else ()
        rows = (sa[-2],) if len(sa) >= 2 else ()
        cols = (sb[-1],) if len(sb) >= 2 else ()
        return batch + rows + cols
    if name == "getitem":
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
    return _node_dims(node)


def symbolic_shapes(nodes) -> dict:
    """Node -> symbolic shape, for nodes in topological order."""
    sym: dict = {}
    for node in nodes:
        s = _rule(node, [sym[i] for i in node.inputs])
        # a static dim the inference knows beats a symbol (e.g. broadcasting (None,) with (5,))
        s = tuple(d if node.shape[i] is None else node.shape[i] for i, d in enumerate(s))
        sym[node] = s
    return sym

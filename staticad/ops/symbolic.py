"""Symbolic dims, for the symbolic-shape rules of the ops (``Op.symshape``, see :mod:`staticad.passes.symshape`).

Every dim is a static ``int`` or a symbol (a tuple): ``("in", node_id, axis)`` for an unknown dim
of a placeholder, ``("bc", frozenset)`` for a broadcast of distinct symbols, ``("node", node_id,
axis)`` for a dim no rule relates to the inputs.
"""
from __future__ import annotations


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


def own_dims(node):
    """``node``'s static dims, with a symbol of its own for each unknown one."""
    return tuple(d if d is not None else ("node", node.id, i) for i, d in enumerate(node.shape))


# --- rules shared by several ops: (node, input symbolic shapes) -> symbolic shape ---------------
def broadcast_inputs(node, ins):
    return broadcast_sym(*ins)


def static_shape(node, ins):
    return tuple(node.shape)


def shape_of_input(k):
    """The rule of an op whose result has the run-time shape of input ``k``."""
    return lambda node, ins: ins[k]


def reduced(node, ins):
    """Reduction over ``attrs["axes"]`` (``keepdims`` kept as size 1)."""
    axes = node.attrs["axes"]
    if node.attrs["keepdims"]:
        return tuple(1 if i in axes else d for i, d in enumerate(ins[0]))
    return tuple(d for i, d in enumerate(ins[0]) if i not in axes)


def scalar(node, ins):
    return ()

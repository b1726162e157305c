"""Symbolic shapes: which nodes are guaranteed to have the same run-time shape.

Every dim is a static ``int`` or a symbol (see :mod:`staticad.ops.symbolic`). Each op's rule
(``Op.symshape``) relates its result's dims to its inputs'; elementwise ops without one broadcast
their inputs, other ops without one get dims of their own (``("node", node_id, axis)``). Two
nodes with equal symbolic shapes have equal run-time shapes, which is what fusion needs to share
one loop.
"""
from __future__ import annotations

from ..ops.symbolic import broadcast_dims, broadcast_sym, is_symbol, own_dims  # noqa: F401


def _rule(node, ins):
    rule = node.op.symshape
    if rule is not None:
        return rule(node, ins)
    if node.op.elementwise:
        return broadcast_sym(*ins)
    return own_dims(node)


def symbolic_shapes(nodes) -> dict:
    """Node -> symbolic shape, for nodes in topological order."""
    sym: dict = {}
    for node in nodes:
        s = _rule(node, [sym[i] for i in node.inputs])
        # a static dim the inference knows beats a symbol (e.g. broadcasting (None,) with (5,))
        s = tuple(d if node.shape[i] is None else node.shape[i] for i, d in enumerate(s))
        sym[node] = s
    return sym

"""Symbolic shapes: which nodes are guaranteed to have the same run-time shape.

Every dim is a static ``int`` or a symbol (see :mod:`staticad.ops.symbolic`). Each op's rule
(``Op.symshape``) relates its result's dims to its inputs'; elementwise ops without one broadcast
their inputs, other ops without one get dims of their own (``("node", node_id, axis)``). Two
nodes with equal symbolic shapes have equal run-time shapes, which is what fusion needs to share
one loop.

A plan *specialised for equal dims* (:func:`assuming_equal`) takes some ``None`` dims of the
placeholders as equal: each group's dims become its first member's symbol, so a broadcast of
them is no broadcast at all (``sum_to_like`` back to one of them is the identity and the
loops share one iteration space). The caller checks the assumption before running such a plan
(:mod:`staticad.compiler`).
"""
from __future__ import annotations

import contextlib
import contextvars

from ..ops.symbolic import broadcast_dims, broadcast_sym, is_symbol, own_dims  # noqa: F401

# symbol of a placeholder dim -> the symbol it is taken to equal (empty: no assumption)
_EQUAL: contextvars.ContextVar = contextvars.ContextVar("staticad_equal_dims", default=None)


@contextlib.contextmanager
def assuming_equal(program, groups):
    """Within the block, :func:`symbolic_shapes` takes the placeholder dims of each group equal.
    ``groups``: tuples of ``(input index, axis)`` of ``program.inputs`` (positions, not nodes: a
    structurally identical program with other placeholders means the same)."""
    mapping = {}
    for group in groups or ():
        (i0, a0), *rest = group
        canon = ("in", program.inputs[i0].id, a0)
        for i, a in rest:
            mapping[("in", program.inputs[i].id, a)] = canon
    token = _EQUAL.set(mapping or None)
    try:
        yield
    finally:
        _EQUAL.reset(token)


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
    equal = _EQUAL.get()
    for node in nodes:
        s = _rule(node, [sym[i] for i in node.inputs])
        # a static dim the inference knows beats a symbol (e.g. broadcasting (None,) with (5,))
        s = tuple(d if node.shape[i] is None else node.shape[i] for i, d in enumerate(s))
        if equal is not None and not node.inputs:
            s = tuple(equal.get(d, d) for d in s)
        sym[node] = s
    return sym

"""``eliminate_common_subexpressions``: compute each distinct expression once."""
from __future__ import annotations

import numpy as np

from ..graph import CONSTANT, Tensor
from ..program import Program
from .rewrite import rewrite

#: Constants up to this many elements are merged by value.
MAX_MERGED_CONSTANT = 100_000


def attr_key(value):
    """A hashable key equal for attr values that mean the same thing, and only for those.

    Handles ints, floats (by bits: ``0.0`` and ``-0.0`` differ, NaNs are equal), bools (not
    equal to ints), strings, ``None``, dtypes, slices, tuples, lists, dicts and arrays; any
    other object is keyed by identity, which never merges two nodes wrongly.
    """
    if value is None or value is Ellipsis:
        return (repr(value),)
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, (int, np.integer)):
        return ("int", int(value))
    if isinstance(value, (float, np.floating)):
        return ("float", float(value).hex())
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    if isinstance(value, type) and issubclass(value, np.generic):
        return ("dtype", np.dtype(value).str)
    if isinstance(value, slice):
        return ("slice", attr_key(value.start), attr_key(value.stop), attr_key(value.step))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(attr_key(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((repr(k), attr_key(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return ("object", id(value))


def node_key(node: Tensor):
    """Key of ``node`` given that its inputs are already deduplicated; ``None``: never merged."""
    if node.op.extra.get("cse") is False:
        return None
    if node.op is CONSTANT:
        value = node.attrs["value"]
        if value.size > MAX_MERGED_CONSTANT:
            return None
        return ("constant", value.dtype.str, value.shape, value.tobytes())
    ids = [id(i) for i in node.inputs]
    if node.op.commutative and len(ids) == 2:  # Op.commutative: swapping changes no result bit
        ids.sort()
    return (node.op.name, tuple(ids), attr_key(node.attrs))


def eliminate_common_subexpressions(program: Program) -> Program:
    """Merge nodes that compute the same value.

    Two nodes merge when they have the same op, the same (already merged) inputs (in any
    order for commutative ops: ``add``, ``multiply``, equality and logical and/or) and equal
    attrs (see :func:`attr_key`); constants merge when dtype, shape and bytes are equal (up
    to ``MAX_MERGED_CONSTANT`` elements). Merged nodes have equal shape and dtype, and the
    first one in topological order survives. Placeholders and Variables are never merged.
    Every op is pure, so the values of all outputs and updates are unchanged (bit for bit).
    """
    seen: dict = {}

    def replace(node, original):
        key = node_key(node)
        if key is None:
            return None
        return seen.setdefault(key, node)

    return rewrite(program, replace, "eliminate_common_subexpressions")

"""``fold_constants``: evaluate at compile time what does not depend on inputs or state."""
from __future__ import annotations

import numpy as np

from ..evaluate import evaluate
from ..graph import CONSTANT, Tensor, constant
from ..program import Program
from .rewrite import rewrite

#: Largest result (in elements) that is folded into a constant.
MAX_FOLDED_ELEMENTS = 100_000
#: Largest constant operand (in elements) a fold may read, so folding stays cheap.
MAX_OPERAND_ELEMENTS = 1_000_000
#: A result this many times larger than its constant operands together (and over
#: ``EXPANSION_MIN_ELEMENTS``) is left to run time: a fused loop computes it from the small
#: operands (broadcast reads) faster than it would read the folded array. Example: the identity
#: mask ``arange(n)[:, None] == arange(n)[None, :]`` of a Hessian, 2n values read instead of n^2.
EXPANSION_FACTOR = 4
EXPANSION_MIN_ELEMENTS = 4096



def fold_node(node: Tensor):
    """The constant ``node`` evaluates to, or ``None`` when it cannot or should not be folded."""
    # sources are bound by the backend (constants are already constants)
    if node.op.source or node.op.extra.get("fold") is False:
        return None
    if not node.inputs and not node.op.loop:  # nullary ops other than fills are left to the backend
        return None
    size = node.static_size
    if size is None or size > MAX_FOLDED_ELEMENTS:
        return None
    shape_only = node.op.shape_only(node)  # inputs whose value is never read: a static shape is enough
    args = []
    for k, inp in enumerate(node.inputs):
        if k in shape_only and inp.static_size is not None:
            args.append(np.broadcast_to(np.zeros((), inp.dtype), inp.shape))  # shape without data
        elif inp.op is CONSTANT and inp.attrs["value"].size <= MAX_OPERAND_ELEMENTS:
            args.append(inp.attrs["value"])
        else:
            return None
    read = sum(int(np.size(a)) for k, a in enumerate(args) if k not in shape_only)
    if args and size > EXPANSION_MIN_ELEMENTS and size > EXPANSION_FACTOR * read:
        return None
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(evaluate(node, args))
    except Exception:  # leave it to run time, where the error names the node
        return None
    if value.shape != node.shape:
        return None
    return constant(value.astype(node.dtype, copy=False), dtype=node.dtype, name=node.name)


def fold_constants(program: Program) -> Program:
    """Replace nodes computable at compile time by ``constant`` nodes.

    A node is folded when every input is a constant, or is read for its shape only
    (``full_like``, ``count``, ``*_like`` references) and has a fully static shape, and its
    result has a static shape of at most ``MAX_FOLDED_ELEMENTS`` elements; ``full`` nodes
    that small are folded too, except a large result computed from much smaller operands
    (``EXPANSION_FACTOR``: a broadcast). The value is the op's NumPy rule (the reference backend's),
    cast to the node's dtype, so results are bit-identical to the unoptimized program.
    Placeholders, Variables (state) and nodes whose NumPy rule raises are never folded.
    Folding is done in one topological sweep, so whole constant subgraphs collapse.
    """
    return rewrite(program, lambda node, original: fold_node(node), "fold_constants")

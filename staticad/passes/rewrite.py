"""The rewriting walk every optimization pass is built on.

A pass maps each node, in topological order, to a replacement given the node with its inputs
already rewritten; :func:`rewrite` then rebuilds the :class:`~staticad.program.Program` from
the replaced outputs and update values. Tensors are never mutated: a node whose inputs
changed is rebuilt as a new :class:`~staticad.graph.Tensor` with the same op, attrs, static
shape, dtype and name. Placeholders and Variables are never replaced (the same objects stay
the program's inputs and the update targets).
"""
from __future__ import annotations

from typing import Callable, Optional

from ..graph import PLACEHOLDER, VARIABLE, Tensor, _format_shape
from ..program import Program

#: Source nodes whose identity matters: placeholders are fed by position, Variables hold state.
KEPT_SOURCES = frozenset({PLACEHOLDER, VARIABLE})


def rebuild(node: Tensor, inputs) -> Tensor:
    """``node`` itself when ``inputs`` are its inputs, else a copy of it reading ``inputs``."""
    inputs = tuple(inputs)
    if len(inputs) == len(node.inputs) and all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    return Tensor(node.op, inputs, node.attrs, node.shape, node.dtype, node.name)


def rewrite(program: Program, replace: Callable[[Tensor, Tensor], Optional[Tensor]],
            pass_name: str = "rewrite") -> Program:
    """Map every node of ``program`` through ``replace(node, original)`` and rebuild the program.

    ``node`` is ``original`` with its inputs already rewritten (``original`` itself if none
    changed); ``replace`` returns the tensor to use instead, or ``None`` to keep ``node``.
    A replacement must have the original's static shape and dtype (checked: a pass that
    breaks this raises ``RuntimeError`` naming itself and the node). Unreached nodes are
    dropped, because the program is rebuilt from its outputs and update values.
    """
    mapping: dict = {}
    for original in program.nodes:
        if original.op in KEPT_SOURCES:
            mapping[original] = original
            continue
        node = rebuild(original, (mapping.get(i, i) for i in original.inputs))
        new = replace(node, original)
        if new is None:
            new = node
        elif new is not node:
            check_same_type(original, new, pass_name)
        mapping[original] = new
    outputs = [mapping.get(o, o) for o in program.outputs]
    updates = [(var, mapping.get(value, value)) for var, value in program.updates]
    return Program.build(program.name, program.inputs, outputs, updates)


def check_same_type(original: Tensor, new: Tensor, pass_name: str) -> None:
    if new.shape != original.shape or new.dtype != original.dtype:
        raise RuntimeError(
            f"{pass_name}: replacing {original.name} ({original.op.name} {_format_shape(original.shape)} "
            f"{original.dtype}) by {new.name} ({new.op.name} {_format_shape(new.shape)} {new.dtype}) "
            "would change its static shape or dtype")


def op_counts(program: Program) -> dict:
    """Op name -> number of nodes of that op (for reports and tests)."""
    counts: dict = {}
    for node in program.nodes:
        counts[node.op.name] = counts.get(node.op.name, 0) + 1
    return counts

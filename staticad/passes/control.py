"""``merge_loop_recordings``: one forward loop serves both the value and the gradient."""
from __future__ import annotations

from ..program import Program
from .rewrite import KEPT_SOURCES, rebuild


def _loop_key(node):
    a = node.attrs
    return (tuple(id(i) for i in node.inputs), id(a["cond"]), id(a["body"]), a["max_iterations"])


def merge_loop_recordings(program: Program) -> Program:
    """Replace a ``while_loop`` by a recording copy of it when the program holds one.

    Reverse mode differentiates a loop through a *recording* copy (same inputs, same cond and
    body sub-graphs, more outputs: the stacks its backward loop reads). The copy's first
    outputs (loop variables, trip count) are exactly the original's, so readers of the
    original read the copy instead and the loop runs once. Values are unchanged (same
    computation); nodes that are not loops are kept.
    """
    richest: dict = {}
    for node in program.nodes:
        if node.op.name == "while_loop":
            key = _loop_key(node)
            best = richest.get(key)
            if best is None or set(best.attrs["record"]) < set(node.attrs["record"]):
                richest[key] = node
    if all(n is richest.get(_loop_key(n)) for n in program.nodes if n.op.name == "while_loop"):
        return program

    # one topological sweep; a loop and its richest copy have the same inputs, already mapped
    # when the first of the two is reached, so both map to one rebuilt node
    mapping: dict = {}
    for original in program.nodes:
        if original in mapping:
            continue
        if original.op.name in KEPT_SOURCES:
            mapping[original] = original
            continue
        target = original
        if original.op.name == "while_loop":
            best = richest[_loop_key(original)]
            if set(original.attrs["record"]) <= set(best.attrs["record"]):
                target = best
        if target in mapping:
            mapping[original] = mapping[target]
            continue
        node = rebuild(target, [mapping.get(i, i) for i in target.inputs])
        mapping[original] = mapping[target] = node
    outputs = [mapping.get(o, o) for o in program.outputs]
    updates = [(var, mapping.get(v, v)) for var, v in program.updates]
    return Program.build(program.name, program.inputs, outputs, updates)

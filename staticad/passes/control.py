"""Passes for control-flow nodes: ``merge_loop_recordings`` (one forward loop serves both the
value and the gradient) and ``prune_control_inputs`` (sub-graphs take only what they read)."""
from __future__ import annotations

from ..control.ops import COND, WHILE_LOOP
from ..control.subgraph import SubGraph
from ..graph import apply, walk
from ..program import Program
from .rewrite import KEPT_SOURCES, rebuild, rewrite


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
        if node.op is WHILE_LOOP:
            key = _loop_key(node)
            best = richest.get(key)
            if best is None or set(best.attrs["record"]) < set(node.attrs["record"]):
                richest[key] = node
    if all(n is richest.get(_loop_key(n)) for n in program.nodes if n.op is WHILE_LOOP):
        return program

    # one topological sweep; a loop and its richest copy have the same inputs, already mapped
    # when the first of the two is reached, so both map to one rebuilt node
    mapping: dict = {}
    for original in program.nodes:
        if original in mapping:
            continue
        if original.op in KEPT_SOURCES:
            mapping[original] = original
            continue
        target = original
        if original.op is WHILE_LOOP:
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


def _read_params(subs) -> set:
    """Indices of the params that some sub-graph of ``subs`` reads (they share one param layout)."""
    read = set()
    for sub in subs:
        index = {p: k for k, p in enumerate(sub.params)}
        read.update(index[n] for n in walk(sub.outputs) if n in index)
    return read


def _without(sub, keep):
    return SubGraph(sub.name, [sub.params[k] for k in keep], sub.outputs)


def prune_control_inputs(program: Program) -> Program:
    """Drop the inputs of ``cond`` and ``while_loop`` nodes that none of their sub-graphs reads.

    A ``cond`` loses operands and captures neither branch reads (e.g. the primal operands of a
    branch VJP that only scales the cotangent); a ``while_loop`` loses captures that neither its
    condition nor its body reads (loop variables stay: they are outputs). The sub-graphs keep
    their outputs and lose only unread params, so every value is unchanged.
    """
    def replace(node, original):
        a = node.attrs
        if node.op is COND:
            rest = node.inputs[1:]
            keep = sorted(_read_params((a["true"], a["false"])))
            if len(keep) == len(rest):
                return None
            return apply(node.op, [node.inputs[0]] + [rest[k] for k in keep],
                         **dict(a, true=_without(a["true"], keep), false=_without(a["false"], keep),
                                n_operands=sum(1 for k in keep if k < a["n_operands"])))
        if node.op is WHILE_LOOP:
            n = a["n_vars"]
            read = _read_params((a["cond"], a["body"]))
            keep = list(range(n)) + [k for k in range(n, len(node.inputs)) if k in read]
            if len(keep) == len(node.inputs):
                return None
            return apply(node.op, [node.inputs[k] for k in keep],
                         **dict(a, cond=_without(a["cond"], keep), body=_without(a["body"], keep)))
        return None

    return rewrite(program, replace, "prune_control_inputs")

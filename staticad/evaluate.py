"""The reference evaluator: runs a :class:`Program` op by op with each op's NumPy rule.

It sits at the bottom with the IR (it needs only nodes and their ops), so that constant folding,
the NumPy rule of control-flow ops (their sub-graphs) and the numpy backend share one
evaluation without importing a backend.
"""
from __future__ import annotations

import numpy as np

from .clock import now_ns
from .graph import _format_shape
from .program import Program


def evaluate(node, args):
    """``node``'s op applied to the arrays ``args`` (cast to the node's dtype; a tuple for a
    multi-output op); a failure is a ``ValueError`` naming the node."""
    try:
        out = node.op.impl(*args, **node.attrs)
    except Exception as exc:  # name the node: a numpy message alone does not say where
        shapes = ", ".join(_format_shape(np.shape(a)) for a in args)
        raise ValueError(f"evaluating {node.name} = {node.op.name}({shapes}) failed: {exc}") from exc
    if node.op.extra.get("multi_output"):  # a tuple of arrays, read by tuple_get nodes
        return out
    out = np.asarray(out)
    if out.dtype != node.dtype:
        out = out.astype(node.dtype)
    return out


class Interpreter:
    """Evaluates ``program``; intermediate arrays are dropped as soon as their last reader ran."""

    def __init__(self, program: Program):
        self.program = program
        self.input_index = {id(p): i for i, p in enumerate(program.inputs)}
        frees: dict = {}
        for node, i in program.last_use().items():
            frees.setdefault(i, []).append(node)
        self.steps = [(node, frees.get(i, [])) for i, node in enumerate(program.nodes)]

    def run(self, arrays: list, timings: list | None = None):
        """``(outputs, update values)``; outputs are fresh arrays. ``timings``: a list that gets
        ``(node name, "node", op name, start ns, duration ns)`` per evaluated node."""
        env: dict = {}
        with np.errstate(all="ignore"):
            for node, free in self.steps:
                name = node.op.name
                if name == "placeholder":
                    env[node] = arrays[self.input_index[id(node)]]
                elif name == "constant":
                    env[node] = node.attrs["value"]
                elif name == "variable":
                    env[node] = node._storage
                elif timings is None:
                    env[node] = evaluate(node, [env[i] for i in node.inputs])
                else:
                    t0 = now_ns()
                    env[node] = evaluate(node, [env[i] for i in node.inputs])
                    timings.append((node.name, "node", name, t0, now_ns() - t0))
                for dead in free:
                    env.pop(dead, None)
        p = self.program
        outs = [np.array(env[o], copy=True) for o in p.outputs]
        new_values = [env[v] for _, v in p.updates]
        return outs, new_values

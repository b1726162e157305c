"""Sub-graphs: the bodies of control-flow nodes, traced once from Python functions.

A :class:`SubGraph` is closed: its only sources are its ``params`` (placeholders) and
constants. Outer tensors a traced function reads ("captures") are cut out of it by
:func:`trace` and replaced by extra params; the control node lists them as ordinary inputs,
so pruning, the autodiff walkers and gradients to captured Variables need nothing special.
"""
from __future__ import annotations

import numpy as np

from .. import graph as _graph
from ..graph import Tensor, _format_shape, apply, lift, placeholder, walk

SOURCES = ("placeholder", "variable")


class SubGraph:
    """A closed graph ``params -> outputs``, held in a control node's attrs (compared by identity)."""

    __slots__ = ("name", "params", "outputs", "_exec", "_program")

    def __init__(self, name: str, params, outputs):
        self.name = name
        self.params = tuple(params)
        self.outputs = tuple(outputs)
        self._exec = None
        self._program = None

    @property
    def program(self):
        """The sub-graph as a :class:`~staticad.program.Program` (what the backends compile)."""
        if self._program is None:
            from ..program import Program
            self._program = Program.build(self.name, self.params, self.outputs, [])
        return self._program

    def with_program(self, program) -> "SubGraph":
        """The same function computed by ``program`` (an optimized version of it)."""
        sub = SubGraph(self.name, program.inputs, program.outputs)
        sub._program = program
        return sub

    def run(self, values: list) -> list:
        """Evaluate with the reference evaluator (each op's NumPy rule)."""
        if self._exec is None:
            from ..evaluate import Interpreter
            self._exec = Interpreter(self.program)
        outs, _ = self._exec.run(list(values))
        return outs

    def types(self) -> list:
        return [(o.shape, o.dtype) for o in self.outputs]

    def __repr__(self):
        return f"<SubGraph {self.name}: {len(self.params)} params -> {len(self.outputs)} outputs>"


def trace(fn, args_like, what: str):
    """Call ``fn`` on fresh placeholders shaped like ``args_like``.

    Returns ``(params, outputs, single, captures)``: ``outputs`` the function's result as a list
    of tensors (Python scalars lifted), ``single`` whether it returned one tensor, ``captures``
    the outer tensors the outputs read (nodes built before the call, or sources that are not
    params), in first-use order. Nullary nodes (constants, fills) are never captured: shared leaves.
    """
    start = next(_graph._ids)
    params = [placeholder(t.shape, t.dtype, name=f"{what}_arg{i}") for i, t in enumerate(args_like)]
    result = fn(*params)
    single = not isinstance(result, (list, tuple))
    items = [result] if single else list(result)
    outputs = []
    for k, item in enumerate(items):
        if item is None or not (isinstance(item, Tensor) or _is_value(item)):
            raise TypeError(f"{what} must return tensors; item {k} is {type(item).__name__}")
        outputs.append(lift(item))
    param_set = set(params)

    def captured(node):  # nullary ops (constants, fills) are pure leaves: shared, not captured
        if node in param_set:
            return False
        return node.op.name in SOURCES or (node.id < start and bool(node.inputs))

    captures = [n for n in walk(outputs, lambda n: n in param_set or captured(n)) if captured(n)]
    return params, outputs, single, captures


def _is_value(x) -> bool:
    return isinstance(x, (bool, int, float, np.generic, np.ndarray))


def close(name: str, params, outputs, captures) -> SubGraph:
    """The sub-graph ``params + capture params -> outputs`` with every capture replaced by a param."""
    cparams = [placeholder(c.shape, c.dtype, name=f"{name}_cap{j}") for j, c in enumerate(captures)]
    mapping = {c: p for c, p in zip(captures, cparams)}
    keep = set(params) | set(captures)
    for node in walk(outputs, lambda n: n in keep or not n.inputs):
        if node in mapping or not node.inputs:
            continue
        ins = tuple(mapping.get(i, i) for i in node.inputs)
        if any(a is not b for a, b in zip(ins, node.inputs)):
            mapping[node] = Tensor(node.op, ins, node.attrs, node.shape, node.dtype)
    return SubGraph(name, list(params) + cparams, [mapping.get(o, o) for o in outputs])


def inline(sub: SubGraph, values) -> list:
    """The sub-graph's outputs rebuilt on ``values`` (one per param): fresh nodes, shapes re-inferred."""
    values = list(values)
    if len(values) != len(sub.params):
        raise RuntimeError(f"inline {sub.name}: {len(values)} values for {len(sub.params)} params")
    memo = {p: v for p, v in zip(sub.params, values)}
    for p, v in zip(sub.params, values):
        if v.dtype != p.dtype or len(v.shape) != len(p.shape):
            raise RuntimeError(f"inline {sub.name}: value {v.name} {_format_shape(v.shape)} {v.dtype} "
                               f"for param {p.name} {_format_shape(p.shape)} {p.dtype}")
    for node in walk(sub.outputs, lambda n: n in memo or not n.inputs):
        if node in memo or not node.inputs:
            continue
        memo[node] = apply(node.op, [memo.get(i, i) for i in node.inputs], **node.attrs)
    return [memo.get(o, o) for o in sub.outputs]

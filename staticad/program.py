"""What a backend compiles: the pruned, ordered graph of one ``sad.function``.

A :class:`Program` is backend-independent. It holds the inputs (placeholders), the roots
(outputs followed by update values) and every node the roots reach, in topological order.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from .graph import Variable, walk


@dataclass
class Program:
    name: str
    inputs: list            # placeholders, in call order
    outputs: list           # output tensors (flattened)
    updates: list           # (Variable, Tensor) pairs
    nodes: list = field(default_factory=list)  # topological order, sources included

    @property
    def roots(self) -> list:
        return list(self.outputs) + [value for _, value in self.updates]

    @classmethod
    def build(cls, name, inputs, outputs, updates) -> "Program":
        prog = cls(name, list(inputs), list(outputs), list(updates))
        prog.nodes = walk(prog.roots)
        return prog

    def variables(self) -> list:
        return [n for n in self.nodes if isinstance(n, Variable)]

    def structure_key(self):
        """A hash of everything that determines the compiled code: ops, attributes, wiring,
        shapes, dtypes, constant values, the names of inputs and Variables, outputs and updates
        (not the identity of Variables or their values). Two programs with the same key compile
        to the same source. ``None`` when an attribute has no plain-data form (e.g. the
        sub-graphs of control flow): such programs are not matched."""
        index = {node: i for i, node in enumerate(self.nodes)}
        h = hashlib.sha256(self.name.encode())
        try:
            for node in self.nodes:
                name = node.name if node.op.name in ("placeholder", "variable") else ""
                if re.fullmatch(r"(placeholder|Variable)_\d+", name):
                    name = "auto"  # automatic names carry a process-global counter
                item = (node.op.name, name, tuple(index[i] for i in node.inputs), node.shape,
                        node.dtype.str, _canon(node.attrs))
                h.update(repr(item).encode())
            h.update(repr(([_canon_var(p, index) for p in self.inputs], [index[o] for o in self.outputs],
                           [(_canon_var(v, index), index[val]) for v, val in self.updates])).encode())
        except _NoPlainForm:
            return None
        return h.hexdigest()

    def last_use(self) -> dict:
        """Node -> index of the last node (in ``nodes``) that reads it; roots live to the end."""
        last = {}
        for i, node in enumerate(self.nodes):
            for inp in node.inputs:
                last[inp] = i
        end = len(self.nodes)
        for r in self.roots:
            last[r] = end
        return last


class _NoPlainForm(Exception):
    pass


def _canon_var(var, index):
    """A source node's position, or its description when no output reads it (an unused input,
    a Variable that is only written)."""
    return index[var] if var in index else ("unread", var.op.name, var.name, var.shape, var.dtype.str)


def _canon(v):
    """Attribute values as plain data (for :meth:`Program.structure_key`)."""
    if v is None or isinstance(v, (bool, int, str)):
        return (type(v).__name__, v)
    if isinstance(v, float):
        return ("float", v.hex())
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest())
    if isinstance(v, np.generic):
        return ("scalar", v.dtype.str, v.tobytes())
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_canon(x) for x in v))
    if isinstance(v, slice):
        return ("slice", _canon(v.start), _canon(v.stop), _canon(v.step))
    if isinstance(v, dict):
        return ("dict", tuple(sorted((str(k), _canon(x)) for k, x in v.items())))
    raise _NoPlainForm(type(v).__name__)

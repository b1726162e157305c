"""What a backend compiles: the pruned, ordered graph of one ``sad.function``.

A :class:`Program` is backend-independent. It holds the inputs (placeholders), the roots
(outputs followed by update values) and every node the roots reach, in topological order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Tensor, Variable, walk


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


def describe(node: Tensor) -> str:
    """One line naming a node for schedules and error messages."""
    from .graph import _format_shape
    return f"{node.name}: {node.op.name} {_format_shape(node.shape)} {node.dtype}"

"""``prune_to_outputs``: drop every node the outputs and update values do not need."""
from __future__ import annotations

from ..program import Program


def prune_to_outputs(program: Program) -> Program:
    """Keep exactly the ancestors of the outputs and update values (and those roots).

    Guarantees: the result computes the same outputs and update values from the same
    placeholders and Variables; its ``nodes`` are in topological order, each once; no node
    is rebuilt (the surviving nodes are the very same objects). ``inputs`` are kept as
    declared even when an output ignores some of them (the call signature does not change).
    """
    return Program.build(program.name, program.inputs, program.outputs, program.updates)

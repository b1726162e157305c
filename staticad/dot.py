"""Graphviz DOT export of a graph."""
from __future__ import annotations

from .graph import Tensor, _format_shape, walk

_STYLE = {
    "placeholder": 'shape=box, style=filled, fillcolor="#cfe8ff"',
    "variable": 'shape=box, style=filled, fillcolor="#ffe0b3"',
    "constant": 'shape=note, style=filled, fillcolor="#eeeeee"',
}


def to_dot(outputs, name="staticad") -> str:
    """DOT text of everything ``outputs`` (a tensor or list) reach; outputs are double-circled."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    roots = set(outs)
    lines = [f'digraph "{name}" {{', "  rankdir=TB;", '  node [fontname="monospace", fontsize=10];']
    for node in walk(outs):
        label = f"{node.name}\\n{node.op.name} {_format_shape(node.shape)} {node.dtype}"
        style = _STYLE.get(node.op.name, "shape=ellipse")
        if node in roots:
            style += ", peripheries=2"
        lines.append(f'  n{node.id} [label="{label}", {style}];')
        for inp in node.inputs:
            lines.append(f"  n{inp.id} -> n{node.id};")
    lines.append("}")
    return "\n".join(lines) + "\n"

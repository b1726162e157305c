"""Graphviz DOT export of a graph (``sad.to_dot``).

``to_dot(outputs)`` draws everything the outputs reach; ``to_dot(f)`` for a compiled Function
draws the graph it runs (after the compiler's passes) with the updates as dashed edges into
their Variables, and, for the numba backend, every loop kernel as a cluster of the nodes fused
into it.

Forward and backward (derivative) nodes are drawn apart (backward ones red). ``forward=``
names the forward outputs (a tensor or a list): every non-source node they do not reach is
backward. By default, when there is more than one root and the first one is a scalar
(``[loss, *grads]``, a training step with updates), the first root is the forward output and
the nodes it does not reach are backward if they descend from a gradient seed (the fill of ones
``sad.grad`` starts from); for a compiled Function (whose passes fold seeds away) every node the
first output does not reach is backward. Otherwise every node is drawn as forward.
"""
from __future__ import annotations

from .graph import Tensor, _format_shape, walk

_STYLE = {
    "placeholder": 'shape=box, style=filled, fillcolor="#cfe8ff"',
    "variable": 'shape=box, style=filled, fillcolor="#ffe0b3"',
    "constant": 'shape=note, style=filled, fillcolor="#eeeeee"',
}
_SOURCES = ("placeholder", "variable", "constant")
_BACKWARD_STYLE = 'color="#c0392b", fontcolor="#c0392b", style=filled, fillcolor="#fdecea"'
_BACKWARD_EDGE = ' [color="#c0392b"]'
_SEED_OPS = ("full", "full_like")  # sad.grad seeds the backward pass with a fill of ones


def escape(text) -> str:
    """``text`` made safe inside a double-quoted DOT string."""
    return (str(text).replace("\\", "\\\\").replace('"', '\\"')
            .replace("\r", "").replace("\n", "\\n"))


def _flat(obj, out):
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _flat(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _flat(v, out)
    elif obj is not None:
        raise TypeError(f"to_dot: expected tensors, a list of tensors or a compiled function, "
                        f"got {type(obj).__name__}")
    return out


def to_dot(outputs, name="staticad", forward=None) -> str:
    """DOT text of everything ``outputs`` (a tensor, a list, or a compiled ``sad.function``)
    reach; outputs are double-circled, backward nodes red, numba kernels drawn as clusters.

    ``forward``: the forward outputs (tensor or list); nodes they do not reach are backward.
    """
    from .function import Function

    plan = None
    updates = []
    if isinstance(outputs, Function):
        fn = outputs
        prog = fn._exec.plan.program
        plan = fn._exec.plan if fn.backend.OPTIMIZES else None  # numpy: nodes as declared, no kernels
        roots = list(prog.roots)
        updates = list(prog.updates)
        nodes = list(prog.nodes)
        title = name if name != "staticad" else fn.name
        fwd = _function_forward(fn, prog, forward)
    else:
        roots = _flat(outputs, [])
        nodes = walk(roots)
        title = name
        fwd = _flat(forward, []) if forward is not None else _default_forward(roots)
    forward_set = set(walk(fwd)) if fwd else None
    backward = set()
    if forward_set is not None:
        # an explicit forward= (or a compiled function, whose passes fold the seeds away): every
        # other node is backward; by default only what descends from a gradient seed (a fill)
        need_seed = forward is None and plan is None and not isinstance(outputs, Function)
        for node in nodes:
            if node in forward_set or node.op.name in _SOURCES:
                continue
            if (not need_seed or node.op.name in _SEED_OPS
                    or any(i in backward for i in node.inputs)):
                backward.add(node)
        if need_seed and backward:
            # derivative helpers that read only forward values (cos(x) in the gradient of sin(x))
            # do not descend from the seed: a node outside the forward graph all of whose
            # readers are backward is backward too
            readers: dict = {}
            root_list = set(roots)
            for node in nodes:
                for i in node.inputs:
                    readers.setdefault(i, set()).add(node)
            for node in reversed(nodes):
                if (node not in forward_set and node not in backward and node.op.name not in _SOURCES
                        and node not in root_list and readers.get(node) and readers[node] <= backward):
                    backward.add(node)

    def is_backward(node):
        return node in backward

    root_set = set(roots)
    node_set = set(nodes)
    lines = [f'digraph "{escape(title)}" {{', "  rankdir=TB;", '  node [fontname="monospace", fontsize=10];']

    def node_line(node, indent="  "):
        label = "\\n".join(escape(part) for part in (
            node.name, f"{node.op.name} {_format_shape(node.shape)} {node.dtype}"))
        style = _STYLE.get(node.op.name, "shape=ellipse")
        if is_backward(node):
            style = (style + ", " if node.op.name in _SOURCES else "shape=ellipse, ") + _BACKWARD_STYLE
        if node in root_set:
            style += ", peripheries=2"
        return f'{indent}n{node.id} [label="{label}", {style}];'

    placed = set()
    if plan is not None:
        for k in plan.kernels:
            own = [n for n in k.nodes() if plan.kernel_of.get(n) is k and n in node_set]
            again = [n for n in k.nodes() if n not in own]
            ops = ", ".join(n.op.name for n in k.nodes())
            label = f"{k.name}: {ops}" + (f" (recomputes {', '.join(n.name for n in again)})" if again else "")
            lines.append(f"  subgraph cluster_{escape(k.name)} {{")
            lines.append(f'    label="{escape(label)}"; labeljust=l; style="rounded,filled"; '
                         'fillcolor="#f5f5f5"; color="#888888"; fontname="monospace"; fontsize=9;')
            for n in own:
                lines.append(node_line(n, "    "))
                placed.add(n)
            lines.append("  }")
    for node in nodes:
        if node not in placed:
            lines.append(node_line(node))
    for node in nodes:
        edge_style = _BACKWARD_EDGE if is_backward(node) else ""
        for inp in node.inputs:
            lines.append(f"  n{inp.id} -> n{node.id}{edge_style};")
    for var, value in updates:
        lines.append(f'  n{value.id} -> n{var.id} [style=dashed, label="update", constraint=false];')
    if forward_set is not None:
        lines.append('  label="black: forward, red: backward (derivative) nodes'
                     + (', boxes: fused loop kernels' if plan is not None else '') + '"; fontsize=9;')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _default_forward(roots):
    if len(roots) > 1 and roots[0].static_size == 1 and roots[0].inputs:
        return [roots[0]]
    return None


def _function_forward(fn, prog, forward):
    """Forward outputs in the graph ``fn`` runs (after its passes): a declared output maps to
    the output at the same position of the optimized program."""
    if forward is None:
        return _default_forward(list(prog.roots))
    mapping = dict(zip(fn.program.outputs, prog.outputs))
    present = set(prog.nodes)
    out = []
    for t in _flat(forward, []):
        if t in mapping:
            out.append(mapping[t])
        elif t in present:
            out.append(t)
    return out or None

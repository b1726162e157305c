"""``backward``: the reverse walk of :mod:`staticad.autodiff` over the recorded eager graph.

The walk is :func:`staticad.autodiff.reverse_accumulate`, the same one ``sad.grad`` uses; its
VJP rules are graph ops, which compute at once here because their operands are eager. With
``create_graph`` the rules record too, so gradients can be differentiated again.
"""
from __future__ import annotations

import sys

import numpy as np

from .. import autodiff
from ..graph import _format_shape, walk
from . import grad_mode, replay
from . import tensor as _tensor
from .tensor import EagerTensor, evaluate, to_eager

# PyTorch's names where they differ from the op's (the seeds print these).
_TORCH_NAMES = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "negative": "Neg",
                "power": "Pow", "getitem": "Slice", "absolute": "Abs", "maximum": "Maximum",
                "minimum": "Minimum", "broadcast_to": "Expand", "transpose": "Permute", "reshape": "View",
                "astype": "ToCopy", "log_softmax": "LogSoftmax", "logsumexp": "Logsumexp"}


def _camel(op_name: str) -> str:
    return _TORCH_NAMES.get(op_name) or "".join(p.capitalize() for p in op_name.split("_"))


class AccumulateGrad:
    """The end of a backward path: a leaf that requires grad (``.variable``)."""

    name = "AccumulateGrad"
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def __repr__(self):
        return "<AccumulateGrad>"


class GradFn:
    """A view of a recorded node, PyTorch style: ``name`` (``"SinBackward"``) and ``next_functions``
    (one ``(fn, 0)`` per input: a GradFn, an AccumulateGrad, or ``None`` where no gradient flows)."""

    def __init__(self, node: EagerTensor):
        self.node = node
        name = node.op.name
        if name == "matmul":  # PyTorch names the product by its operands' ranks
            ranks = tuple(len(i.shape) for i in node.inputs)
            name = {(1, 1): "dot", (2, 2): "mm", (2, 1): "mv"}.get(ranks, "matmul")
        self.name = _camel(name) + "Backward"

    @property
    def next_functions(self):
        out = []
        for inp in self.node.inputs:
            if inp._eager and inp._requires_grad:
                out.append((inp.grad_fn if inp._saved is not None else _accumulate_of(inp), 0))
            else:
                out.append((None, 0))
        return tuple(out)

    def __repr__(self):
        return f"<{self.name}>"


def _accumulate_of(leaf):
    if leaf._fn is None:
        leaf._fn = AccumulateGrad(leaf)
    return leaf._fn


def _recorded_path(root: EagerTensor):
    """Recorded nodes and grad-requiring leaves reachable from ``root``, every input before its
    users (graph.walk over the inputs that require grad)."""
    return walk([root], follow=lambda inp: inp._eager and inp._requires_grad)


def _check(path) -> None:
    for node in path:
        if node._saved is None:
            continue
        if node._freed:
            raise RuntimeError(
                f"backward through the graph a second time: the values saved by {node.grad_fn.name} were freed "
                "by the first backward. Pass retain_graph=True to the first backward (t.backward(retain_graph="
                "True)) if you need to run backward over the same graph again, or recompute the forward pass")
        for inp, version in zip(node.inputs, node._saved):
            if inp._eager and inp._version[0] != version:
                raise RuntimeError(
                    f"a tensor needed by {node.grad_fn.name} for the backward pass was modified by an in-place "
                    f"operation (shape {_format_shape(inp.shape)}, version {inp._version[0]}, expected "
                    f"{version}); compute a new tensor instead of the in-place op (e.g. `y = y + 1` instead "
                    "of `y += 1`), or clone() it before changing it")


def _seed(root: EagerTensor, gradient):
    if gradient is None:
        if root._value.size != 1:
            raise RuntimeError(
                f"backward() of a tensor of shape {_format_shape(root.shape)}: a gradient is created implicitly "
                "only for one-element outputs; pass gradient= (an array of the same shape, e.g. "
                "t.backward(gradient=ones)) or reduce first (t.sum().backward())")
        return EagerTensor(np.ones(root.shape, root.dtype))
    g = to_eager(gradient)
    if g.shape != root.shape:
        raise RuntimeError(f"backward(): gradient has shape {_format_shape(g.shape)}, the tensor has shape "
                           f"{_format_shape(root.shape)}; they must match")
    if g.dtype != root.dtype:
        g = EagerTensor(g._value.astype(root.dtype)) if not g._requires_grad else g.astype(root.dtype)
    return g


def _accumulate(targets, values, create_graph) -> None:
    for node, g in zip(targets, values):
        if g is None:  # no gradient reached it
            continue
        if create_graph:
            node.grad = g if node.grad is None else node.grad + g
        elif node.grad is None:
            node.grad = EagerTensor(np.array(g._value, dtype=node.dtype, copy=True))
        else:
            node.grad._value += g._value  # accumulate in place, as PyTorch does
            node.grad._version[0] += 1


def backward(root: EagerTensor, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """See :meth:`EagerTensor.backward`."""
    if not root._requires_grad:
        raise RuntimeError("backward() of a tensor that does not require grad and has no grad_fn: create the "
                           "inputs with requires_grad=True (or call x.requires_grad_()) before computing it, "
                           "outside sad.no_grad()")
    if retain_graph is None:
        retain_graph = create_graph
    seed = _seed(root, gradient)
    wanted = None if inputs is None else {id(t) for t in (inputs if isinstance(inputs, (list, tuple)) else [inputs])}
    path = _recorded_path(root)
    _check(path)
    targets = [node for node in path if (node._saved is None or node._retain)
               and (wanted is None or id(node) in wanted)]
    key = replay.tape_key(path, seed) if not create_graph and wanted is None else None
    program = replay.lookup(key) if key is not None else None
    if program is not None:  # the same tape structure as before: replay its backward program
        with np.errstate(all="ignore"):
            got = iter(program.run(path, seed))
        _accumulate(targets, [EagerTensor(next(got)) if r else None for r in program.reached], False)
        if not retain_graph:
            for node in path:
                if node._saved is not None:
                    node._freed = True
        return
    state = grad_mode._state
    prev, prev_defer = grad_mode.is_grad_enabled(), state.__dict__.get("defer", False)
    # create_graph: the rules run eagerly and record (differentiable grads); otherwise they build
    # a graph over the recorded values, and only what the leaves need is evaluated (as graphs are)
    grad_mode.set_grad_enabled(bool(create_graph))
    state.defer = not create_graph
    try:
        with np.errstate(all="ignore"):  # rules evaluate unselected where-branches (log(0) and the like)
            grads = autodiff.reverse_accumulate(path, set(path), {root: seed})
            reached = [n for n in targets if n in grads]
            if create_graph:
                values = [to_eager(grads[n]) if n in grads else None for n in targets]
            else:
                state.defer = False
                roots = [grads[n] for n in reached]
                program = None
                if key is not None and replay.seen_before(key):
                    try:
                        program = replay.compile(path, seed, roots)
                    except replay.Uncacheable:
                        pass
                if program is not None:
                    program.reached = tuple(n in grads for n in targets)
                    replay.store(key, program)
                    got = iter(program.run(path, seed))
                else:
                    got = iter(evaluate(roots))
                values = [EagerTensor(next(got)) if n in grads else None for n in targets]
    finally:
        grad_mode.set_grad_enabled(prev)
        state.defer = prev_defer
    _accumulate(targets, values, create_graph)
    if not retain_graph:
        for node in path:
            if node._saved is not None:
                node._freed = True


_tensor.bind_tape(sys.modules[__name__])  # EagerTensor.backward() and .grad_fn run here

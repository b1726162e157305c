"""The batching transform (like JAX's ``vmap``), on graphs: one graph for a whole batch of values.

:func:`batch` takes a graph (its ``outputs``) and a few of its nodes to replace by *batched*
values, tensors with an extra leading axis of size ``size``: element ``b`` of the batch is what
the node would be for the ``b``-th value. Every node that depends on a replaced node is rebuilt
by its op's *batching rule*, which receives the node and its inputs' new values (each batched or
not) and returns the batched (or, when every element of the batch is equal, unbatched) value.
Nodes that depend on no replaced node are kept as they are. The size of the result does not grow
with ``size``: that is what lets :func:`staticad.jacobian` and :func:`staticad.hessian` build one
batched JVP/VJP graph whose input tangents/cotangents are the rows of an identity matrix instead
of one graph per Jacobian row or column.

Invariant: a batched value of node ``t`` has rank ``1 + t.ndim`` and run-time shape
``(size,) + t's run-time shape``, and ``t``'s dtype. An unbatched value has ``t``'s shape and dtype.

Each op carries its rule (``Op.batch``, defined with the op; helpers in
:mod:`staticad.ops._batch`). ``B`` the batch size; "aligned" = size-1 axes inserted right after
the batch axis so numpy broadcasting never lines the batch axis up with an operand's axis:

* elementwise ops (every op flagged ``elementwise``: arithmetic, math, comparisons, ``where``,
  ``clip``, ``astype``, ``stop_gradient``): batched operands aligned to ``1 + out.ndim``.
* ``sum max min prod``: axes shifted by 1 (the batch axis is never reduced); ``count``: the
  same count (unbatched); ``norm``: per batch element, ``sqrt`` of a sum of squares with
  ``norm``'s gradient convention at 0 kept.
* ``matmul``: operands promoted to matrices and aligned so the batch axis is a leading batch
  dim of numpy's batched matmul (one matmul for 1-D, 2-D and batched operands).
* ``reshape``: ``(B,) + shape``; ``transpose expand_dims squeeze``: axes shifted;
  ``broadcast_to``: aligned, to ``(B,) + shape``; ``getitem``: a full slice prefixed;
  ``concatenate``: unbatched operands broadcast over the batch, axis + 1.
* ``*_like`` ops (``sum_to_like broadcast_like reshape_like getitem_grad concat_part
  full_like``): the reference tensor only gives a run-time shape. A batched reference with
  unbatched data is replaced by its element 0 (the result is unbatched); batched data with an
  unbatched reference gets the reference broadcast over the batch (or static ``sum``/``reshape``
  /``getitem`` when the shapes are known).
* ``full_like`` of a batched tensor: the same fill, unbatched.

Control flow (``while_loop``, ``cond``, ``tuple_get``, ``stack_read``): see
:mod:`staticad.control.batching`; a multi-output node's batched value is a list of values
with a list of flags. An op without a rule raises :class:`NotBatchable`; :func:`staticad.jacobian` then falls back to
building the Jacobian column by column.
"""
from __future__ import annotations

from typing import Callable

from .graph import Tensor, _format_shape, apply, walk
from .ops import _batch


class NotBatchable(Exception):
    """Raised when the graph to batch holds an op that has no batching rule."""

    def __init__(self, op_name: str):
        super().__init__(f"op {op_name!r} has no batching rule")
        self.op_name = op_name


def rule_for(op) -> Callable | None:
    """The batching rule of ``op`` (``None`` when it has none)."""
    if op.batch is not None:
        return op.batch
    return _batch.elementwise if op.elementwise else None


# --- the transform --------------------------------------------------------------------------------
def batch(outputs, batched_values: dict, size: int) -> list:
    """Batch the graph of ``outputs``: ``batched_values`` maps nodes to their batched values.

    Returns ``[(value, is_batched)]`` for each output. Raises :class:`NotBatchable` when a node
    that depends on a batched value has an op without a rule (before building anything that
    would be left in the graph: the check runs over the whole graph first).
    """
    outputs = list(outputs)
    size = int(size)
    for node, value in batched_values.items():
        _check(node, value, True, size, "batched value")
    order = walk(outputs)
    depends: set = set()
    for node in order:
        if node in batched_values or any(i in depends for i in node.inputs):
            depends.add(node)
            if node not in batched_values and rule_for(node.op) is None:
                raise NotBatchable(node.op.name)
    memo: dict = {}
    for node in order:
        if node in batched_values:
            memo[node] = (batched_values[node], True)
            continue
        if node not in depends:
            memo[node] = (node, False)
            continue
        vals = [memo[i][0] for i in node.inputs]
        flags = [memo[i][1] for i in node.inputs]
        if not any(flags):  # inputs changed (a rule unbatched them) but carry no batch axis
            out = (apply(node.op, vals, **node.attrs), False)
        else:
            out = rule_for(node.op)(node, vals, flags, size)
        if node.op.extra.get("multi_output"):  # control flow: a list of values and a list of flags
            memo[node] = out
            continue
        _check(node, out[0], out[1], size, f"batching rule of {node.op.name!r}")
        memo[node] = out
    return [memo[o] for o in outputs]


def _check(node: Tensor, value: Tensor, is_batched: bool, size: int, what: str) -> None:
    want = ((size,) if is_batched else ()) + tuple(node.shape)
    ok = value.ndim == len(want) and all(a is None or b is None or a == b for a, b in zip(value.shape, want))
    if not ok or value.dtype != node.dtype:
        raise RuntimeError(f"{what} for {node.name!r} gave shape {_format_shape(value.shape)} {value.dtype}; "
                           f"expected {_format_shape(want)} {node.dtype}")

"""Batching a graph over one-hot seeds without materialising the identity matrix.

:func:`staticad.jacobian` and :func:`staticad.hessian` batch a JVP/VJP graph over the ``n`` basis
vectors ``e_0 .. e_{n-1}`` of the seed's space. Fed as an ``(n, n)`` identity constant, every op
that touches the seed does ``n * n`` work on a matrix of zeros (an ``eye @ x`` product, products
with the identity in the fused kernels). Most ops of a JVP/VJP are linear in the seed, so the
batched value of such a node is often *diagonal*: element ``b`` is ``v * e_b`` for one tensor
``v`` of the node's shape (``v`` = the node's value for the all-ones seed). :func:`batch_one_hot`
propagates that form (``n`` values, not ``n * n``) while it holds:

* ``v * e_b`` times/divided by a seed-independent ``u``, plus/minus/times another diagonal, negated,
  cast or reshaped: still diagonal;
* a full ``sum`` of it is ``v[b]``, a vector product ``u @ (v e_b)`` is ``u[b] v[b]``, a
  matrix-vector product is a column of the matrix scaled by ``v[b]``: batched, dense, ``n`` or
  ``n * m`` values, built directly (the gather the identity product stood for);
* any other consumer gets the diagonal materialised as ``where(i == j, v[j], 0)``, which code
  generators fuse into their loops (index comparisons, no ``(n, n)`` constant read), and
  :func:`staticad.batching.batch` batches the rest of the graph as usual.

The result is :func:`~staticad.batching.batch`'s: ``[(value, is_batched)]`` per output.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .graph import Tensor, constant, walk

_SCALE = {"multiply", "divide"}   # diagonal (op) seed-independent: diagonal
_LINEAR = {"add", "subtract"}     # diagonal (op) diagonal: diagonal


def _static_shape(t: Tensor):
    return None if any(d is None for d in t.shape) else tuple(int(d) for d in t.shape)


def _broadcasts_into(u: Tensor, shape) -> bool:
    """``u`` broadcasts to ``shape`` without enlarging it."""
    us = _static_shape(u)
    if us is None or len(us) > len(shape):
        return False
    return all(a == 1 or a == b for a, b in zip(us[::-1], shape[::-1]))


def materialize(v: Tensor, n: int, shape) -> Tensor:
    """The batched value ``(n,) + shape`` whose element ``b`` is ``v * e_b`` (``v`` of ``shape``)."""
    idx = np.arange(n)
    eye = ops.equal(constant(idx.reshape(n, 1)), constant(idx.reshape(1, n)))
    flat = ops.where(eye, ops.reshape(v, (1, n)), ops.zeros((), v.dtype))
    return ops.reshape(flat, (n,) + tuple(shape))


def _rule(node: Tensor, diag: dict, depends: set, n: int):
    """``("diag", v)``, ``("dense", batched value)`` or ``None`` (materialise the inputs)."""
    name = node.op.name
    shape = _static_shape(node)
    ins = node.inputs
    if shape is None:
        return None
    if name == "sum" and ins[0] in diag and not node.attrs.get("keepdims") \
            and len(node.attrs["axes"]) == ins[0].ndim:
        return "dense", ops.astype(ops.reshape(diag[ins[0]], (n,)), node.dtype)
    if name == "matmul":
        return _matmul(node, diag, depends, n)
    if int(np.prod(shape, dtype=np.int64)) != n:  # only a node of the seed's size can be diagonal
        return None
    if name in ("negative", "astype", "reshape") and len(ins) == 1 and ins[0] in diag:
        v = diag[ins[0]]
        if name == "negative":
            return "diag", ops.negative(v)
        if name == "astype":
            return "diag", ops.astype(v, node.dtype)
        return "diag", ops.reshape(v, shape)
    if len(ins) != 2:
        return None
    a, b = ins
    if name in _LINEAR and a in diag and b in diag:
        va, vb = diag[a], diag[b]
    elif name == "multiply" and a in diag and b in diag:
        va, vb = diag[a], diag[b]   # (v e_b)(w e_b) = (v w) e_b
    elif name in _SCALE and a in diag and b not in depends and _broadcasts_into(b, shape):
        va, vb = diag[a], b
    elif name == "multiply" and b in diag and a not in depends and _broadcasts_into(a, shape):
        va, vb = a, diag[b]
    else:
        return None
    if _static_shape(va) is None or _static_shape(vb) is None:
        return None
    out = {"add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply,
           "divide": ops.divide}[name](va, vb)
    if _static_shape(out) != shape or out.dtype != node.dtype:
        return None
    return "diag", out


def _matmul(node: Tensor, diag: dict, depends: set, n: int):
    """Products of a diagonal 1-D operand with a seed-independent one (the gathers)."""
    a, b = node.inputs
    if a in diag and b not in depends and a.ndim == 1:
        v, other, left = diag[a], b, True
    elif b in diag and a not in depends and b.ndim == 1:
        v, other, left = diag[b], a, False
    else:
        return None
    if other.ndim == 1:       # u . (v e_b) = u[b] v[b]
        out = ops.multiply(other, v)
    elif other.ndim == 2 and left:   # (v e_b) @ M = v[b] M[b, :]
        out = ops.multiply(ops.expand_dims(v, 1), other)
    elif other.ndim == 2:     # M @ (v e_b) = v[b] M[:, b]: batched (n, m)
        out = ops.transpose(ops.multiply(other, ops.expand_dims(v, 0)))
    else:
        return None
    if _static_shape(out) != (n,) + tuple(_static_shape(node) or ()) or out.dtype != node.dtype:
        return None
    return "dense", out


def batch_one_hot(outputs, seed: Tensor, n: int) -> list:
    """``batch(outputs, {seed: identity seeds}, n)`` without the identity (see module doc).

    ``seed``'s static size must be ``n``; element ``b`` of the batch is the graph for
    ``seed = e_b`` (reshaped to ``seed``'s shape). Raises
    :class:`~staticad.batching.NotBatchable` like :func:`~staticad.batching.batch`.
    """
    from .batching import batch, rule_for
    outputs = list(outputs)
    order = walk(outputs)
    depends = {seed}
    for node in order:
        if any(i in depends for i in node.inputs):
            depends.add(node)
    diag = {seed: ops.ones(tuple(seed.shape), seed.dtype)}
    replaced: dict = {}

    def materialized(t):
        if t not in replaced:
            replaced[t] = materialize(diag[t], n, tuple(t.shape))
        return replaced[t]

    for node in order:
        if node is seed or not any(i in diag for i in node.inputs):
            continue
        # an op batch() cannot batch keeps failing (NotBatchable: the caller's column fallback)
        got = None if node.op.extra.get("multi_output") or rule_for(node.op) is None \
            else _rule(node, diag, depends, n)
        if got is None:
            for i in node.inputs:
                if i in diag:
                    materialized(i)
        elif got[0] == "diag":
            diag[node] = got[1]
        else:
            replaced[node] = got[1]
    for o in outputs:
        if o in diag:
            materialized(o)
    return batch(outputs, replaced, n)

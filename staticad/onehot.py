"""Batching a graph over one-hot seeds without materialising the identity matrix.

:func:`staticad.jacobian` and :func:`staticad.hessian` batch a JVP/VJP graph over the ``n`` basis
vectors ``e_0 .. e_{n-1}`` of the seed's space. Fed as an ``(n, n)`` identity constant, every op
that touches the seed does ``n * n`` work on a matrix of zeros (an ``eye @ x`` product, products
with the identity in the fused kernels). Most ops of a JVP/VJP are linear in the seed, so a
node's batched value is often *dense + diagonal*: element ``b`` is ``a_b + v * e_b``, with ``a``
an ordinary batched (or unbatched) value, possibly absent, and ``v`` ONE tensor of the node's
shape. :func:`batch_one_hot` keeps that form (``n`` values for the diagonal, not ``n * n``) while
it holds:

* times/divided by a seed-independent ``u``, plus/minus another such value or a seed-independent
  one, negated, cast or reshaped: both parts follow (the dense part by :mod:`staticad.batching`'s
  rule); the product of two pure diagonals is diagonal;
* a full ``sum`` of a pure diagonal is ``v[b]``, a product with a seed-independent vector is
  ``u[b] v[b]``, with a matrix a scaled row or column: batched and dense, built directly (the
  gathers the products with the identity stood for);
* any other consumer gets it materialised, ``a + where(i == j, v[j], 0)``: one select per element,
  fused by the code generators with index comparisons (no ``(n, n)`` constant to read), and
  is batched by the op's ordinary rule.

Ops without a batching rule raise :class:`~staticad.batching.NotBatchable` exactly as
:func:`~staticad.batching.batch` does (the caller falls back to column-by-column Jacobians).
"""
from __future__ import annotations

import numpy as np

from . import ops
from .graph import Tensor, apply, constant, walk


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


class _Form:
    """Batched value ``a_b + v * e_b``; ``a`` None (pure diagonal), batched or unbatched."""
    __slots__ = ("a", "batched", "v")

    def __init__(self, a, batched, v):
        self.a, self.batched, self.v = a, batched, v


def _dense_part(node, parts, n):
    """The op applied to the dense parts (``(value, batched)`` or None per input) or None."""
    from .batching import rule_for
    vals = [p[0] for p in parts]
    flags = [p[1] for p in parts]
    if any(flags):
        return rule_for(node.op)(node, vals, flags, n)
    return apply(node.op, vals, **node.attrs), False


def _gather(node, x_form, other, left, n):
    """``x @ other`` (``left``) or ``other @ x`` for a pure diagonal 1-D ``x``: batched, dense."""
    v = x_form.v
    if other.ndim == 1:                  # u . (v e_b) = u[b] v[b]
        out = ops.multiply(other, v)
    elif other.ndim == 2 and left:       # (v e_b) @ M = v[b] M[b, :]
        out = ops.multiply(ops.expand_dims(v, 1), other)
    elif other.ndim == 2:                # M @ (v e_b) = v[b] M[:, b]
        out = ops.transpose(ops.multiply(other, ops.expand_dims(v, 0)))
    else:
        return None
    return out


def _structured(node, ins, n):
    """The batched value of ``node`` from its inputs' (``_Form`` or ``(value, batched)``): a
    ``_Form``, a dense ``(value, True)``, or None (materialise the forms, use the op's rule)."""
    name = node.op.name
    shape = _static_shape(node)
    if shape is None:
        return None
    forms = [isinstance(i, _Form) for i in ins]
    if name == "sum" and forms[0] and ins[0].a is None and not node.attrs["keepdims"] \
            and len(node.attrs["axes"]) == node.inputs[0].ndim:
        out = ops.astype(ops.reshape(ins[0].v, (n,)), node.dtype)
        return (out, True) if out.shape == (n,) else None
    if name == "matmul":
        (x, other), left = (ins, True) if forms[0] else (ins[::-1], False)
        if sum(forms) != 1 or x.a is not None or other[1] or node.inputs[0 if left else 1].ndim != 1:
            return None
        out = _gather(node, x, other[0], left, n)
        if out is None or _static_shape(out) != (n,) + shape or out.dtype != node.dtype:
            return None
        return out, True
    if int(np.prod(shape, dtype=np.int64)) != n:  # only a node of the seed's size has a diagonal
        return None

    def part(i):
        return None if ins[i].a is None else (ins[i].a, ins[i].batched)

    if name in ("negative", "astype", "reshape") and len(ins) == 1:
        f = ins[0]
        v = {"negative": lambda: ops.negative(f.v), "astype": lambda: ops.astype(f.v, node.dtype),
             "reshape": lambda: ops.reshape(f.v, shape)}[name]()
        dense = None if f.a is None else _dense_part(node, [part(0)], n)
        return _form(node, shape, n, dense, v)
    if len(ins) != 2 or name not in ("add", "subtract", "multiply", "divide"):
        return None
    x, y = ins
    if name in ("add", "subtract"):
        fx = x if forms[0] else _Form(x[0], x[1], None)
        fy = y if forms[1] else _Form(y[0], y[1], None)
        if fx.v is None:
            v = ops.negative(fy.v) if name == "subtract" else fy.v
        elif fy.v is None:
            v = fx.v
        else:
            v = apply(node.op, [fx.v, fy.v])
        if fx.a is None and fy.a is None:
            dense = None
        elif fx.a is None or fy.a is None:
            a, ab = (fy.a, fy.batched) if fx.a is None else (fx.a, fx.batched)
            if name == "subtract" and fx.a is None:
                a = ops.negative(a)
            dense = (a, ab)
        else:
            dense = _dense_part(node, [(fx.a, fx.batched), (fy.a, fy.batched)], n)
        return _form(node, shape, n, dense, v)
    if all(forms):  # (v e_b)(w e_b) = (v w) e_b; with dense parts it is no longer diagonal
        if name != "multiply" or x.a is not None or y.a is not None:
            return None
        return _form(node, shape, n, None, ops.multiply(x.v, y.v))
    f, (u, u_batched) = (x, y) if forms[0] else (y, x)
    if u_batched or (name == "divide" and not forms[0]) or not _broadcasts_into(u, shape):
        return None
    v = apply(node.op, [f.v, u] if forms[0] else [u, f.v])
    dense = None
    if f.a is not None:
        parts = [(f.a, f.batched), (u, False)] if forms[0] else [(u, False), (f.a, f.batched)]
        dense = _dense_part(node, parts, n)
    return _form(node, shape, n, dense, v)


def _form(node, shape, n, dense, v):
    """A ``_Form`` when its parts have the node's shape and dtype, else None."""
    if _static_shape(v) != shape or v.dtype != node.dtype:
        return None
    if dense is None:
        return _Form(None, False, v)
    a, batched = dense
    if a.dtype != node.dtype:
        return None
    if batched and _static_shape(a) != (n,) + shape:
        return None
    if not batched and not _broadcasts_into(a, shape):
        return None
    return _Form(a, batched, v)


def _dense(form: _Form, n: int, shape):
    m = materialize(form.v, n, shape)
    if form.a is None:
        return m
    return ops.add(form.a, m)  # an unbatched a broadcasts from the right; a batched one has m's shape


def batch_one_hot(outputs, seed: Tensor, n: int) -> list:
    """``batch(outputs, {seed: identity seeds}, n)`` without the identity (see module doc):
    ``[(value, is_batched)]`` per output.

    ``seed``'s static size must be ``n``; element ``b`` of the batch is the graph for
    ``seed = e_b`` (reshaped to ``seed``'s shape).
    """
    from .batching import NotBatchable, _check, rule_for
    outputs = list(outputs)
    order = walk(outputs)
    depends = {seed}
    for node in order:  # as batch(): refuse before building anything
        if node is not seed and any(i in depends for i in node.inputs):
            depends.add(node)
            if rule_for(node.op) is None:
                raise NotBatchable(node.op.name)
    forms = {seed: _Form(None, False, ops.ones(tuple(seed.shape), seed.dtype))}
    memo: dict = {}

    def value(t):
        """``(value, batched)`` of ``t``, materialising its form once."""
        if t not in memo:
            memo[t] = (_dense(forms[t], n, tuple(t.shape)), True)
        return memo[t]

    for node in order:
        if node is seed:
            continue
        if node not in depends:
            memo[node] = (node, False)
            continue
        multi = node.op.extra.get("multi_output")
        got = None
        if not multi and any(i in forms for i in node.inputs):
            got = _structured(node, [forms[i] if i in forms else memo[i] for i in node.inputs], n)
        if isinstance(got, _Form):
            forms[node] = got
            continue
        if got is not None:
            out = got
        else:
            parts = [value(i) if i in forms else memo[i] for i in node.inputs]
            vals, flags = [p[0] for p in parts], [p[1] for p in parts]
            if not any(flags):
                out = (apply(node.op, vals, **node.attrs), False)
            else:
                out = rule_for(node.op)(node, vals, flags, n)
            if multi:  # control flow: a list of values and a list of flags
                memo[node] = out
                continue
        _check(node, out[0], out[1], n, f"batching rule of {node.op.name!r}")
        memo[node] = out
    return [value(o) if o in forms else memo[o] for o in outputs]

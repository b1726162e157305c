"""``fuse_gemm_updates``: an update ``W - lr * (a @ b)`` becomes one ``gemm_update`` node.

An SGD step of a weight matrix is a gradient GEMM followed by an elementwise pass
``W - lr * grad``. Written as ``c + alpha * (a @ b)`` (:data:`~staticad.ops.linalg.GEMM_UPDATE`)
a backend runs it as one BLAS call with ``beta = 1`` accumulating into the Variable's next
storage: no temporary for the product (a fresh allocation per call, page faults for a large
one) and no second pass over it (issue 15: the mlp step spent a sixth of its time there).

Matched, for an update value ``u`` of a Variable (only there: the rewrite pays off where the
result has a buffer of its own, and a gradient GEMM feeding anything else stays a plain matmul):

* ``u = c - k * (a @ b)``, ``c - (a @ b) * k``, ``c - (a @ b)`` -> ``alpha = -k`` (or ``-1``);
* ``u = c + k * (a @ b)`` (either operand order), ``c + (a @ b)`` -> ``alpha = k`` (or ``1``);

where ``k`` is a compile-time constant whose elements all equal one value, ``a @ b`` is a
product of two matrices read by nothing else (the multiply by ``k`` too), and ``c``, the
product, the scaled product and ``u`` all have one float dtype and the same static shape (no
broadcasting can hide in the sum). ``k * x`` is rounded like ``alpha * x`` (same dtype, same
value), but BLAS scales the product before rounding it to the dtype, so results may differ
from the unfused graph in the last bit.

:func:`~.plan.make_plan` runs it for every compiling backend (numba: one GEMM with beta = 1,
see ``numba_library._lib_gemm_update``; CUDA: its matmul then one elementwise pass); the numpy
backend runs the graph as declared.
"""
from __future__ import annotations

import numpy as np

from ..graph import Tensor
from ..ops import elementwise as _ew, linalg as _la
from ..program import Program
from .rewrite import rewrite
from .simplify import uniform_value

_FLOATS = ("float32", "float64")


def _uses(program: Program) -> dict:
    """node -> how many times it is read (as an input, an output or an update value)."""
    uses: dict = {}
    for node in program.nodes:
        for i in node.inputs:
            uses[i] = uses.get(i, 0) + 1
    for r in program.roots:
        uses[r] = uses.get(r, 0) + 1
    return uses


def _static(t: Tensor) -> bool:
    return all(isinstance(d, int) for d in t.shape)


def _scaled_product(t: Tensor, uses: dict, like: Tensor):
    """``(k, where)`` when ``t`` is ``a @ b`` (k = 1, where ``None``) or ``k * (a @ b)`` /
    ``(a @ b) * k`` (where: the product's input index), read only by its one consumer, of
    ``like``'s dtype and static shape; else ``None``."""
    if t.dtype != like.dtype or tuple(t.shape) != tuple(like.shape) or uses.get(t) != 1:
        return None
    if t.op is _la.MATMUL:
        if all(i.ndim == 2 and i.dtype == t.dtype for i in t.inputs):
            return 1.0, None
        return None
    if t.op is not _ew.MULTIPLY:
        return None
    for where, (mm, k) in enumerate((t.inputs, t.inputs[::-1])):
        if mm.op is not _la.MATMUL or k.op is _la.MATMUL:
            continue
        value = uniform_value(k)
        # BLAS skips the product when alpha is 0 (no NaN from 0 * inf); t's shape and dtype,
        # checked above, are mm's, so k neither broadcasts nor promotes it
        if value is None or not np.isfinite(value) or value == 0:
            continue
        if _scaled_product(mm, uses, like) is not None:
            return float(value), where
    return None


def _match(node: Tensor, uses: dict):
    """``(index of c in node.inputs, where, alpha)`` when ``node`` is ``c +/- k * (a @ b)`` as
    described above (``where``: see :func:`_scaled_product`)."""
    if node.op not in (_ew.ADD, _ew.SUBTRACT) or node.dtype.name not in _FLOATS or not _static(node) \
            or node.ndim != 2:
        return None
    for ci in ((0,) if node.op is _ew.SUBTRACT else (0, 1)):
        c, scaled = node.inputs[ci], node.inputs[1 - ci]
        if c.dtype != node.dtype or tuple(c.shape) != tuple(node.shape):
            continue
        found = _scaled_product(scaled, uses, node)
        if found is not None:
            k, where = found
            return ci, where, (-k if node.op is _ew.SUBTRACT else k)
    return None


def fuse_gemm_updates(program: Program) -> Program:
    """``program`` with every matched update value replaced by a ``gemm_update`` node (see the
    module doc); the product and its scaling are dropped when nothing else reads them."""
    values = {val for _, val in program.updates}
    if not values or not any(n.op is _la.MATMUL for n in program.nodes):
        return program
    uses = _uses(program)
    matches = {}
    for val in values:
        m = _match(val, uses)
        if m is not None:
            matches[val] = m
    if not matches:
        return program

    def replace(node, original):
        m = matches.get(original)
        if m is None:
            return None
        ci, where, alpha = m
        # read from the rewritten node: the matched nodes keep their ops, their inputs may be new
        scaled = node.inputs[1 - ci]
        mm = scaled if where is None else scaled.inputs[where]
        return _la.gemm_update(node.inputs[ci], *mm.inputs, alpha)

    return rewrite(program, replace, "fuse_gemm_updates")

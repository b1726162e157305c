"""Matrix products and the 2-norm."""
from __future__ import annotations

import numpy as np

from ..graph import apply, broadcast_shapes
from . import _batch
from . import symbolic as _sym
from ._util import fmt, lift_operands
from ..registry import Reduction, defop


def _infer_matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have rank >= 1, got {fmt(a.shape)} @ {fmt(b.shape)}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(f"matmul: shapes {fmt(a.shape)} and {fmt(b.shape)} are not aligned "
                         f"(inner dims {ka} != {kb})")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], op_name="matmul batch dims") if (a.ndim > 2 or b.ndim > 2) else ()
    rows = (a.shape[-2],) if a.ndim >= 2 else ()
    cols = (b.shape[-1],) if b.ndim >= 2 else ()
    return batch + rows + cols, np.result_type(a.dtype, b.dtype)


def _matmul_vjp(g, out, a, b):
    from .shape import expand_dims, squeeze, swapaxes
    from .elementwise import multiply
    if a.ndim == 1 and b.ndim == 1:
        return [multiply(g, b), multiply(g, a)]
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, -1) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = expand_dims(g2, g2.ndim - 1)
    if b.ndim == 1:
        g2 = expand_dims(g2, g2.ndim)
    ga = matmul(g2, swapaxes(b2, -1, -2))
    gb = matmul(swapaxes(a2, -1, -2), g2)
    if a.ndim == 1:
        ga = squeeze(ga, ga.ndim - 2)
    if b.ndim == 1:
        gb = squeeze(gb, gb.ndim - 1)
    return [ga, gb]  # batch dims are summed back to each input's shape by the walker


def _matmul_jvp(ts, out, a, b):
    from .elementwise import _tadd
    return _tadd(None if ts[0] is None else matmul(ts[0], b), None if ts[1] is None else matmul(a, ts[1]))


def _matmul_symshape(node, ins):
    sa, sb = ins
    batch = _sym.broadcast_sym(sa[:-2], sb[:-2]) if (len(sa) > 2 or len(sb) > 2) else ()
    rows = (sa[-2],) if len(sa) >= 2 else ()
    cols = (sb[-1],) if len(sb) >= 2 else ()
    return batch + rows + cols


def _batch_matmul(node, vals, flags, size):
    """Operands promoted to matrices and aligned so the batch axis is a leading batch dim of
    numpy's batched matmul (one matmul for 1-D, 2-D and batched operands)."""
    from .shape import expand_dims, squeeze, swapaxes
    (a, b), (ba, bb) = vals, flags
    ra, rb = node.inputs[0].ndim, node.inputs[1].ndim
    # common cheap forms: a batch of vectors times one vector/matrix, and the mirror image
    if ba and not bb and ra == 1 and rb <= 2:
        return matmul(a, b), True                       # (B,k) @ (k,) | (k,m)
    if bb and not ba and rb == 1 and ra <= 2:
        return matmul(b, a if ra == 1 else swapaxes(a, -1, -2)), True  # (B,k) @ (k,) | (k,n)
    # general: promote 1-D operands to matrices, align the batch axis in front of numpy's batch dims
    A = expand_dims(a, a.ndim - 1) if ra == 1 else a   # (..., 1, k)
    Bm = expand_dims(b, b.ndim) if rb == 1 else b      # (..., k, 1)
    nb = max(max(ra, 2), max(rb, 2)) - 2
    if ba:
        A = _batch.align(A, nb + 2)
    if bb:
        Bm = _batch.align(Bm, nb + 2)
    out = matmul(A, Bm)                                # (B, *batch, rows, cols)
    if ra == 1:
        out = squeeze(out, out.ndim - 2)
    if rb == 1:
        out = squeeze(out, out.ndim - 1)
    return out, True


MATMUL = defop("matmul", _infer_matmul, np.matmul, vjp=_matmul_vjp, jvp=_matmul_jvp, symshape=_matmul_symshape,
               batch=_batch_matmul, doc="numpy matmul semantics (1-D operands promoted, batch dims broadcast)")


def matmul(a, b):
    """Matrix product with numpy semantics (``a @ b``)."""
    a, b = lift_operands(a, b)
    return apply(MATMUL, (a, b))


def dot(a, b):
    """``numpy.dot`` for tensors of rank <= 2 (0-d operands multiply)."""
    from .elementwise import multiply
    a, b = lift_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim > 2 or b.ndim > 2:
        raise ValueError(f"dot: supports ranks <= 2, got {fmt(a.shape)} and {fmt(b.shape)}; use matmul "
                         "for batched products")
    return matmul(a, b)


def _norm_unit(out, x):
    """x / ||x||, defined as 0 at x = 0 (the subgradient of smallest norm)."""
    from .elementwise import divide, greater, where
    from .creation import zeros_like
    from .shape import broadcast_like
    positive = broadcast_like(greater(out, 0), x)
    return where(positive, divide(x, out), zeros_like(x))


def _norm_impl(x):
    dt = x.dtype if x.dtype.kind == "f" else np.dtype("float64")
    return np.asarray(np.sqrt(np.sum(np.square(x, dtype=dt))), dtype=dt)


def _batch_norm(node, vals, flags, size):
    """Per batch element: sqrt of a sum of squares, with norm's gradient convention at 0 kept."""
    from .elementwise import astype, greater, sqrt, square, where
    from .creation import ones_like, zeros_like
    from .reduce import sum as _s
    (x,) = vals
    sq = square(astype(x, node.dtype))
    s = _s(sq, axis=tuple(range(1, x.ndim))) if x.ndim > 1 else sq
    positive = greater(s, 0)
    # 0 at x = 0 with gradient 0 there (norm's convention), not sqrt'(0) * 0 = nan
    return where(positive, sqrt(where(positive, s, ones_like(s))), zeros_like(s)), True


NORM = defop(
    "norm", lambda x: ((), x.dtype if x.dtype.kind == "f" else np.dtype("float64")), _norm_impl,
    vjp=lambda g, out, x: [_mul(g, _norm_unit(out, x))],
    jvp=lambda ts, out, x: _sum(_mul(ts[0], _norm_unit(out, x))),
    reduction=Reduction("sum", squares=True, over="all"), symshape=_sym.scalar, batch=_batch_norm,
    doc="2-norm over all elements; gradient 0 at x = 0")


def _mul(a, b):
    from .elementwise import multiply
    return multiply(a, b)


def _sum(x):
    from .reduce import sum as _s
    return _s(x)


def norm(x):
    """2-norm over all elements (Frobenius for matrices)."""
    (x,) = lift_operands(x)
    return apply(NORM, (x,))


# --- c + alpha * (a @ b): the SGD step of a weight matrix as one GEMM ---------------------------------
# Never written by users: the pass ``passes.gemm_update`` makes it from ``W - lr * (a @ b)`` (an
# update value), so a backend can run it as one BLAS call accumulating into W's next storage
# (beta = 1) instead of a product stored in a temporary and a second pass combining it with W.

def _infer_gemm_update(c, a, b, alpha):
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm_update: a and b must be matrices, got {fmt(a.shape)} @ {fmt(b.shape)}")
    shape, dtype = _infer_matmul(a, b)
    if None in c.shape or tuple(c.shape) != tuple(shape) or c.dtype != dtype or a.dtype != b.dtype:
        raise ValueError(f"gemm_update: c {fmt(c.shape)} {c.dtype} must have the static shape and dtype of "
                         f"a @ b ({fmt(a.shape)} {a.dtype} @ {fmt(b.shape)} {b.dtype})")
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"gemm_update: float operands only, got {dtype}")
    return tuple(c.shape), dtype


def _gemm_update_impl(c, a, b, alpha):
    return c + c.dtype.type(alpha) * (a @ b)


def _gemm_update_vjp(g, out, c, a, b):
    from .elementwise import multiply
    from .shape import transpose
    alpha = out.attrs["alpha"]
    return [g, multiply(matmul(g, transpose(b)), alpha), multiply(matmul(transpose(a), g), alpha)]


def _gemm_update_jvp(ts, out, c, a, b):
    from .elementwise import _tadd, multiply
    prod = _matmul_jvp(ts[1:], None, a, b)
    return _tadd(ts[0], None if prod is None else multiply(prod, out.attrs["alpha"]))


GEMM_UPDATE = defop("gemm_update", _infer_gemm_update, _gemm_update_impl, vjp=_gemm_update_vjp,
                    jvp=_gemm_update_jvp, symshape=lambda node, ins: ins[0],
                    doc="c + alpha * (a @ b) for matrices of one float dtype (made by passes.gemm_update)")


def gemm_update(c, a, b, alpha):
    """``c + alpha * (a @ b)`` as one node (``alpha`` a Python float; see ``GEMM_UPDATE``)."""
    c, a, b = lift_operands(c, a, b)
    return apply(GEMM_UPDATE, (c, a, b), alpha=float(alpha))

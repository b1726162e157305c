"""Symbolic differentiation: every function here returns new graph tensors; nothing runs.

Reverse mode walks the nodes on a path from ``xs`` to ``ys`` in reverse topological order,
asks each op for its VJP rule and sums contributions of nodes used several times. Forward
mode walks the same nodes in topological order with the JVP rules (no reverse pass).
Derivatives are ordinary graphs, so any order of derivative is obtained by repeating.
"""
from __future__ import annotations

import numpy as np

from . import dtypes as _dt
from . import ops
from .graph import Tensor, _format_shape, constant, placeholder, to_networkx, walk


# --- structure helpers ------------------------------------------------------------------------
def _as_list(x, what):
    if isinstance(x, Tensor):
        return [x], True
    if isinstance(x, (list, tuple)):
        for t in x:
            if not isinstance(t, Tensor):
                raise TypeError(f"{what}: expected tensors, got {type(t).__name__}")
        return list(x), False
    raise TypeError(f"{what}: expected a tensor or a list of tensors, got {type(x).__name__}")


def _mirror(values, single, like):
    if single:
        return values[0]
    return tuple(values) if isinstance(like, tuple) else list(values)


def _seed(value, like: Tensor, what: str) -> Tensor:
    """A cotangent/tangent for ``like``: a tensor or array of its shape, cast to its dtype."""
    if isinstance(value, Tensor):
        t = value
    else:
        arr = np.asarray(value)
        t = constant(arr, dtype=like.dtype if _dt.is_float(like.dtype) else _dt.float_result(like.dtype))
    if len(t.shape) != len(like.shape) or any(
            a is not None and b is not None and a != b for a, b in zip(t.shape, like.shape)):
        raise ValueError(f"{what} for {like.name!r} has shape {_format_shape(t.shape)}; "
                         f"expected {_format_shape(like.shape)}")
    if _dt.is_float(like.dtype) and t.dtype != like.dtype:
        t = ops.astype(t, like.dtype)
    return t


def _may_broadcast(node: Tensor, like: Tensor) -> bool:
    """Whether ``like`` (an input of ``node``) may have been broadcast to a larger run-time shape."""
    if node.op.name == "matmul" or node.op.extra.get("broadcasts", False):
        return True
    if not (node.op.elementwise and len(node.inputs) > 1):
        return False
    if len(node.shape) != len(like.shape):
        return True
    offset = len(node.shape)
    for i, d in enumerate(like.shape):
        if d is not None and d != 1:
            continue
        for other in node.inputs:
            if other is like:
                continue
            k = i - (offset - len(other.shape))
            od = other.shape[k] if k >= 0 else 1
            if od is None or od > 1 or (d is None and od == 0):
                return True
    return False


def _fit(t: Tensor, like: Tensor, node: Tensor, reduce: bool) -> Tensor:
    """Make a rule's result match ``like`` in shape (sum or broadcast) and dtype."""
    if t.shape != like.shape or (None in t.shape and _may_broadcast(node, like)):
        t = ops.sum_to_like(t, like) if reduce else ops.broadcast_like(t, like)
    if t.dtype != like.dtype and _dt.is_float(like.dtype):
        t = ops.astype(t, like.dtype)
    return t


def _on_path(ys, xs):
    """Nodes on some path from an x to a y (networkx reachability), and a topological order."""
    order = walk(ys)
    g = to_networkx(ys)
    reach: set = set()
    for x in xs:
        if x in g:
            reach.add(x)
            reach.update(__import__("networkx").descendants(g, x))
    return [n for n in order if n in reach], reach


def _filled(like: Tensor, value, dtype) -> Tensor:
    """``value`` in ``like``'s shape: a static ``full`` when the shape is known, so the result does
    not reference ``like`` (which would make a compiled gradient compute all of ``like``'s graph)."""
    if like.static_size is not None:
        return ops.full(like.shape, value, dtype)
    return ops.full_like(like, value, dtype=dtype)


def _zero(x: Tensor) -> Tensor:
    return _filled(x, 0, x.dtype if _dt.is_float(x.dtype) else _dt.float_result(x.dtype))


# --- reverse mode ------------------------------------------------------------------------------
def _backprop(ys, cotangents, xs, partial=False):
    """Gradients of ``sum(ct * y)`` for each x; zeros (``None`` when ``partial``) where none flows.

    A multi-output node (a control-flow node) receives the list of its outputs' cotangents,
    gathered from its ``tuple_get`` projections (``None`` for outputs nothing flows into).
    """
    path, reach = _on_path(ys, xs)
    grads: dict = {}
    for y, ct in zip(ys, cotangents):
        if y in reach:
            grads[y] = ops.add(grads[y], ct) if y in grads else ct
    reverse_accumulate(path, reach, grads)
    if partial:
        return [grads.get(x) for x in xs]
    return [grads[x] if x in grads else _zero(x) for x in xs]


def reverse_accumulate(path, reach, grads: dict) -> dict:
    """The reverse walk proper: ``path`` in topological order, ``reach`` the nodes gradients flow
    to, ``grads`` the seeds (node -> cotangent); fills ``grads`` for every node reached.
    Shared by :func:`grad` and eager ``backward`` (:mod:`staticad.eager.tape`)."""
    for node in reversed(path):
        g = grads.get(node)
        if g is None or not node.inputs:
            continue
        if node.op.extra.get("projection"):
            src, k = node.inputs[0], node.attrs["index"]
            parts = grads.setdefault(src, [None] * len(src.attrs["types"]))
            parts[k] = g if parts[k] is None else ops.add(parts[k], g)
            continue
        if node.op.vjp is None:
            continue
        contributions = node.op.vjp(g, node, *node.inputs)
        for inp, c in zip(node.inputs, contributions):
            if c is None or inp not in reach or not _dt.is_float(inp.dtype):
                continue
            c = _fit(c, inp, node, reduce=True)
            grads[inp] = ops.add(grads[inp], c) if inp in grads else c
    return grads


def vjp(ys, xs, cotangents):
    """Vector-Jacobian product ``cotangents^T J`` (reverse mode); the result mirrors ``xs``."""
    ylist, _ = _as_list(ys, "vjp ys")
    xlist, xsingle = _as_list(xs, "vjp xs")
    if isinstance(ys, Tensor):
        cts = [cotangents]
    else:
        if not isinstance(cotangents, (list, tuple)) or len(cotangents) != len(ylist):
            raise ValueError(f"vjp: need one cotangent per y ({len(ylist)})")
        cts = list(cotangents)
    cts = [_seed(c, y, "vjp cotangent") for c, y in zip(cts, ylist)]
    return _mirror(_backprop(ylist, cts, xlist), xsingle, xs)


def grad(y, xs, grad_ys=None):
    """Reverse-mode gradient of ``y`` with respect to ``xs`` (a tensor or a list; result mirrors it).

    ``y`` must be a scalar unless ``grad_ys`` (same shape as ``y``) is given. An ``x`` that ``y``
    does not depend on gets zeros.
    """
    if not isinstance(y, Tensor):
        raise TypeError(f"grad: y must be a tensor, got {type(y).__name__}")
    if grad_ys is None:
        if y.static_size != 1:
            raise ValueError(
                f"grad: y {y.name!r} has shape {_format_shape(y.shape)}, not a scalar; pass grad_ys "
                f"(a cotangent of shape {_format_shape(y.shape)}) or reduce y first (e.g. y.sum())")
        ct = _filled(y, 1, y.dtype if _dt.is_float(y.dtype) else _dt.DEFAULT_FLOAT)
    else:
        ct = _seed(grad_ys, y, "grad_ys")
    xlist, xsingle = _as_list(xs, "grad xs")
    return _mirror(_backprop([y], [ct], xlist), xsingle, xs)


# --- forward mode --------------------------------------------------------------------------------
def _forward(ys, xs, tangents):
    """Tangents of ``ys``; a multi-output node's tangent is the list of its outputs' tangents."""
    path, reach = _on_path(ys, xs)
    seeds = {}
    for x, t in zip(xs, tangents):
        seeds[x] = ops.add(seeds[x], t) if x in seeds else t
    tans: dict = {}
    for node in path:
        t = None
        ts = [tans.get(i) for i in node.inputs]
        if node.op.extra.get("projection"):
            t = ts[0][node.attrs["index"]] if ts[0] is not None else None
        elif node.op.extra.get("multi_output"):
            if any(v is not None for v in ts):
                tans[node] = node.op.jvp(ts, node, *node.inputs)
            continue
        elif any(v is not None for v in ts) and node.op.jvp is not None:
            t = node.op.jvp(ts, node, *node.inputs)
            if t is not None:
                t = _fit(t, node, node, reduce=False)
        if node in seeds:  # seeds add to what flows in from other xs (total derivative)
            t = seeds[node] if t is None else ops.add(t, seeds[node])
        if t is not None and _dt.is_float(node.dtype):
            tans[node] = t
    return [tans[y] if y in tans else _zero(y) for y in ys]


def jvp(ys, xs, tangents):
    """Jacobian-vector product ``J tangents`` by forward mode; the result mirrors ``ys``."""
    ylist, ysingle = _as_list(ys, "jvp ys")
    xlist, _ = _as_list(xs, "jvp xs")
    if isinstance(xs, Tensor):
        tlist = [tangents]
    else:
        if not isinstance(tangents, (list, tuple)) or len(tangents) != len(xlist):
            raise ValueError(f"jvp: need one tangent per x ({len(xlist)})")
        tlist = list(tangents)
    tlist = [_seed(t, x, "jvp tangent") for t, x in zip(tlist, xlist)]
    return _mirror(_forward(ylist, xlist, tlist), ysingle, ys)


# --- Jacobians and second order ------------------------------------------------------------------
def _static(t: Tensor, what: str):
    if t.static_size is None:
        raise ValueError(f"{what}: {t.name!r} has shape {_format_shape(t.shape)} with unknown dims; "
                         "Jacobians need static shapes")
    return t.static_size


def _basis(k: int, n: int, shape, dtype) -> np.ndarray:
    e = np.zeros(n, dtype=dtype)
    e[k] = 1
    return e.reshape(shape)


def _seed_dtype(like: Tensor) -> np.dtype:
    """The dtype :func:`_seed` gives a tangent/cotangent array for ``like``."""
    return like.dtype if _dt.is_float(like.dtype) else _dt.float_result(like.dtype)


def _jacobian_columns(y: Tensor, x: Tensor, mode: str) -> Tensor:
    """The Jacobian from one VJP per row (``rev``) or one JVP per column (``fwd``): a graph that
    grows with the Jacobian's size. Used when the graph holds an op without a batching rule."""
    ny, nx_ = _static(y, "jacobian"), _static(x, "jacobian")
    if mode == "rev":
        rows = [ops.reshape(vjp(y, x, _basis(i, ny, y.shape, x.dtype)), (nx_,)) for i in range(ny)]
        flat = ops.stack(rows, axis=0) if rows else ops.zeros((0, nx_), x.dtype)
    else:
        cols = [ops.reshape(jvp(y, x, _basis(j, nx_, x.shape, x.dtype)), (ny,)) for j in range(nx_)]
        flat = ops.stack(cols, axis=1) if cols else ops.zeros((ny, 0), y.dtype)
    return ops.reshape(flat, tuple(y.shape) + tuple(x.shape))


def _jacobian_batched(y: Tensor, x: Tensor, mode: str) -> Tensor:
    """The Jacobian from ONE batched VJP (``rev``: the cotangents are the basis vectors of ``y``'s
    space) or ONE batched JVP (``fwd``: those of ``x``'s), see :mod:`staticad.onehot` and
    :mod:`staticad.batching`; the graph does not grow with the Jacobian's size.

    Raises :class:`~staticad.batching.NotBatchable` (before building anything) when an op on
    the way has no batching rule.
    """
    from .onehot import batch_one_hot
    ny, nx_ = _static(y, "jacobian"), _static(x, "jacobian")
    if mode == "rev":
        n, seed_like = ny, y
        probe = placeholder(y.shape, _seed_dtype(y), name="jacobian_cotangent")
        (d,) = _backprop([y], [probe], [x])
        out_shape = tuple(x.shape)
    else:
        n, seed_like = nx_, x
        probe = placeholder(x.shape, _seed_dtype(x), name="jacobian_tangent")
        (d,) = _forward([y], [x], [probe])
        out_shape = tuple(y.shape)
    if n == 0 or (nx_ if mode == "rev" else ny) == 0:
        return ops.zeros(tuple(y.shape) + tuple(x.shape), d.dtype)
    ((value, batched),) = batch_one_hot([d], probe, n)  # the seeds: e_0 .. e_{n-1}, never an identity
    if not batched:  # the same for every seed (e.g. zeros): repeat it
        value = ops.broadcast_to(ops.expand_dims(value, 0), (n,) + out_shape)
    if mode == "rev":  # (ny,) + x.shape, row i = d y_i / d x
        return ops.reshape(value, tuple(y.shape) + tuple(x.shape))
    flat = ops.transpose(ops.reshape(value, (nx_, ny)))  # (nx,) + y.shape: column j = d y / d x_j
    return ops.reshape(flat, tuple(y.shape) + tuple(x.shape))


def _jacobian_one(y: Tensor, x: Tensor, mode: str) -> Tensor:
    from .batching import NotBatchable
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")
    try:
        return _jacobian_batched(y, x, mode)
    except NotBatchable:
        return _jacobian_columns(y, x, mode)


def jacobian(y, x, mode="rev"):
    """Jacobian of shape ``y.shape + x.shape`` (``x`` may be a list: a tuple of Jacobians).

    One batched reverse (``rev``) or forward (``fwd``) pass whose seeds are the basis vectors
    (no identity matrix is materialised, see :mod:`staticad.onehot`): the graph's size does not
    depend on the Jacobian's (column by column only when an op on the way has no batching rule).
    """
    if not isinstance(y, Tensor):
        raise TypeError("jacobian: y must be a tensor")
    xlist, xsingle = _as_list(x, "jacobian x")
    jacs = [_jacobian_one(y, xi, mode) for xi in xlist]
    return jacs[0] if xsingle else tuple(jacs)


def _require_scalar(y, what):
    if not isinstance(y, Tensor):
        raise TypeError(f"{what}: y must be a tensor")
    if y.static_size != 1:
        raise ValueError(f"{what}: y {y.name!r} must be a scalar, got shape {_format_shape(y.shape)}")


def hessian(y, x):
    """Hessian of scalar ``y``: forward-over-reverse, shape ``x.shape + x.shape``.

    One batched JVP of the gradient graph (seeds: the basis vectors, see :mod:`staticad.onehot`),
    so the graph's size does not grow with ``x``'s.

    For a list ``x`` the result is nested: ``H[i][j] = d2y / dx_i dx_j``.
    """
    _require_scalar(y, "hessian")
    xlist, xsingle = _as_list(x, "hessian x")
    gs = _backprop([y], [_filled(y, 1, y.dtype if _dt.is_float(y.dtype) else _dt.DEFAULT_FLOAT)], xlist)
    rows = [[_jacobian_one(gi, xj, "fwd") for xj in xlist] for gi in gs]
    return rows[0][0] if xsingle else [list(r) for r in rows]


def hvp(y, x, v):
    """Hessian-vector product ``H v`` (forward-over-reverse); mirrors ``x``."""
    _require_scalar(y, "hvp")
    g = grad(y, x)
    return jvp(g, x, v)


def vhp(y, x, v):
    """Vector-Hessian product ``v^T H`` (reverse-over-reverse); mirrors ``x``."""
    _require_scalar(y, "vhp")
    g = grad(y, x)
    return vjp(g, x, v)


stop_gradient = ops.stop_gradient
detach = ops.stop_gradient

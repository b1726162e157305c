"""``sad.cond``, ``sad.while_loop``, ``sad.fori_loop``: control flow as graph nodes (API.md §3).

The Python functions are traced once into sub-graphs (see :mod:`.subgraph`); structure, shape
and dtype mismatches are reported here, at build time, from the user's call.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, _format_shape, apply, lift
from .ops import COND, COUNT_DTYPE, WHILE_LOOP, tuple_get
from .subgraph import close, trace


_to_eager = None  # staticad.eager.to_eager: eager values exist only once staticad.eager is imported, which binds it


def bind_eager(to_eager) -> None:
    global _to_eager
    _to_eager = to_eager


def _any_eager(values) -> bool:
    """Eager values (staticad.eager) have a value now: control flow on them is plain Python."""
    return any(getattr(v, "_eager", False) for v in values)


def _type(t) -> str:
    return f"shape {_format_shape(t[0])} {np.dtype(t[1])}"


def _lift_all(values, what) -> tuple[list, bool, type]:
    """Operands as tensors; ``single`` when one tensor (or scalar) was given instead of a list."""
    if isinstance(values, (list, tuple)):
        return [lift(v) for v in values], False, type(values)
    if isinstance(values, Tensor) or _dt.is_python_scalar(values) or isinstance(values, np.ndarray):
        return [lift(values)], True, None
    raise TypeError(f"{what}: expected a tensor or a list/tuple of tensors, got {type(values).__name__}")


def _mirror(outs, single, kind):
    if single:
        return outs[0]
    return tuple(outs) if kind is not list else list(outs)


def _union(*lists) -> list:
    seen, out = set(), []
    for lst in lists:
        for t in lst:
            if t not in seen:
                seen.add(t)
                out.append(t)
    return out


def _check_pred(pred, what):
    if pred.dtype != _dt.BOOL or pred.static_size != 1 or pred.ndim != 0:
        raise TypeError(f"{what} must be a bool scalar tensor (shape ()), got {pred.name!r} of "
                        f"{_type((pred.shape, pred.dtype))}")


# --- while ------------------------------------------------------------------------------------------
def build_while(cond_fn, body_fn, init: list, max_iterations=None, record=(), single=False):
    """The ``while_loop`` node (tuple-valued) for loop variables ``init`` (tensors)."""
    if max_iterations is not None:
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) \
                or max_iterations < 0:
            raise ValueError(f"while_loop: max_iterations must be a non-negative int or None, got {max_iterations!r}")
        max_iterations = int(max_iterations)
    n = len(init)
    cparams, couts, csingle, ccaps = trace(cond_fn, init, "while_cond")
    if len(couts) != 1 or not csingle:
        raise TypeError(f"while_loop: cond_fn must return one bool scalar tensor, got {len(couts)} values")
    _check_pred(couts[0], "while_loop: cond_fn's result")
    bparams, bouts, bsingle, bcaps = trace(body_fn, init, "while_body")
    if len(bouts) != n:
        raise TypeError(f"while_loop: body_fn must return {n} loop variable(s) (as many as init_vals), "
                        f"got {len(bouts)}")
    for k, (old, new) in enumerate(zip(init, bouts)):
        if new.dtype != old.dtype or len(new.shape) != len(old.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(new.shape, old.shape)):
            raise ValueError(f"while_loop: body_fn changes loop variable {k} from {_type((old.shape, old.dtype))} "
                             f"to {_type((new.shape, new.dtype))}; a loop variable keeps its shape and dtype")
    caps = _union(ccaps, bcaps)
    cond = close("while_cond", cparams, couts, caps)
    body = close("while_body", bparams, bouts, caps)
    types = [(t.shape, t.dtype) for t in init] + [((), COUNT_DTYPE)]
    types += [((None,) + tuple(init[r].shape), init[r].dtype) for r in record]
    return apply(WHILE_LOOP, list(init) + caps, cond=cond, body=body, n_vars=n, record=tuple(record),
                 max_iterations=max_iterations, types=tuple(types))


def while_loop(cond_fn, body_fn, init_vals, max_iterations=None):
    """Loop ``vals = body_fn(*vals)`` while ``cond_fn(*vals)``; the trip count is a run-time value.

    ``init_vals`` is a tensor (the functions then take and return one tensor) or a list/tuple
    (the result mirrors it). The body must keep each loop variable's shape and dtype. With
    ``max_iterations`` the loop also stops after that many iterations. Both functions may read
    outer tensors (those become inputs of the loop node and receive gradients).
    """
    init, single, kind = _lift_all(init_vals, "while_loop init_vals")
    if _any_eager(init):
        vals, n = init, 0
        while (max_iterations is None or n < max_iterations) and bool(cond_fn(*vals)):
            out = body_fn(*vals)
            vals, n = ([out] if single else list(out)), n + 1
        return _mirror(vals, single, kind)
    node = build_while(cond_fn, body_fn, init, max_iterations)
    return _mirror([tuple_get(node, k) for k in range(len(init))], single, kind)


def fori_loop(lower, upper, body_fn, init_vals):
    """``for i in range(lower, upper): vals = body_fn(i, *vals)`` (``i`` an int64 scalar tensor)."""
    bounds = []
    for name, b in (("lower", lower), ("upper", upper)):
        b = lift(b, dtype=COUNT_DTYPE) if not isinstance(b, Tensor) else b
        if b.dtype.kind not in "iu" or b.ndim != 0:
            raise TypeError(f"fori_loop: {name} must be an int scalar, got {b.name!r} of {_type((b.shape, b.dtype))}")
        bounds.append(b.astype(COUNT_DTYPE) if b.dtype != COUNT_DTYPE else b)
    lo, hi = bounds
    init, single, kind = _lift_all(init_vals, "fori_loop init_vals")
    if _any_eager(init + bounds):
        to_eager = _to_eager
        vals = init
        for i in range(int(to_eager(lo).item()), int(to_eager(hi).item())):
            out = body_fn(to_eager(np.array(i, COUNT_DTYPE)), *vals)
            vals = [out] if not isinstance(out, (list, tuple)) else list(out)
        return _mirror(vals, single, kind)

    def body(i, *vals):
        out = body_fn(i, *vals)
        out = [out] if not isinstance(out, (list, tuple)) else list(out)
        return [i + 1] + out

    node = build_while(lambda i, *vals: i < hi, body, [lo] + init)
    return _mirror([tuple_get(node, k + 1) for k in range(len(init))], single, kind)


# --- cond ---------------------------------------------------------------------------------------------
def build_cond(pred, true_fn, false_fn, operands: list):
    """The ``cond`` node (tuple-valued) and whether the branches return a single tensor."""
    pred = lift(pred)
    _check_pred(pred, "cond: pred")
    tparams, touts, tsingle, tcaps = trace(true_fn, operands, "cond_true")
    fparams, fouts, fsingle, fcaps = trace(false_fn, operands, "cond_false")
    if tsingle != fsingle or len(touts) != len(fouts):
        desc = lambda s, o: "one tensor" if s else f"{len(o)} tensors"  # noqa: E731
        raise TypeError(f"cond: true_fn returns {desc(tsingle, touts)} but false_fn returns {desc(fsingle, fouts)}")
    for k, (a, b) in enumerate(zip(touts, fouts)):
        if a.shape != b.shape or a.dtype != b.dtype:
            raise TypeError(f"cond: output {k} of true_fn has {_type((a.shape, a.dtype))} but false_fn's has "
                            f"{_type((b.shape, b.dtype))}; both branches must match in shape and dtype")
    caps = _union(tcaps, fcaps)
    node = apply(COND, [pred] + list(operands) + caps, true=close("cond_true", tparams, touts, caps),
                 false=close("cond_false", fparams, fouts, caps), n_operands=len(operands),
                 types=tuple((t.shape, t.dtype) for t in touts))
    return node, tsingle


def cond(pred, true_fn, false_fn, *operands):
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``; only the taken branch runs.

    ``pred`` is a bool scalar tensor; both branches return tensors (or tuples of tensors) of the
    same shapes and dtypes; they may read outer tensors, which then receive gradients.
    """
    ops_ = [lift(o) for o in operands]
    if _any_eager([pred]):
        return true_fn(*ops_) if bool(pred) else false_fn(*ops_)
    node, single = build_cond(pred, true_fn, false_fn, ops_)
    outs = [tuple_get(node, k) for k in range(len(node.attrs["types"]))]
    return outs[0] if single else tuple(outs)

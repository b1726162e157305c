"""``torch.autograd.functional`` over eager functions: ``fn`` runs eagerly, then the derivative
functions of :mod:`staticad.autodiff` (the same ones as API.md §2) walk the recorded graph,
evaluating their rules eagerly.

``inputs`` is a tensor/array or a tuple of them (results mirror it); ``fn`` returns a tensor or
a tuple of tensors. Results are EagerTensors without history unless ``create_graph=True``.
"""
from __future__ import annotations

import numpy as np

from .. import autodiff
from ..graph import _format_shape
from . import grad_mode
from .tensor import EagerTensor, to_eager


def _inputs(inputs, create_graph):
    single = not isinstance(inputs, (tuple, list))
    xs = []
    for x in ([inputs] if single else inputs):
        t = to_eager(x)
        if not np.issubdtype(t.dtype, np.floating):
            raise TypeError(f"functional: inputs must be float tensors, got dtype {t.dtype}")
        if create_graph and t._requires_grad:
            xs.append(t)  # keep the outer graph: the results can be differentiated further
        else:
            xs.append(EagerTensor(t._value, requires_grad=True))
    return xs, single


def _outputs(out, what):
    single = not isinstance(out, (tuple, list))
    outs = [out] if single else list(out)
    for o in outs:
        if not isinstance(o, EagerTensor):
            raise TypeError(f"{what}: fn must return eager tensors, got {type(o).__name__}")
    return outs, single


def _run(fn, xs):
    with grad_mode.enable_grad():
        return fn(*xs)


def _result(t, create_graph):
    t = to_eager(t)
    return t if create_graph else t.detach()


def _mirror(items, single):
    return items[0] if single else tuple(items)


def _vectors(v, like, what):
    if v is None:
        if any(t._value.size != 1 for t in like):
            raise RuntimeError(f"{what}: v may be omitted only when fn's output (or inputs) have a single "
                               "element; pass v of the same shape")
        return [np.ones(t.shape, t.dtype) for t in like]
    vs = [v] if len(like) == 1 and not isinstance(v, (tuple, list)) else list(v)
    if len(vs) != len(like):
        raise ValueError(f"{what}: need {len(like)} vectors v, got {len(vs)}")
    out = []
    for vi, t in zip(vs, like):
        a = np.asarray(vi._value if isinstance(vi, EagerTensor) else vi, dtype=t.dtype)
        if a.shape != t.shape:
            raise ValueError(f"{what}: v has shape {_format_shape(a.shape)}, expected {_format_shape(t.shape)}")
        out.append(a)
    return out


def _grad_mode(create_graph):
    return grad_mode.enable_grad() if create_graph else grad_mode.no_grad()


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``."""
    xs, xsingle = _inputs(inputs, create_graph)
    outs, osingle = _outputs(_run(func, xs), "vjp")
    vs = _vectors(v, outs, "vjp")
    with _grad_mode(create_graph), np.errstate(all="ignore"):
        gs = autodiff._backprop(outs, [EagerTensor(a) for a in vs], xs)
    return (_mirror([_result(o, create_graph) for o in outs], osingle),
            _mirror([_result(g, create_graph) for g in gs], xsingle))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)`` by forward mode (the JVP rules; no reverse pass)."""
    xs, xsingle = _inputs(inputs, create_graph)
    outs, osingle = _outputs(_run(func, xs), "jvp")
    vs = _vectors(v, xs, "jvp")
    with _grad_mode(create_graph), np.errstate(all="ignore"):
        ts = autodiff._forward(outs, xs, [EagerTensor(a) for a in vs])
    return (_mirror([_result(o, create_graph) for o in outs], osingle),
            _mirror([_result(t, create_graph) for t in ts], osingle))


def _jacobian_of(ys, xs, mode, create_graph):
    rows = []
    with _grad_mode(create_graph), np.errstate(all="ignore"):
        for y in ys:
            rows.append([_result(autodiff._jacobian_columns(y, x, mode), create_graph) for x in xs])
    return rows


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """Jacobian of shape ``out.shape + in.shape``; tuples of inputs/outputs give (nested) tuples.
    ``strategy``: ``"reverse-mode"`` (a VJP per output element) or ``"forward-mode"`` (a JVP per input element)."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    xs, xsingle = _inputs(inputs, create_graph)
    outs, osingle = _outputs(_run(func, xs), "jacobian")
    rows = _jacobian_of(outs, xs, "rev" if strategy == "reverse-mode" else "fwd", create_graph)
    rows = [_mirror(r, xsingle) for r in rows]
    return _mirror(rows, osingle)


def _scalar_out(func, xs, what):
    out = _run(func, xs)
    if not isinstance(out, EagerTensor) or out._value.size != 1:
        raise RuntimeError(f"{what}: func must return a single-element tensor, got "
                           f"{_format_shape(getattr(out, 'shape', ()))}")
    return out


def _recorded_grads(out, xs):
    with grad_mode.enable_grad(), np.errstate(all="ignore"):  # recorded: differentiated again below
        return autodiff._backprop([out], [EagerTensor(np.ones(out.shape, out.dtype))], xs)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """Hessian of a scalar ``func``: ``in.shape + in.shape`` (nested tuples for several inputs)."""
    xs, xsingle = _inputs(inputs, create_graph)
    out = _scalar_out(func, xs, "hessian")
    gs = [to_eager(g) for g in _recorded_grads(out, xs)]
    mode = "rev" if outer_jacobian_strategy == "reverse-mode" else "fwd"
    rows = _jacobian_of(gs, xs, mode, create_graph)
    if xsingle:
        return rows[0][0]
    return tuple(tuple(r) for r in rows)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` (forward over reverse)."""
    xs, xsingle = _inputs(inputs, create_graph)
    out = _scalar_out(func, xs, "hvp")
    vs = _vectors(v, xs, "hvp")
    gs = [to_eager(g) for g in _recorded_grads(out, xs)]
    with _grad_mode(create_graph), np.errstate(all="ignore"):
        hv = autodiff._forward(gs, xs, [EagerTensor(a) for a in vs])
    return _result(out, create_graph), _mirror([_result(t, create_graph) for t in hv], xsingle)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)`` (reverse over reverse)."""
    xs, xsingle = _inputs(inputs, create_graph)
    out = _scalar_out(func, xs, "vhp")
    vs = _vectors(v, xs, "vhp")
    gs = [to_eager(g) for g in _recorded_grads(out, xs)]
    with _grad_mode(create_graph), np.errstate(all="ignore"):
        hv = autodiff._backprop(gs, [EagerTensor(a) for a in vs], xs)
    return _result(out, create_graph), _mirror([_result(t, create_graph) for t in hv], xsingle)


__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

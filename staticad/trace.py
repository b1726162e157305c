"""From implicit to explicit: ``sad.trace`` turns an implicit-style function into graph tensors,
``sad.jit`` compiles it (once per input shapes/dtypes) with :func:`staticad.function`.

The same user function runs eagerly on EagerTensors and traced on placeholders, because eager
and graph tensors share one set of ops. While tracing, Python ``if``/``while`` on a traced
value raise the graph's ``TypeError`` (it names ``sad.cond`` / ``sad.while_loop``). Eager
tensors the function captures (closures, globals) are baked into the graph as constants.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from . import dtypes as _dt
from .function import Function, function
from .eager.tensor import EagerTensor
from .graph import Tensor, constant, placeholder


def _arg_names(fn, n):
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:n]]
    return names + [f"arg{i}" for i in range(len(names), n)]


def _is_spec(s) -> bool:
    """``(shape, dtype)``: a shape tuple/list (ints or None) and something that is a dtype."""
    if not (isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], (tuple, list))):
        return False
    if not all(d is None or isinstance(d, (int, np.integer)) for d in s[0]):
        return False
    if isinstance(s[1], (str, np.dtype, type)):
        try:
            np.dtype(s[1])
            return True
        except TypeError:
            return False
    return False


def as_array(value) -> np.ndarray:
    """An example argument as an array: eager values as they are, Python floats float32 (as §1)."""
    if getattr(value, "_eager", False):
        return value._value
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Tensor):
        raise TypeError(f"a symbolic tensor ({value.name!r}) is no example value: pass an array or (shape, dtype)")
    return np.asarray(value, dtype=_dt.default_dtype_for_python(value))


def _placeholder_for(spec, name) -> Tensor:
    if _is_spec(spec):
        return placeholder(tuple(spec[0]), spec[1], name=name)
    arr = as_array(spec)
    return placeholder(arr.shape, arr.dtype, name=name)


def _graph_outputs(out):
    """The function's result as graph tensors (eager values and numbers become constants)."""
    if isinstance(out, (list, tuple)):
        return type(out)(_graph_outputs(o) for o in out)
    if isinstance(out, Tensor) and not out._eager:
        return out
    if getattr(out, "_eager", False):
        return constant(out._value)
    return constant(out)


def trace(fn, *specs):
    """Run ``fn`` on placeholders built from ``specs`` (example arrays, or ``(shape, dtype)``);
    returns ``(inputs, outputs)`` for :func:`staticad.function`, :func:`staticad.to_dot`, ...

    Placeholders are named after ``fn``'s parameters."""
    if not callable(fn):
        raise TypeError(f"trace: fn must be callable, got {type(fn).__name__}")
    names = _arg_names(fn, len(specs))
    inputs = [_placeholder_for(s, n) for s, n in zip(specs, names)]
    from .eager import no_grad
    with no_grad():  # eager values the function makes on the side need no history
        out = fn(*inputs)
    return inputs, _graph_outputs(out)


class Jitted:
    """``fn`` compiled per input shapes/dtypes (see :func:`jit`)."""

    def __init__(self, fn, backend="numba", name=None):
        if not callable(fn):
            raise TypeError(f"jit: fn must be callable, got {type(fn).__name__}")
        self.fn, self.backend = fn, backend
        self.name = name or getattr(fn, "__name__", "jitted")
        self._cache: dict = {}
        functools.update_wrapper(self, fn)

    def _arrays(self, args):
        return [a._value if getattr(a, "_eager", False) else a if type(a) is np.ndarray else as_array(a)
                for a in args]

    def _compiled(self, arrays) -> Function:
        key = tuple([(a.shape, a.dtype) for a in arrays])
        f = self._cache.get(key)
        if f is None:
            inputs, outputs = trace(self.fn, *arrays)
            f = self._cache[key] = function(inputs, outputs, backend=self.backend, name=self.name)
        return f

    def lower(self, *args) -> Function:
        """The compiled :class:`~staticad.Function` for these arguments' shapes/dtypes (``.source``,
        ``.stats``, ``.profile``), tracing and compiling it if needed."""
        return self._compiled(self._arrays(args))

    def __call__(self, *args):
        # the fast path: arrays and numpy scalars of a signature compiled before
        try:
            if len(args) == 1:  # no comprehension: it costs a sizeable part of a tiny call
                a = args[0]
                f = self._cache[((a.shape, a.dtype),)]
            else:
                f = self._cache[tuple([(a.shape, a.dtype) for a in args])]
        except (AttributeError, KeyError, TypeError):
            f = None
        if f is not None:
            for a in args:
                if a.__class__ is EagerTensor:
                    break
            else:
                return f(*args)
        arrays = self._arrays(args)
        out = self._compiled(arrays)(*arrays)
        for a in args:  # eager in, eager out (without history: compiled code records nothing)
            if getattr(a, "_eager", False):
                from .eager import to_eager
                return _map(out, to_eager)
        return out

    @property
    def cache_size(self) -> int:
        """How many shape/dtype signatures were compiled."""
        return len(self._cache)

    def __repr__(self):
        return f"<staticad.jit {self.name!r} backend={self.backend} compiled={len(self._cache)}>"


def _map(out, f):
    if isinstance(out, (list, tuple)):
        return type(out)(_map(o, f) for o in out)
    return f(out)


def jit(fn=None, *, backend="numba", name=None):
    """Compile an implicit-style function: traced on the first call per input shapes/dtypes,
    compiled with :func:`staticad.function`, reused after. ``@sad.jit``, ``@sad.jit(backend=...)``
    or ``sad.jit(fn, backend=...)``; ``jitted.lower(*args)`` gives the Function."""
    if fn is None:
        return lambda f: Jitted(f, backend=backend, name=name)
    return Jitted(fn, backend=backend, name=name)


__all__ = ["trace", "jit", "Jitted"]

"""``sad.function``: compile the graph the outputs and updates need, then run it on arrays."""
from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np

from . import backends as _backends
from . import profiler as _profiler
from .backends.base import CompileOptions
from .compiler import compile_program
from .graph import Tensor, Variable, _format_shape, lift
from .profiler import session as _profile_session
from .program import Program


class Function:
    """A compiled graph. Call it with arrays (positionally or by placeholder name).

    Outputs are fresh numpy arrays mirroring ``outputs``; updates are computed from the
    pre-update values and applied only after every output and update succeeded.
    """

    def __init__(self, inputs, outputs, updates=None, backend="numba", name=None, options=None):
        t0 = time.perf_counter()
        self.name = name or "function"
        self.inputs = _check_inputs(inputs)
        self._single, out_list = _flatten_outputs(outputs)
        self._structure = _snapshot(outputs)
        # The results from the flat outputs: one output as it is, a plain list or tuple of
        # tensors (the common case) by one call. Not a bound method: the direct path of the
        # executable holds it, and would then hold this Function in a reference cycle.
        st = self._structure
        self._finish = (_first if self._single else
                        type(st) if type(st) in (list, tuple) and all(isinstance(o, Tensor) for o in st) else
                        functools.partial(_unflatten, st))
        self.updates = _check_updates(updates)
        self.program = Program.build(self.name, self.inputs, out_list, self.updates)
        _check_closed(self.program, self.inputs)
        self.backend = _backends.get(backend)
        self.options = _check_options(options)
        self._compile()
        # every Variable a call reads or writes, locked in one global order (creation id): calls
        # sharing Variables serialize without deadlock; calls without Variables never lock
        touched = {n for n in self.program.nodes if isinstance(n, Variable)} | {v for v, _ in self.updates}
        self._locks = [v._lock for v in sorted(touched, key=lambda v: v.id)]
        self._by_name = {p.name: i for i, p in enumerate(self.inputs)}
        self._n_inputs = len(self.inputs)
        self._specs = [_fast_spec(p) for p in self.inputs]
        ex = self._exec.stats
        self.stats = {
            "backend": self.backend.NAME,
            "nodes_declared": len(self.program.nodes),
            "nodes_after_passes": ex.nodes_after_passes,
            "kernels": ex.kernels,
            "fused_ops": ex.fused_ops,
            "compile_seconds": 0.0,
            "cache_hit": bool(ex.cache_hit),
            "passes": [tuple(p) for p in ex.passes],
        }
        self.stats["compile_seconds"] = time.perf_counter() - t0

    def _compile(self):
        self._exec = compile_program(self.program, self.backend, self.options)
        self._convert = self._exec.convert_input  # the backend's input conversion (cuda: device arrays too)
        # The backend's direct path takes arrays as the caller gives them: only when no input is
        # 0-d (one may come as a NumPy scalar, which this path would refuse on every call)
        plain = all(len(p.shape) > 0 for p in self.inputs)
        self._direct = (self._exec.direct_call(self._finish) if plain else None) or _refuse
        self.__dict__.pop("_profile_variant", None)  # the profiler's build of the previous options

    @property
    def return_device_arrays(self) -> bool:
        """Whether outputs are device arrays (cuda; ``CompileOptions(device_outputs=True)``).
        Assigning it compiles the function again with that option (the module is cached)."""
        return self.options.device_outputs

    @return_device_arrays.setter
    def return_device_arrays(self, value) -> None:
        if bool(value) != self.options.device_outputs:
            self.options = dataclasses.replace(self.options, device_outputs=bool(value))
            self._compile()

    # --- calling ------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not kwargs and self._direct is not _refuse:
            result = self._direct(args)  # None: refused (any count or kind of arguments it does not take)
            if result is not None:
                return result
        if kwargs or len(args) != self._n_inputs:
            arrays = self._bind(args, kwargs)
        else:
            arrays = self._fast_bind(args)
        if self._locks:
            outs = self._run_locked(arrays)
        else:
            outs, _ = self._exec.run(arrays)
        return self._finish(outs)

    def _run_locked(self, arrays):
        locks = self._locks
        for lock in locks:
            lock.acquire()
        try:
            outs, new_values = self._exec.run(arrays)
            if new_values:
                self._apply_updates(new_values)
        finally:
            for lock in reversed(locks):
                lock.release()
        return outs

    def _fast_bind(self, args) -> list:
        """Arrays that already have the placeholder's dtype and static dims pass untouched (their
        layout is the backend's matter), a NumPy scalar of a 0-d placeholder's dtype becomes a
        0-d array; anything else goes through the full conversion and its error messages."""
        out = []
        for (dtype, shape, scalar_type, p, ndim, static), v in zip(self._specs, args):
            t = type(v)
            if t is scalar_type:
                out.append(_asarray(v))
            elif t is _ndarray and (v.dtype is dtype or v.dtype == dtype) and (
                    v.shape == shape if shape is not None else
                    v.ndim == ndim and (not static or _static_dims_match(static, v.shape))):
                out.append(v)
            else:
                out.append(self._convert(p, v))
        return out

    def _bind(self, args, kwargs) -> list:
        n = len(self.inputs)
        if len(args) > n:
            raise TypeError(f"{self.name}: takes {n} input(s) "
                            f"({', '.join(p.name for p in self.inputs)}), got {len(args)} positional")
        values = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            if key not in self._by_name:
                raise TypeError(f"{self.name}: unknown input {key!r}; inputs are "
                                f"{', '.join(p.name for p in self.inputs) or '(none)'}")
            i = self._by_name[key]
            if values[i] is not _MISSING:
                raise TypeError(f"{self.name}: input {key!r} given twice")
            values[i] = value
        missing = [p.name for p, v in zip(self.inputs, values) if v is _MISSING]
        if missing:
            raise TypeError(f"{self.name}: missing input(s) {', '.join(repr(m) for m in missing)}")
        return [self._convert(p, v) for p, v in zip(self.inputs, values)]

    def _apply_updates(self, new_values):
        # Check and copy every new value first (fresh arrays: never a view of an input, of another
        # Variable or of a backend buffer); only then swap them all in, which cannot fail midway.
        staged = []
        for (var, _), value in zip(self.updates, new_values):
            arr = np.asarray(value)
            if arr.shape != var.shape:
                raise ValueError(f"{self.name}: update of Variable {var.name!r} produced shape "
                                 f"{_format_shape(arr.shape)}; expected {_format_shape(var.shape)} "
                                 "(no Variable was changed)")
            staged.append((var, np.array(arr, dtype=var.dtype, copy=True)))
        for var, arr in staged:
            var._storage = arr

    # --- introspection ------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The generated code (for the numpy backend: the schedule)."""
        return self._exec.source

    def profile(self, *args, repeat=10, **kwargs):
        """Run ``repeat`` times and return a per-kernel :class:`~staticad.profiler.ProfileReport`."""
        return _profiler.profile_function(self, args, kwargs, repeat)

    def __repr__(self):
        return (f"<staticad.Function {self.name!r} backend={self.backend.NAME} "
                f"inputs=({', '.join(p.name for p in self.inputs)})>")


_profile_session.intercept(Function)  # `with sad.profile():` times its calls


def _fast_spec(p) -> tuple:
    """What :meth:`Function._fast_bind` checks of placeholder ``p``: ``(dtype, shape (None when
    a dim is dynamic), the NumPy scalar type taken as is (0-d only, else None), p, rank,
    ((axis, size) of each static dim when some dim is dynamic))``."""
    shape = tuple(p.shape)
    dynamic = None in shape
    return (p.dtype, None if dynamic else shape, p.dtype.type if len(shape) == 0 else None, p, len(shape),
            tuple((i, d) for i, d in enumerate(shape) if d is not None) if dynamic else ())


def _first(outs):
    return outs[0]


def _refuse(args):
    """The direct path of an executable that offers none: every call takes the checked path."""
    return None


def _static_dims_match(static, shape) -> bool:
    for axis, size in static:
        if shape[axis] != size:
            return False
    return True


_ndarray, _asarray = np.ndarray, np.asarray


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


def function(inputs, outputs, updates=None, backend="numba", name=None, options=None) -> Function:
    """Compile what ``outputs`` and ``updates`` need into a callable.

    ``inputs``: list of placeholders. ``outputs``: a tensor or a list/tuple (the result mirrors
    it). ``updates``: ``(Variable, tensor)`` pairs or a dict, computed from pre-update values and
    applied after the outputs. ``backend``: ``"numba"`` (default: fused CPU kernels, one native
    entry point, cached on disk), ``"numpy"`` (the reference interpreter) or ``"cuda"``.
    ``options``: a :class:`~staticad.CompileOptions` (e.g. ``device_outputs=True`` on cuda).
    """
    return Function(inputs, outputs, updates=updates, backend=backend, name=name, options=options)


# --- validation ---------------------------------------------------------------------------------
def _check_inputs(inputs) -> list:
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"function: inputs must be a list of placeholders, got {type(inputs).__name__}")
    seen = set()
    for p in inputs:
        if not isinstance(p, Tensor) or p.op.name != "placeholder":
            what = p.name if isinstance(p, Tensor) else type(p).__name__
            raise TypeError(f"function: inputs must be placeholders; {what!r} is not")
        if p in seen:
            raise ValueError(f"function: placeholder {p.name!r} listed twice in inputs")
        seen.add(p)
    names = [p.name for p in inputs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"function: several inputs are named {sorted(dup)}; give placeholders distinct names")
    return list(inputs)


def _flatten_outputs(outputs):
    """``(single, flat list)``. ``outputs`` is a tensor, None (updates only) or a list/tuple
    (namedtuples included) or dict of outputs, nested to any depth (``[loss, sad.grad(loss, ps)]``)."""
    flat: list = []
    _flatten_into(outputs, flat, top=True)
    return isinstance(outputs, Tensor), flat


def _flatten_into(obj, flat, top=False):
    if isinstance(obj, Tensor):
        flat.append(obj)
    elif obj is None and top:
        pass
    elif isinstance(obj, dict):
        for value in obj.values():
            _flatten_into(value, flat)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _flatten_into(value, flat)
    else:
        raise TypeError("function: outputs must be a tensor or a (nested) list/tuple/dict of tensors, "
                        f"got {type(obj).__name__}")


def _snapshot(obj):
    """A copy of the output structure: later edits of the caller's lists/dicts do not change it."""
    if isinstance(obj, dict):
        return {k: _snapshot(v) for k, v in obj.items()}
    if type(obj) is list:
        return [_snapshot(v) for v in obj]
    if isinstance(obj, tuple):
        items = [_snapshot(v) for v in obj]
        return type(obj)(*items) if hasattr(type(obj), "_fields") else tuple(items)
    return obj


def _unflatten(structure, outs):
    """The results in the structure the outputs were given in."""
    # A module-level function, not a closure: a recursive closure is a reference cycle (the
    # function and its cell) that kept the iterator, and so every output array, alive until the
    # cyclic garbage collector ran. Freed at once, an output's memory is reused by the next call
    # (chain n=4096: 18.2 -> 10.4 us per call; fresh pages had to be faulted in each time).
    return _build(structure, iter(outs))


def _build(obj, it):
    if isinstance(obj, Tensor):
        return next(it)
    if obj is None:
        return None
    if isinstance(obj, dict):
        return {k: _build(v, it) for k, v in obj.items()}
    if isinstance(obj, tuple):
        items = [_build(v, it) for v in obj]
        return type(obj)(*items) if hasattr(type(obj), "_fields") else tuple(items)
    return [_build(v, it) for v in obj]


def _check_updates(updates) -> list:
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates)
    out, seen = [], set()
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError("function: updates must be (Variable, tensor) pairs or a dict")
        var, value = pair
        if not isinstance(var, Variable):
            raise TypeError(f"function: update target {getattr(var, 'name', var)!r} is not a sad.Variable")
        if var in seen:
            raise ValueError(f"function: Variable {var.name!r} is updated twice")
        seen.add(var)
        value = lift(value, dtype=var.dtype)
        if len(value.shape) != len(var.shape) or any(
                a is not None and a != b for a, b in zip(value.shape, var.shape)):
            raise ValueError(f"function: update of Variable {var.name!r} has shape "
                             f"{_format_shape(value.shape)}; expected {_format_shape(var.shape)}")
        if not np.can_cast(value.dtype, var.dtype, casting="same_kind"):
            raise TypeError(f"function: update of Variable {var.name!r} has dtype {value.dtype}; "
                            f"expected {var.dtype}")
        if value.dtype != var.dtype:
            from .ops import astype
            value = astype(value, var.dtype)
        out.append((var, value))
    return out


def _check_closed(program: Program, inputs):
    given = set(inputs)
    for node in program.nodes:
        if node.op.name == "placeholder" and node not in given:
            raise ValueError(f"function: the outputs depend on placeholder {node.name!r}, "
                             f"which is not in inputs ({', '.join(p.name for p in inputs) or 'none'})")


def _check_options(options) -> CompileOptions:
    if options is None:
        return CompileOptions()
    if not isinstance(options, CompileOptions):
        raise TypeError(f"function: options must be a sad.CompileOptions, got {type(options).__name__}")
    if options.profile:
        raise ValueError("function: CompileOptions(profile=True) is the profiler's build; use f.profile(...) "
                         "or `with sad.profile():`")
    return options

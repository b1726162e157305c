"""Small jitted helpers that generated modules import (``from staticad.backends import numba_runtime as _rt``)."""
from __future__ import annotations

import numpy as np
from numba import njit, types

from . import numba_blas as _blas

_OPTS = dict(cache=True, error_model="numpy")


# --- Ctrl-C inside compiled loops (NUMBA_FACTS.md #14) -------------------------------------------------
# Python runs signal handlers between bytecodes, never inside native code, so an unbounded
# ``while_loop`` polls: these C-API functions are bound by symbol name (resolved in each process,
# so the cached code holds no address). The GIL is taken around the check so that it is also
# safe from code running without it; off the main thread PyErr_CheckSignals does nothing.
_gil_ensure = types.ExternalFunction("PyGILState_Ensure", types.int32())
_gil_release = types.ExternalFunction("PyGILState_Release", types.void(types.int32))
_check_signals = types.ExternalFunction("PyErr_CheckSignals", types.int32())
_clear_error = types.ExternalFunction("PyErr_Clear", types.void())


class Interrupted(KeyboardInterrupt, Exception):
    """Ctrl-C in a compiled loop. A ``KeyboardInterrupt``; also an ``Exception`` only because Numba
    can raise nothing else."""


@njit(**_OPTS)
def interrupted():
    """Run pending signal handlers; True when one raised (SIGINT: KeyboardInterrupt), which the
    caller re-raises as :class:`Interrupted` (the handler's exception is cleared: Numba sets its own)."""
    state = _gil_ensure()
    failed = _check_signals() != 0
    if failed:
        _clear_error()
    _gil_release(state)
    return failed


@njit(**_OPTS)
def bdim(a, b):
    """Broadcast two run-time dims; -1 signals incompatible (the caller raises with a message)."""
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    return -1


@njit(**_OPTS)
def sigmoid(x):
    # exp of a non-positive argument only: no overflow for large |x|.
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@njit(**_OPTS)
def sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    if x != x:
        return x
    return 0


@njit(**_OPTS)
def maximum(a, b):
    # numpy propagates NaN from either side
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@njit(**_OPTS)
def minimum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@njit(**_OPTS)
def min_int(a, b):
    # the builtin min() is an overload numba compiles into every module that uses it
    return a if a <= b else b


@njit(**_OPTS)
def select(c, a, b):
    return a if c else b


@njit(**_OPTS)
def relu(x):
    if x != x:
        return x
    return x if x > 0 else x * 0


@njit(**_OPTS)
def matmul_int(a, b):
    n, k = a.shape
    m = b.shape[1]
    out = np.zeros((n, m), np.int64)
    for i in range(n):
        for p in range(k):
            av = a[i, p]
            for j in range(m):
                out[i, j] += av * b[p, j]
    return out


# Block reductions for generated flat loops. Compiled with 'reassoc' (and not inlined) so that
# LLVM vectorizes them; the loops that fill the blocks keep IEEE semantics.
_REDUCE = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})


@njit(**_REDUCE)
def block_sum(vals, n):
    acc = vals.dtype.type(0)
    for i in range(n):
        acc += vals[i]
    return acc


@njit(**_REDUCE)
def block_prod(vals, n):
    acc = vals.dtype.type(1)
    for i in range(n):
        acc *= vals[i]
    return acc


@njit(cache=True, error_model="numpy")
def block_max(vals, n):
    acc = vals[0]
    for i in range(1, n):
        acc = maximum(acc, vals[i])
    return acc


@njit(cache=True, error_model="numpy")
def block_min(vals, n):
    acc = vals[0]
    for i in range(1, n):
        acc = minimum(acc, vals[i])
    return acc


# --- array construction and library calls -------------------------------------------------------
# Generated entry points call these instead of numpy functions directly. Why: numba compiles the
# overload behind every numpy call (np.dot, np.empty, np.full, .view, .astype ...) into each new
# module, in every process (the mlp step: 6.5 s of a 10 s cold compile); behind a cached
# dispatcher it is compiled once per signature and loaded from numba's disk cache afterwards.
# Signatures carry no literal values (the code generator passes int64 dims), so one compiled
# helper serves every size. LLVM still inlines them into the caller.

@njit(**_OPTS)
def empty(shape, dtype):
    return np.empty(shape, dtype)


@njit(**_OPTS)
def zeros(shape, dtype):
    return np.zeros(shape, dtype)


@njit(**_OPTS)
def full(shape, value, dtype):
    return np.full(shape, value, dtype)


@njit(**_OPTS)
def scalar_array(value, dtype):
    """A 0-d array holding ``value``."""
    return np.full((), value, dtype)


@njit(**_OPTS)
def ws_array(ws, offset, nbytes, shape, dtype):
    """An array of ``shape`` carved from the workspace at ``offset``, or a fresh one when the
    workspace is too small (the entry point then reports the size it needs)."""
    if offset + nbytes <= ws.size:
        return ws[offset:offset + nbytes].view(dtype).reshape(shape)
    return np.empty(shape, dtype)


@njit(**_OPTS)
def fill(a, value):
    a[...] = value


@njit(**_OPTS)
def astype(a, dtype):
    return a.astype(dtype)


@njit(**_OPTS)
def astype_reshape(a, dtype, shape):
    return a.astype(dtype).reshape(shape)


@njit(**_OPTS)
def contiguous(a):
    return np.ascontiguousarray(a)


@njit(**_OPTS)
def contiguous_reshape(a, shape):
    return np.ascontiguousarray(a).reshape(shape)


@njit(**_OPTS)
def transpose(a, axes):
    return np.transpose(a, axes)


@njit(**_OPTS)
def copy(a):
    return np.copy(a)


@njit(**_OPTS)
def copy_c(a):
    """A C-contiguous copy (np.copy keeps an F layout)."""
    out = np.empty(a.shape, a.dtype)
    out[...] = a
    return out


@njit(**_OPTS)
def dot_numba(a, b):
    return np.dot(a, b)


@njit(**_OPTS)
def dot_numpy_blas(a, b):
    return _blas.blas_dot(a, b)


# Two dispatchers, not one with a branch: each has its own cache entries, so code cached where
# NumPy's BLAS was bound is never loaded where it is not (its symbols would not resolve).
dot = dot_numpy_blas if _blas.BINDING else dot_numba


@njit(**_OPTS)
def set_rows(out, start, stop, part):
    """``out[start:stop] = part`` (the parts of a concatenate along axis 0)."""
    out[start:stop] = part


@njit(**_OPTS)
def rows(a, start, stop):
    """The view ``a[start:stop]``."""
    return a[start:stop]

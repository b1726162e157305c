"""Small jitted helpers that generated modules import (``from staticad.backends import numba_runtime as _rt``)."""
from __future__ import annotations

import sys

import numba
import numpy as np
from numba import njit, types
from numba.extending import intrinsic

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


# --- vector width (AVX-512) -------------------------------------------------------------------------
# LLVM vectorizes for 256-bit registers on AVX-512 CPUs by default (its tuning for the clock
# penalty of 512-bit code on the first AVX-512 chips). Generated functions ask for the full width
# with the function attribute prefer-vector-width, which the loop vectorizer reads (512-bit
# operations are legal in any function without a min-legal-vector-width attribute). Chain
# float32 loss + grad, 2 threads, Xeon (Rocket Lake): n=1e7 24.4 -> 19.0 ms, n=1e5 199 -> 145 us.
# On CPUs without AVX-512 the attribute changes nothing. Only staticad's functions get it:
# numba's own setting (NUMBA_CPU_FEATURES) would change every numba function of the process.
WIDE_ATTRIBUTES = ('"prefer-vector-width"="512"',)


if numba.config.DISABLE_JIT:  # the generated code runs as Python (see NumbaExecutable._compile_entry)
    def wide_vectors():
        """Nothing to mark: no code is compiled."""
else:
    @intrinsic
    def wide_vectors(typingctx):
        """Marks the function being compiled for 512-bit vectors (see WIDE_ATTRIBUTES); no code."""
        def codegen(context, builder, signature, args):
            for attr in WIDE_ATTRIBUTES:
                # llvmlite's AttributeSet admits only attributes without a value: added past its check
                set.add(builder.function.attributes, attr)
            return context.get_dummy_value()
        return types.none(), codegen


@njit(**_OPTS)
def bdim(a, b):
    """Broadcast two run-time dims; -1 signals incompatible (the caller raises with a message)."""
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    return -1


# --- the scalar functions of elementwise ops (Op.scalar): ``_rt.<op name>`` ------------------------
def _scalar_function(op):
    """``op``'s scalar function compiled by njit, bound here as ``_rt.<op name>``."""
    fn = globals().get(op.name)
    if fn is None:
        fn = globals()[op.name] = njit(**_OPTS)(op.scalar)
    elif getattr(fn, "py_func", None) is not op.scalar:
        raise RuntimeError(f"numba_runtime: the scalar function of op {op.name!r} clashes with a runtime helper")
    return fn


def __getattr__(name):
    # an op registered after this module was imported (generated code reads _rt.<op name>)
    from ..registry import REGISTRY
    op = REGISTRY.get(name)
    if op is None or op.scalar is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _scalar_function(op)


def _bind_scalar_functions():
    from ..registry import REGISTRY
    for op in list(REGISTRY.values()):
        if op.scalar is not None:
            _scalar_function(op)


_bind_scalar_functions()


@njit(**_OPTS)
def min_int(a, b):
    # the builtin min() is an overload numba compiles into every module that uses it
    return a if a <= b else b


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
def block_sum_wide(vals, n):
    """:func:`block_sum` of float32 contributions, accumulated in float64: the loop filling the
    block stores them at their own width (a float64 block made LLVM vectorize the float32 loop
    8 lanes wide instead of 16 on AVX-512); float32 -> float64 is exact, so the sum is the same."""
    acc = np.float64(0)
    for i in range(n):
        acc += np.float64(vals[i])
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

# Arrays of 4 MiB and more ask Linux for transparent huge pages before their first touch, as
# NumPy's own allocator does (numba's allocator does not). A fresh array's pages fault in on
# first write; 2 MiB pages fault 512x less often. Chain loss + grad n=1e7 float32, 2 threads,
# Xeon: writing a fresh 40 MB output 9.4 ms without, 5.0 ms with. Where THP is "never" or
# "always" the call changes nothing; off Linux (no MADV_HUGEPAGE) it is not made.
HUGE_PAGE_MIN = 1 << 22
_PAGE = 4096                 # madvise wants a page-aligned start; a larger page size makes it refuse
_MADV_HUGEPAGE = 14

if sys.platform.startswith("linux") and not numba.config.DISABLE_JIT:
    _madvise = types.ExternalFunction("madvise", types.int32(types.uintp, types.uintp, types.int32))

    @njit(**_OPTS)
    def advise_huge_pages(a):
        """Ask for huge pages behind a large fresh array (see HUGE_PAGE_MIN); never fails."""
        if a.nbytes >= HUGE_PAGE_MIN:
            start = (a.ctypes.data + (_PAGE - 1)) & ~(_PAGE - 1)
            end = (a.ctypes.data + a.nbytes) & ~(_PAGE - 1)
            _madvise(start, end - start, _MADV_HUGEPAGE)
else:
    @njit(**_OPTS)
    def advise_huge_pages(a):
        """Nothing to ask for on this platform."""


@njit(**_OPTS)
def _fill(a, value):
    flat = a.reshape(a.size)  # (ndarray.fill refuses 0-d arrays)
    for i in range(a.size):
        flat[i] = value


@njit(**_OPTS)
def empty(shape, dtype):
    a = np.empty(shape, dtype)
    advise_huge_pages(a)
    return a


@njit(**_OPTS)
def zeros(shape, dtype):
    a = np.empty(shape, dtype)
    advise_huge_pages(a)
    _fill(a, 0)
    return a


@njit(**_OPTS)
def full(shape, value, dtype):
    a = np.empty(shape, dtype)
    advise_huge_pages(a)
    _fill(a, value)
    return a


@njit(**_OPTS)
def scalar_array(value, dtype):
    """A 0-d array holding ``value``."""
    return np.full((), value, dtype)


@njit(**_OPTS)
def ws_counter():
    """``[bytes of the workspace taken so far]``: one per generated function and call."""
    return np.zeros(1, np.int64)


@njit(**_OPTS)
def ws_array(ws, taken, shape, dtype, itemsize):
    """An array of ``shape`` carved from the workspace after the ``taken[0]`` bytes already
    used (64-byte aligned), or a fresh one when the workspace is too small (the function then
    reports the size it needs). One call per buffer: every statement of a generated entry
    point costs compile time (a running offset in the caller took a dozen)."""
    n = itemsize
    for d in shape:
        n *= d
    offset = taken[0]
    taken[0] = offset + ((n + 63) // 64) * 64
    if offset + n <= ws.size:
        return ws[offset:offset + n].view(dtype).reshape(shape)
    return np.empty(shape, dtype)


@njit(**_OPTS)
def ws_filled(ws, taken, shape, dtype, itemsize, value):
    """:func:`ws_array` filled with ``value`` (an accumulator's identity)."""
    a = ws_array(ws, taken, shape, dtype, itemsize)
    a[...] = value
    return a


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
def gemm_update_numba(c, a, b, alpha, out):
    out[...] = c + alpha * np.dot(a, b)


#: ``out[...] = c + alpha * (a @ b)`` (the ``gemm_update`` op), two dispatchers as for ``dot``; the
#: BLAS one is defined in numba_blas, so that Numba's cache of it follows that file's changes
gemm_update = _blas.gemm_update if _blas.BINDING else gemm_update_numba


@njit(**_OPTS)
def set_rows(out, start, stop, part):
    """``out[start:stop] = part`` (the parts of a concatenate along axis 0)."""
    out[start:stop] = part


@njit(**_OPTS)
def rows(a, start, stop):
    """The view ``a[start:stop]``."""
    return a[start:stop]


# --- packed inputs and outputs of wide entry points (NumbaCodegen._plan_packed_inputs, _packed_outputs) ----------------
@njit(**_OPTS)
def put_flat(out, dst, src, src_off, n):
    """``out[dst:dst + n]`` = the elements ``src_off:src_off + n`` of ``src`` in C order."""
    flat = src.ravel()
    out[dst:dst + n] = flat[src_off:src_off + n]


@njit(**_OPTS)
def unflat(a, off, shape):
    """The C-contiguous view of ``shape`` at flat offset ``off`` of the 1-d array ``a``."""
    n = 1
    for d in shape:
        n *= d
    return a[off:off + n].reshape(shape)

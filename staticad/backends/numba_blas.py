"""NumPy's own BLAS for the matmuls of generated code (``_rt.dot``).

Numba's ``np.dot`` calls SciPy's BLAS (through ``scipy.linalg.cython_blas``), a different OpenBLAS
build than NumPy's and, on some machines, half as fast (issue 15: a (16,1000)@(1000,100) float32
product took 123 µs through Numba against 63 µs through NumPy). Here the CBLAS functions of the
library NumPy itself links are bound instead:

* they are looked up with ``dlsym`` on NumPy's extension module, which searches the libraries it
  depends on, so no path is guessed and the very instance NumPy uses is found (its thread count
  follows ``OPENBLAS_NUM_THREADS`` and threadpoolctl like NumPy's ``@``);
* each address is registered under a stable name of our own (``staticad_cblas_sgemm`` ...) with
  ``llvmlite.binding.add_symbol`` in every process, and the jitted code calls that name. Numba's
  on-disk cache therefore holds a symbol reference, never an address, and stays valid across
  processes and across NumPy builds whose symbols are named differently;
* only ILP64 builds are bound (64-bit dimensions: NumPy >= 2 wheels' ``scipy_cblas_*64_``, older
  wheels' ``cblas_*64_``, MKL's ``cblas_*_64``). Anything else, or ``STATICAD_BLAS=numba``, leaves
  :data:`BINDING` ``None`` and the runtime keeps Numba's ``np.dot``.

Layouts: row-major and column-major (transposed) views go to BLAS as they are, with the CBLAS
transpose flags and their leading dimension; other strides are copied once. Vector-vector products
and dtypes other than float32/float64 keep ``np.dot``.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np
from llvmlite import binding as _ll
from numba import njit, types
from numba.extending import overload

_FUNCS = ("sgemm", "dgemm", "sgemv", "dgemv")
# (prefix, suffix) of the ILP64 CBLAS names, most likely first
_MANGLINGS = (("scipy_cblas_", "64_"), ("cblas_", "64_"), ("cblas_", "_64"))
_STABLE = "staticad_cblas_"


def _numpy_extension() -> str | None:
    try:
        from numpy._core import _multiarray_umath as m
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core import _multiarray_umath as m
        except ImportError:
            return None
    return getattr(m, "__file__", None)


def _library_of(address: int) -> str | None:
    """The file a symbol address lies in (``dladdr``), for :func:`describe`."""
    class _DlInfo(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                    ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError):
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    info = _DlInfo()
    if dladdr(address, ctypes.byref(info)) and info.fname:
        return os.path.realpath(info.fname.decode(errors="replace"))
    return None


def _bind():
    """Find NumPy's CBLAS and register the stable names; returns a description dict or None."""
    if os.environ.get("STATICAD_BLAS", "").strip().lower() in ("numba", "scipy", "0", "off"):
        return None
    path = _numpy_extension()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)  # already loaded: the same handle; dlsym searches its dependencies
    except OSError:
        return None
    for prefix, suffix in _MANGLINGS:
        try:
            addrs = {f: ctypes.cast(getattr(lib, prefix + f + suffix), ctypes.c_void_p).value
                     for f in _FUNCS}
        except AttributeError:
            continue
        for f, addr in addrs.items():
            _ll.add_symbol(_STABLE + f, addr)
        config = None
        for name in ("scipy_openblas_get_config64_", "openblas_get_config64_", "openblas_get_config"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                config = " ".join(fn().decode(errors="replace").split())
                break
        return {"symbol": prefix + "sgemm" + suffix, "library": _library_of(addrs["sgemm"]),
                "config": config}
    return None


_INFO = _bind()
#: ``"numpy"`` when generated matmuls call NumPy's own CBLAS, ``None`` when they use Numba's np.dot
BINDING = "numpy" if _INFO else None


def describe() -> str:
    """One line for ``staticad info``: which BLAS the numba backend's matmuls call."""
    if _INFO is None:
        why = " (STATICAD_BLAS)" if os.environ.get("STATICAD_BLAS") else ""
        return f"numba's np.dot (SciPy's BLAS){why}"
    parts = [f"NumPy's own CBLAS ({_INFO['symbol']})"]
    if _INFO.get("config"):
        parts.append(_INFO["config"])
    if _INFO.get("library"):
        parts.append(os.path.basename(_INFO["library"]))
    return ", ".join(parts)


# --- the CBLAS functions, by their stable names -------------------------------------------------
_ROW_MAJOR, _NO_TRANS = 101, 111  # CblasRowMajor, CblasNoTrans (CblasTrans = 112)
_i32, _i64 = types.int32, types.int64


def _gemm_type(dt):
    p = types.CPointer(dt)
    return types.void(_i32, _i32, _i32, _i64, _i64, _i64, dt, p, _i64, p, _i64, dt, p, _i64)


def _gemv_type(dt):
    p = types.CPointer(dt)
    return types.void(_i32, _i32, _i64, _i64, dt, p, _i64, p, _i64, dt, p, _i64)


_sgemm = types.ExternalFunction(_STABLE + "sgemm", _gemm_type(types.float32))
_dgemm = types.ExternalFunction(_STABLE + "dgemm", _gemm_type(types.float64))
_sgemv = types.ExternalFunction(_STABLE + "sgemv", _gemv_type(types.float32))
_dgemv = types.ExternalFunction(_STABLE + "dgemv", _gemv_type(types.float64))

_OPTS = dict(cache=True, error_model="numpy")


@njit(**_OPTS)
def _layout(a):
    """How BLAS can read the 2-D ``a`` in place: (0, ld) row-major, (1, ld) column-major (its
    transpose is row-major), (-1, 0) neither (negative, zero or odd strides: copy it first). A
    dimension of length 1 constrains no stride (NumPy and views leave anything there)."""
    r, c = a.shape
    s = a.itemsize
    s0, s1 = a.strides
    if (c <= 1 or s1 == s) and (r <= 1 or (s0 > 0 and s0 % s == 0 and s0 // s >= c)):
        return 0, (s0 // s if r > 1 else max(c, 1))
    if (r <= 1 or s0 == s) and (c <= 1 or (s1 > 0 and s1 % s == 0 and s1 // s >= r)):
        return 1, (s1 // s if c > 1 else max(r, 1))
    return -1, 0


@njit(**_OPTS)
def _inc(x):
    """BLAS increment of the 1-D ``x``, 0 when it must be copied (negative, zero or odd stride)."""
    s = x.itemsize
    s0 = x.strides[0]
    if x.shape[0] <= 1:
        return 1
    if s0 > 0 and s0 % s == 0:
        return s0 // s
    return 0


def blas_dot(a, b):
    """``np.dot(a, b)`` for jitted code, through NumPy's CBLAS where it is bound (see module doc)."""
    return np.dot(a, b)


def _np_dot(a, b):
    return np.dot(a, b)


def _make_gemm_into(gemm):
    def gemm_into(a, b, alpha, beta, out, ldo):
        """``out = alpha * (a @ b) + beta * out`` (``out`` row-major, leading dimension ``ldo``;
        sizes checked by the caller): one BLAS call, operands it cannot read in place copied first."""
        m, k = a.shape
        n = b.shape[1]
        ta, lda = _layout(a)
        if ta < 0:
            a = np.ascontiguousarray(a)
            ta, lda = 0, k
        tb, ldb = _layout(b)
        if tb < 0:
            b = np.ascontiguousarray(b)
            tb, ldb = 0, n
        gemm(_ROW_MAJOR, _NO_TRANS + ta, _NO_TRANS + tb, m, n, k, alpha, a.ctypes, lda,
             b.ctypes, ldb, beta, out.ctypes, ldo)
    return njit(**_OPTS)(gemm_into)


def _make_mm(gemm_into):
    def mm(a, b):
        m, k = a.shape
        n = b.shape[1]
        if b.shape[0] != k:
            raise ValueError("incompatible array sizes for np.dot(a, b) (matrix * matrix)")
        out = np.empty((m, n), a.dtype)
        if m == 0 or n == 0:
            return out
        if k == 0:
            out[...] = 0
            return out
        gemm_into(a, b, 1.0, 0.0, out, n)
        return out
    return mm


def blas_gemm_update(c, a, b, alpha, out):
    """``out[...] = c + alpha * (a @ b)`` for jitted code (the ``gemm_update`` op); ``c`` may be
    ``out`` itself (the update accumulates into the Variable's storage)."""
    out[...] = c + alpha * np.dot(a, b)


def _gemm_update_numba(c, a, b, alpha, out):
    out[...] = c + alpha * np.dot(a, b)


@njit(**_OPTS)
def _span(x):
    """[first, last) byte addresses the 2-D ``x`` spans (reversed views run downwards)."""
    lo = x.ctypes.data
    hi = lo + x.itemsize
    for d in range(2):
        if x.shape[d] == 0:
            return lo, lo
        step = (x.shape[d] - 1) * x.strides[d]
        if step < 0:
            lo += step
        else:
            hi += step
    return lo, hi


@njit(**_OPTS)
def _overlap(x, y):
    xl, xh = _span(x)
    yl, yh = _span(y)
    return xl < yh and yl < xh


def _make_gemm_update(gemm_into):
    def gemm_update(c, a, b, alpha, out):
        # c is copied into out (unless it is out), then one GEMM accumulates into it (beta = 1):
        # no temporary for the product, no second pass over it. BLAS has no C = beta*W + alpha*AB
        # with C != W, hence the copy.
        m, k = a.shape
        n = b.shape[1]
        if b.shape[0] != k or c.shape != (m, n) or out.shape != (m, n):
            raise ValueError("gemm_update: incompatible array sizes")
        to, ldo = _layout(out)
        if to != 0 or _overlap(a, out) or _overlap(b, out):
            # not our own C-ordered buffer, or an operand shares its memory: product first
            out[...] = c + alpha * blas_dot(a, b)
            return
        if c.ctypes.data != out.ctypes.data or c.strides != out.strides:
            out[...] = c
        if m == 0 or n == 0 or k == 0:
            return
        gemm_into(a, b, alpha, 1.0, out, ldo)
    return gemm_update


def _make_gemv(gemv):
    def mat_vec(mat, vec, transpose):
        """``mat @ vec`` (``transpose`` False) or ``mat.T @ vec`` (True)."""
        r, c = mat.shape
        n_out, n_in = (c, r) if transpose else (r, c)
        if vec.shape[0] != n_in:
            raise ValueError("incompatible array sizes for np.dot(a, b)")
        out = np.empty(n_out, mat.dtype)
        if n_out == 0:
            return out
        if n_in == 0:
            out[...] = 0
            return out
        t, ld = _layout(mat)
        if t < 0:
            mat = np.ascontiguousarray(mat)
            t, ld = 0, c
        inc = _inc(vec)
        if inc == 0:
            vec = np.ascontiguousarray(vec)
            inc = 1
        # row-major storage of mat (t == 0) is (r, c); of mat.T (t == 1) is (c, r)
        rows, cols = (r, c) if t == 0 else (c, r)
        trans = _NO_TRANS + (1 if transpose != (t == 1) else 0)
        gemv(_ROW_MAJOR, trans, rows, cols, 1.0, mat.ctypes, ld, vec.ctypes, inc, 0.0, out.ctypes, 1)
        return out
    return njit(**_OPTS)(mat_vec)


_IMPLS = {}
_GEMM_UPDATES = {}
for _dt, _gemm, _gv in ((types.float32, _sgemm, _sgemv), (types.float64, _dgemm, _dgemv)):
    _into = _make_gemm_into(_gemm)
    _GEMM_UPDATES[_dt] = _make_gemm_update(_into)
    _mv_of = _make_gemv(_gv)
    _IMPLS[_dt] = (_make_mm(_into),
                   (lambda g: lambda a, b: g(a, b, False))(_mv_of),
                   (lambda g: lambda a, b: g(b, a, True))(_mv_of))


@overload(blas_dot)
def _blas_dot_impl(a, b):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)) or a.dtype != b.dtype \
            or a.dtype not in (types.float32, types.float64):
        return _np_dot
    mm, mv, vm = _IMPLS[a.dtype]
    if a.ndim == 2 and b.ndim == 2:
        return mm
    if a.ndim == 2 and b.ndim == 1:
        return mv
    if a.ndim == 1 and b.ndim == 2:
        return vm
    return _np_dot


@overload(blas_gemm_update)
def _blas_gemm_update_impl(c, a, b, alpha, out):
    arrays = (c, a, b, out)
    if not all(isinstance(x, types.Array) and x.ndim == 2 for x in arrays) \
            or len({x.dtype for x in arrays}) != 1 or a.dtype not in _GEMM_UPDATES:
        return _gemm_update_numba
    return _GEMM_UPDATES[a.dtype]


@njit(**_OPTS)
def gemm_update(c, a, b, alpha, out):
    """The jitted entry of :func:`blas_gemm_update` (``_rt.gemm_update`` where NumPy's BLAS is bound)."""
    blas_gemm_update(c, a, b, alpha, out)

"""Vectorizable scalar math for the Numba backend (no SVML, so no libm in hot loops).

The llvmlite wheels carry no SVML, so a loop that calls ``math.sin``/``math.exp`` etc. stays scalar
(one libm call per element, see spec/NUMBA_FACTS.md fact 1). Every function here is pure arithmetic
(integer bit tricks, ``np.rint``, multiplies/adds, one division at most, table loads) written
branch-free in effect, so when LLVM inlines it into a generated loop the loop vectorizes.

Which function to call per dtype (the codegen picks by the operand's dtype at generation time):

=========  =====================  =====================  ==========================================
op         float32 argument(s)    float64 argument(s)    notes
=========  =====================  =====================  ==========================================
exp        ``exp_f32(x)``         ``exp_f64(x)``
log        ``log_f32(x)``         ``log_f64(x)``
log1p      ``log1p_f32(x)``       ``log1p_f64(x)``
sin        ``sin_f32(x)``         ``sin_f64(x)``         full range (Payne-Hanek reduction)
cos        ``cos_f32(x)``         ``cos_f64(x)``         full range
tan        ``tan_f32(x)``         ``tan_f64(x)``         full range
tanh       ``tanh_f32(x)``        ``tanh_f64(x)``
sigmoid    ``sigmoid_f32(x)``     ``sigmoid_f64(x)``
sqrt       ``sqrt_f32(x)``        ``sqrt_f64(x)``        ``math.sqrt``: the LLVM intrinsic, vsqrtps/pd
pow        ``pow_f32(x, y)``      ``x ** y`` (libm)      see ``pow_f64`` below
=========  =====================  =====================  ==========================================

Each ``*_f32`` takes and returns float32, each ``*_f64`` float64; the codegen must pass the operand
in that dtype (``np.float32(v)`` if unsure). Integer and bool operands: cast to float64 and call the
``_f64`` variant (that is NumPy's result dtype for these ops). ``FUNCS`` maps ``(op, dtype name)``
to the function's name, for use in templates such as ``"_nm.exp_f32({0})"``.

Rules the caller must keep:

* call these from ``@njit`` code compiled with or without ``fastmath``: they are separate
  ``@njit(cache=True)`` functions, LLVM inlines them and keeps their own instruction flags
  (``contract`` only), so NaN/inf handling survives inside a ``fastmath=True`` kernel too (tested).
  Do NOT copy their bodies into a kernel compiled with ``fastmath=True`` or ``reassoc``: the
  range reductions rely on exact IEEE rounding (``nnan``/``ninf``/``reassoc`` would break the
  special-value selects and the Cody-Waite/compensated sums).
* they use ``error_model="numpy"`` (no division-by-zero branches).

Accuracy (max error in ULP of the result, measured by tests/backends/test_numba_math.py against a
float64 reference for float32 and an 80-bit ``np.longdouble`` reference for float64) is listed in
``MAX_ULP``; special values (NaN, +-inf, +-0, overflow, underflow to denormals/0, denormal inputs)
follow NumPy.

Algorithms (all derived here; polynomial coefficients are minimax fits made with
``derive_coefficients()`` below, a small Remez exchange run in mpmath, rounded to the target type):

* exp: k = rint(x / ln2) (``np.rint``: vroundps), r = x - k*ln2 with ln2 split in two (Cody-Waite, the
  high part has enough trailing zeros that k*hi is exact), e^r = 1 + r + r^2 Q(r), times 2^k built
  from integer exponent bits as two factors 2^(k//2) * 2^(k - k//2) so overflow gives inf and the
  denormal range rounds once. Input clamped before the float->int conversion (NaN/inf never reach it).
* log/log1p: x = 2^e m, m in [sqrt(1/2), sqrt(2)) by integer arithmetic on the bits (denormals
  prescaled by 2^25 / 2^54), f = m - 1, s = f/(2+f), log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)).
  log1p adds the rounding error of 1+x back as c/u.
* sin/cos/tan: |x| < pi/4 is used as is; otherwise x*2/pi mod 4 is computed exactly for every
  finite x (Payne-Hanek in a vectorizable form): the mantissa (float32: 24-bit integer; float64: two
  26/27-bit halves) times chunks of (2^E * 2/pi mod 4) from a per-exponent table (built at import from
  an integer computation of pi), products exact, float64: summed in integer limbs with carries. The
  reduced argument goes to odd/even minimax polynomials. float32 sin/cos evaluate in float32 on the
  reduced argument as a float32 pair; float32 tan runs wholly in float64. Up to |x| <= 2^20, float32
  sin/cos reduce by Cody-Waite in float32 with explicit FMAs (a float32 pair, no float64 step) and
  tan by Cody-Waite in float64; the full-range functions select that same reduction there, so the
  fast variants (``sin_fast_f32`` etc., |x| <= 2^20 only) give their results bit for bit. Up to
  |x| <= 2^30, float64 sin/cos/tan reduce by Cody-Waite in float64 with explicit FMAs (a
  double-double, branch-free, vectorizable); the full-range functions branch to it there, so
  ``sin_fast_f64`` etc. give their bits too.
* tanh: |x| < 0.55: x + x^3 T(x^2); else 1 - 2/(exp(2|x|)+1); sign restored. float32 clamps |x| to
  9.25 (tanh is 1 in float32 beyond) so its exp needs neither clamps nor a second scale factor.
* sigmoid: e = exp(-|x|); (1 or e)/(1+e).
* pow (float32): exp(y*log|x|) evaluated in float64 (error of y*log|x| stays < 2^-45 relative, far
  below a float32 ULP), with every C99/NumPy special case (negative base with integer exponent, zeros,
  infinities, x==1, y==0) as selects.

Why pow_f64 is libm: exp(y*log x) needs log x to ~2^-64 relative for |y log x| up to 745 (a float64
error in y*log x is amplified into the result's relative error), i.e. a double-double log and an exp
with a double-double argument; not done here, so float64 ``**`` stays ``x ** y`` (LLVM ``pow``).
``pow_f64`` is provided only as an alias of ``x ** y`` so the codegen can call one name per dtype.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .numba_math_base import (  # noqa: F401
    _OPTS, _F32, _F64, _I32, _I64, _trunc, _EXP_Q32, _EXP_Q64, _LOG_P32, _LOG_P64, _SIN_S32,
    _COS_C32, _SIN_S64, _COS_C64, _TANH_T32, _TANH_T64, _EQ0, _EQ1, _EQ2, _EQ3, _EQ4, _DQ0, _DQ1,
    _DQ2, _DQ3, _DQ4, _DQ5, _DQ6, _DQ7, _DQ8, _DQ9, _ELP0, _ELP1, _ELP2, _DLP0, _DLP1, _DLP2,
    _DLP3, _DLP4, _DLP5, _DLP6, _ES0, _ES1, _ES2, _ES3, _EC0, _EC1, _EC2, _EC3, _DS0, _DS1, _DS2,
    _DS3, _DS4, _DS5, _DS6, _DC0, _DC1, _DC2, _DC3, _DC4, _DC5, _DC6, _ET0, _ET1, _ET2, _ET3, _ET4,
    _DT0, _DT1, _DT2, _DT3, _DT4, _DT5, _DT6, _DT7, _DT8, _DT9, _DT10, _LN2, _LOG2E, _ln2_minus,
    _F32_ZERO, _F32_ONE, _F32_TWO, _F32_MONE, _F32_HALF, _F32_INF, _F32_NAN, _E32_LOG2E,
    _E32_LN2HI, _E32_LN2LO, _E32_XMAX, _E32_XMIN, _L32_SQRTH, _L32_TINY, _L32_SCALE, _L32_MASK,
    _F64_ZERO, _F64_ONE, _F64_TWO, _F64_MONE, _F64_HALF, _F64_INF, _F64_NAN, _E64_LOG2E,
    _E64_LN2HI, _E64_LN2LO, _E64_XMAX, _E64_XMIN, _L64_SQRTH, _L64_TINY, _L64_SCALE, _L64_MASK)


# ============================================================================================
# exp
# ============================================================================================


@njit(**_OPTS)
def exp_f32(x):
    xc = x if x < _E32_XMAX else _E32_XMAX          # NaN and +inf -> XMAX (result fixed below)
    xc = xc if xc > _E32_XMIN else _E32_XMIN
    k = np.rint(xc * _E32_LOG2E)
    r = (xc - k * _E32_LN2HI) - k * _E32_LN2LO
    q = _EQ0 + r * (_EQ1 + r * (_EQ2 + r * (_EQ3 + r * _EQ4)))
    p = _F32_ONE + (r + (r * r) * q)
    # float -> int32 (vcvtps2dq): a conversion to int64 has no AVX2 instruction, and LLVM
    # scalarized it (8 vcvttss2si per vector), the loop's bottleneck
    ki = _I32(k)
    k1 = ki >> _I32(1)
    k2 = ki - k1
    s1 = _I32((k1 + _I32(127)) << _I32(23)).view(_F32)
    s2 = _I32((k2 + _I32(127)) << _I32(23)).view(_F32)
    y = (p * s1) * s2
    return y if x == x else x


@njit(**_OPTS)
def exp_f64(x):
    xc = x if x < _E64_XMAX else _E64_XMAX
    xc = xc if xc > _E64_XMIN else _E64_XMIN
    k = np.rint(xc * _E64_LOG2E)
    r = (xc - k * _E64_LN2HI) - k * _E64_LN2LO
    q = _DQ0 + r * (_DQ1 + r * (_DQ2 + r * (_DQ3 + r * (_DQ4 + r * (
        _DQ5 + r * (_DQ6 + r * (_DQ7 + r * (_DQ8 + r * _DQ9))))))))
    p = _F64_ONE + (r + (r * r) * q)
    ki = _I64(k)
    k1 = ki >> 1
    k2 = ki - k1
    s1 = _I64((k1 + 1023) << 52).view(_F64)
    s2 = _I64((k2 + 1023) << 52).view(_F64)
    y = (p * s1) * s2
    return y if x == x else x


# ============================================================================================
# log, log1p
# ============================================================================================


@njit(**_OPTS)
def _log_kernel_f32(u):
    """(e, f) with u = 2^e (1 + f), 1 + f in [sqrt(1/2), sqrt(2)); meaningful for finite u > 0."""
    tiny = u < _L32_TINY
    us = u * _L32_SCALE if tiny else u
    ix = _I64(_F32(us).view(_I32))     # numba: .view needs a value made by np.<dtype>()
    e0 = (ix - _L32_SQRTH) >> 23
    m = _I32(ix - (e0 << 23)).view(_F32)
    e = e0 - 25 if tiny else e0
    f = m - _F32_ONE
    return _F32(e), f


@njit(**_OPTS)
def _log1pf_poly_f32(f):
    """log(1+f) - f for f in [sqrt(1/2)-1, sqrt(2)-1], as -(hfsq - s (hfsq + R))."""
    s = f / (_F32_TWO + f)
    z = s * s
    hfsq = _F32_HALF * f * f
    rr = z * (_ELP0 + z * (_ELP1 + z * _ELP2))
    return hfsq, s * (hfsq + rr)


@njit(**_OPTS)
def log_f32(x):
    e, f = _log_kernel_f32(x)
    hfsq, t = _log1pf_poly_f32(f)
    y = e * _E32_LN2HI + (f - (hfsq - (t + e * _E32_LN2LO)))
    y = y if x < _F32_INF else x                  # +inf
    y = y if x >= _F32_ZERO else _F32_NAN         # x < 0 (NaN stays NaN: y is NaN then)
    return y if x != _F32_ZERO else -_F32_INF


@njit(**_OPTS)
def log1p_f32(x):
    u = _F32_ONE + x
    e, f = _log_kernel_f32(u)
    # c = (1 + x) - u exactly (the rounding error of u), added back as c/u
    c = (x - (u - _F32_ONE)) if x < _F32_ONE else (_F32_ONE - (u - x))
    hfsq, t = _log1pf_poly_f32(f)
    y = e * _E32_LN2HI + (f - (hfsq - (t + (e * _E32_LN2LO + c / u))))
    y = y if x < _F32_INF else x
    y = y if x != _F32_ZERO else x                # keeps -0
    y = y if x >= _F32_MONE else _F32_NAN
    return y if x != _F32_MONE else -_F32_INF


@njit(**_OPTS)
def _log_kernel_f64(u):
    tiny = u < _L64_TINY
    us = u * _L64_SCALE if tiny else u
    ix = _F64(us).view(_I64)
    e0 = (ix - _L64_SQRTH) >> 52
    m = _I64(ix - (e0 << 52)).view(_F64)
    e = e0 - 54 if tiny else e0
    f = m - _F64_ONE
    return _F64(e), f


@njit(**_OPTS)
def _log1pf_poly_f64(f):
    s = f / (_F64_TWO + f)
    z = s * s
    hfsq = _F64_HALF * f * f
    rr = z * (_DLP0 + z * (_DLP1 + z * (_DLP2 + z * (_DLP3 + z * (_DLP4 + z * (_DLP5 + z * _DLP6))))))
    return hfsq, s * (hfsq + rr)


@njit(**_OPTS)
def log_f64(x):
    e, f = _log_kernel_f64(x)
    hfsq, t = _log1pf_poly_f64(f)
    y = e * _E64_LN2HI + (f - (hfsq - (t + e * _E64_LN2LO)))
    y = y if x < _F64_INF else x
    y = y if x >= _F64_ZERO else _F64_NAN
    return y if x != _F64_ZERO else -_F64_INF


@njit(**_OPTS)
def log1p_f64(x):
    u = _F64_ONE + x
    e, f = _log_kernel_f64(u)
    c = (x - (u - _F64_ONE)) if x < _F64_ONE else (_F64_ONE - (u - x))
    hfsq, t = _log1pf_poly_f64(f)
    y = e * _E64_LN2HI + (f - (hfsq - (t + (e * _E64_LN2LO + c / u))))
    y = y if x < _F64_INF else x
    y = y if x != _F64_ZERO else x
    y = y if x >= _F64_MONE else _F64_NAN
    return y if x != _F64_MONE else -_F64_INF


# sin, cos, tan: numba_trig
from .numba_trig import (  # noqa: F401
    _pi_fixed, _TWO_OVER_PI_BITS, _TWO_OVER_PI, _two_over_pi_mod4, _window_words, _build_f32_table,
    _build_f64_table, _PH32, _PH64, _S_PIO4_32, _S_PIO4_64, _S_PIO2, _S_PIO2_HI, _S_PIO2_MID,
    _S_PIO2_LO, _S_2M28, _S_2M58, _S_2M88, _S_2M118, _M30, _SPLIT_MASK, _reduce_f32, _reduce_f64,
    _split_hi, _split_f32, _sincos_poly_f32, _sincos_poly_f32x, _sincos_poly_f64, _pick_sin, _pick_cos, sin_f32, cos_f32, tan_f32,
    TRIG_FAST_LIMIT_F32, _pio2_parts, _CW_PIO2_1, _CW_PIO2_2, _CW_PIO2_3, _S_2_OVER_PI,
    _pio2_parts_f32, _F_PIO2_1, _F_PIO2_2, _F_PIO2_3, _F_PIO2_4, _F_2_OVER_PI, _fma,
    _reduce_fast_f32, _reduce_fast_f32x, _reduce_any_f32x, sin_fast_f32, cos_fast_f32, tan_fast_f32,
    TRIG_FAST_LIMIT_F64, _D_PIO2_1, _D_PIO2_2, _D_PIO2_3, _reduce_fast_f64, _reduce_any_f64,
    sin_fast_f64, cos_fast_f64, tan_fast_f64, sincos_fast_f64, sin_f64, cos_f64, tan_f64, sincos_f32, sincos_f64)


# ============================================================================================
# tanh, sigmoid
# ============================================================================================
_T32_SMALL = _F32(0.55)
_T64_SMALL = _F64(0.55)
_T32_SAT = _F32(9.25)      # 1 - tanh(9.25) = 1.9e-8 < 2^-25: tanh rounds to 1 from here on


@njit(**_OPTS)
def _exp_tanh_f32(a):
    """e^a for 0 <= a <= 2*_T32_SAT (not NaN: the int conversion must see a finite k): exp_f32
    without its clamps and its second scale factor (2^k stays normal), the same value; a third
    fewer instructions in tanh's loop."""
    k = np.rint(a * _E32_LOG2E)
    r = (a - k * _E32_LN2HI) - k * _E32_LN2LO
    q = _EQ0 + r * (_EQ1 + r * (_EQ2 + r * (_EQ3 + r * _EQ4)))
    p = _F32_ONE + (r + (r * r) * q)
    return p * _I32((_I32(k) + _I32(127)) << _I32(23)).view(_F32)


@njit(**_OPTS)
def tanh_f32(x):
    ax = abs(x)
    z = ax * ax
    small = ax + (ax * z) * (_ET0 + z * (_ET1 + z * (_ET2 + z * (_ET3 + z * _ET4))))
    ac = ax if ax < _T32_SAT else _T32_SAT          # inf and NaN too (NaN is restored below)
    e = _exp_tanh_f32(ac + ac)
    big = _F32_ONE - _F32_TWO / (e + _F32_ONE)
    v = small if ax < _T32_SMALL else big
    v = -v if x < _F32_ZERO else v
    return v if ax > _F32_ZERO else x               # +-0 and NaN: x itself


@njit(**_OPTS)
def tanh_f64(x):
    ax = abs(x)
    z = ax * ax
    small = ax + (ax * z) * (_DT0 + z * (_DT1 + z * (_DT2 + z * (_DT3 + z * (_DT4 + z * (
        _DT5 + z * (_DT6 + z * (_DT7 + z * (_DT8 + z * (_DT9 + z * _DT10))))))))))
    e = exp_f64(ax + ax)
    big = _F64_ONE - _F64_TWO / (e + _F64_ONE)
    v = small if ax < _T64_SMALL else big
    return -v if x < _F64_ZERO else (x if x == _F64_ZERO else v)


@njit(**_OPTS)
def sigmoid_f32(x):
    e = exp_f32(-abs(x))                       # exp of a non-positive argument: no overflow
    num = _F32_ONE if x >= _F32_ZERO else e
    return num / (_F32_ONE + e)


@njit(**_OPTS)
def sigmoid_f64(x):
    e = exp_f64(-abs(x))
    num = _F64_ONE if x >= _F64_ZERO else e
    return num / (_F64_ONE + e)


# ============================================================================================
# sqrt, pow
# ============================================================================================


@njit(**_OPTS)
def sqrt_f32(x):
    # math.sqrt lowers to the llvm.sqrt intrinsic (vsqrtps), correctly rounded, NaN for x < 0
    return math.sqrt(x)


@njit(**_OPTS)
def sqrt_f64(x):
    return math.sqrt(x)


@njit(**_OPTS)
def pow_f32(x, y):
    """x ** y for float32 x, y (NumPy/C99 special cases), computed as exp(y log|x|) in float64."""
    xd = _F64(x)
    yd = _F64(y)
    ax = abs(xd)
    mag = exp_f64(yd * log_f64(ax))
    y_int = np.rint(yd) == yd                       # +-inf count as (even) integers
    hy = _F64_HALF * yd
    y_odd = y_int and np.rint(hy) != hy
    neg = xd < _F64_ZERO or (xd == _F64_ZERO and _F32(x).view(_I32) < 0)   # includes -0.0
    v = -mag if (neg and y_odd) else mag
    v = _F64_NAN if (xd < _F64_ZERO and xd > -_F64_INF and not y_int) else v
    v = _F64_ONE if ax == _F64_ONE and (yd == _F64_INF or yd == -_F64_INF) else v   # (-1)**inf
    v = _F64_ONE if (xd == _F64_ONE or yd == _F64_ZERO) else v                   # even with NaN
    return _F32(v)


@njit(**_OPTS)
def pow_f64(x, y):
    """x ** y for float64: libm ``pow`` (see the module docstring for why)."""
    return x ** y


# ============================================================================================
# Names per dtype, accuracy
# ============================================================================================
FUNCS = {
    (op, dt): f"{op}_{'f32' if dt == 'float32' else 'f64'}"
    for op in ("exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt", "pow")
    for dt in ("float32", "float64")
}

# trig for |x| <= TRIG_FAST_LIMIT_F32 / _F64 only (the caller checks, see numba_kernels)
FAST_FUNCS = {(op, dt): f"{op}_fast_{sfx}" for op in ("sin", "cos", "tan")
              for dt, sfx in (("float32", "f32"), ("float64", "f64"))}
FAST_LIMITS = {"float32": "TRIG_FAST_LIMIT_F32", "float64": "TRIG_FAST_LIMIT_F64"}
# sin and cos of one value on the fast path: float64 only (LLVM shares the float32 calls' work)
FAST_SINCOS = {"float64": "sincos_fast_f64"}

MAX_ULP_BOUND = 4
MAX_ULP = {key: MAX_ULP_BOUND for key in FUNCS}


def function_for(op: str, dtype) -> object:
    """The jitted function for ``op`` on operands of ``dtype`` (float32 or float64)."""
    return globals()[FUNCS[(op, np.dtype(dtype).name)]]


# ============================================================================================
# Coefficient derivation (offline; needs mpmath, not used at import)
# ============================================================================================


def _remez(f, a, b, deg, iters=12, grid=1500):
    """Minimax polynomial (absolute error) of degree ``deg`` for ``f`` on [a, b] by Remez exchange;
    returns (coefficients lowest first, max error) as mpmath numbers."""
    import mpmath as mp

    a, b = mp.mpf(a), mp.mpf(b)
    n = deg + 2
    xs = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (n - 1 - i) / (n - 1)) for i in range(n)]
    grid_x = [a + (b - a) * i / grid for i in range(grid + 1)]
    grid_f = [f(x) for x in grid_x]
    c, err = None, None
    for _ in range(iters):
        A = mp.matrix(n, n)
        rhs = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for k in range(deg + 1):
                A[i, k] = x ** k
            A[i, deg + 1] = (-1) ** i
            rhs[i] = f(x)
        sol = mp.lu_solve(A, rhs)
        c = [sol[k] for k in range(deg + 1)]
        errs = [mp.polyval(c[::-1], x) - fx for x, fx in zip(grid_x, grid_f)]
        err = max(abs(e) for e in errs)
        runs, cur = [], [0]
        for i in range(1, len(errs)):
            if errs[i] == 0 or mp.sign(errs[i]) == mp.sign(errs[cur[-1]]):
                cur.append(i)
            else:
                runs.append(cur)
                cur = [i]
        runs.append(cur)
        ext = [max(r, key=lambda i: abs(errs[i])) for r in runs]
        while len(ext) > n:
            ext = ext[1:] if abs(errs[ext[0]]) < abs(errs[ext[-1]]) else ext[:-1]
        if len(ext) < n:
            break
        xs = [grid_x[i] for i in ext]
    return c, err


def derive_coefficients():
    """Re-derive every polynomial above (a minute or so). Returns {name: (coeffs, max_err)}."""
    import mpmath as mp

    mp.mp.dps = 40

    def lim(f, v0):
        return lambda z: v0 if abs(z) < mp.mpf("1e-35") else f(z)

    expq = lim(lambda r: (mp.exp(r) - 1 - r) / r ** 2, mp.mpf(1) / 2)
    logp = lim(lambda z: (2 * mp.atanh(mp.sqrt(z)) / mp.sqrt(z) - 2) / z, mp.mpf(2) / 3)
    sins = lim(lambda z: (mp.sin(mp.sqrt(z)) - mp.sqrt(z)) / (z * mp.sqrt(z)), mp.mpf(-1) / 6)
    cosc = lim(lambda z: (mp.cos(mp.sqrt(z)) - 1 + z / 2) / z ** 2, mp.mpf(1) / 24)
    tanht = lim(lambda z: (mp.tanh(mp.sqrt(z)) - mp.sqrt(z)) / (z * mp.sqrt(z)), mp.mpf(-1) / 3)
    rexp = mp.log(2) / 2 * mp.mpf("1.002")
    zlog = ((mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)) ** 2 * mp.mpf("1.001")
    zsin = (mp.pi / 4 * mp.mpf("1.01")) ** 2
    ztanh = mp.mpf("0.56") ** 2
    jobs = {
        "_EXP_Q32": (expq, -rexp, rexp, 4), "_EXP_Q64": (expq, -rexp, rexp, 9),
        "_LOG_P32": (logp, 0, zlog, 2), "_LOG_P64": (logp, 0, zlog, 6),
        "_SIN_S32": (sins, 0, zsin, 3), "_COS_C32": (cosc, 0, zsin, 3),
        "_SIN_S64": (sins, 0, zsin, 6), "_COS_C64": (cosc, 0, zsin, 6),
        "_TANH_T32": (tanht, 0, ztanh, 4), "_TANH_T64": (tanht, 0, ztanh, 10),
    }
    out = {}
    for name, (f, a, b, deg) in jobs.items():
        c, e = _remez(f, a, b, deg)
        out[name] = ([float(v) for v in c], float(e))
    return out


__all__ = [
    "exp_f32", "exp_f64", "log_f32", "log_f64", "log1p_f32", "log1p_f64", "sin_f32", "sin_f64",
    "cos_f32", "cos_f64", "tan_f32", "tan_f64", "tanh_f32", "tanh_f64", "sigmoid_f32", "sigmoid_f64",
    "sqrt_f32", "sqrt_f64", "pow_f32", "pow_f64", "FUNCS", "function_for", "derive_coefficients",
]

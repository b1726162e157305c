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
  reduced argument goes to odd/even minimax polynomials. float32 runs the whole thing in float64.
* tanh: |x| < 0.55: x + x^3 T(x^2); else 1 - 2/(exp(2|x|)+1); sign restored.
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

_OPTS = dict(cache=True, error_model="numpy", fastmath={"contract"})

_F32 = np.float32
_F64 = np.float64
_I32 = np.int32
_I64 = np.int64


def _trunc(v: float, keep_bits: int, dtype) -> float:
    """``v`` rounded toward zero to ``keep_bits`` significant bits (so ``k * result`` is exact)."""
    m, e = math.frexp(v)
    return dtype(math.ldexp(math.floor(m * 2.0 ** keep_bits), e - keep_bits))


# --- polynomial coefficients (lowest degree first) -------------------------------------------
# Made by derive_coefficients() (Remez, mpmath, 40 digits); max abs error of the fit in comments.
# exp: Q(r) = (e^r - 1 - r) / r^2 on |r| <= 1.002*ln2/2
_EXP_Q32 = [0.5000000027259279, 0.16666576285673096, 0.04166637290837362, 0.008363294951881541,
            0.0013941323118946876]                                                 # 6.3e-08
_EXP_Q64 = [0.5000000000000001, 0.16666666666666674, 0.04166666666662347, 0.008333333333322037,
            0.0013888888917540031, 0.00019841269887113606, 2.480152079026858e-05,
            2.755724174673756e-06, 2.7620328383745364e-07, 2.5110271803092215e-08]  # 1.0e-16
# log: P(z) = (2 atanh(sqrt z)/sqrt z - 2)/z on 0 <= z <= 1.001*((sqrt2-1)/(sqrt2+1))^2
_LOG_P32 = [0.666666853227977, 0.3998869583486777, 0.295830877302456]               # 1.9e-07
_LOG_P64 = [0.666666666666667, 0.39999999999897884, 0.28571428626652434, 0.22222211031636002,
            0.18182896213247168, 0.1533149763799785, 0.14619098033209352]         # 3.1e-16
# sin: S(z) = (sin sqrt z - sqrt z)/z^1.5 ; cos: C(z) = (cos sqrt z - 1 + z/2)/z^2 ; z <= (1.01 pi/4)^2
_SIN_S32 = [-0.16666666663628973, 0.008333331786971073, -0.00019840039615371034,
            2.724386009812192e-06]                                                 # 3.0e-11
_COS_C32 = [0.0416666666641316, -0.001388888759858137, 2.4800560960983664e-05,
            -2.729588708632606e-07]                                                # 2.5e-12
_SIN_S64 = [-0.16666666666666666, 0.008333333333333331, -0.0001984126984126457,
            2.755731921895653e-06, -2.5052106100797052e-08, 1.6058510951788827e-10,
            -7.58549053761717e-13]                                                 # 1.3e-20
_COS_C64 = [0.041666666666666664, -0.0013888888888888887, 2.480158730158437e-05,
            -2.7557319221189986e-07, 2.0876755717855073e-09, -1.147044939272318e-11,
            4.745200834636256e-14]                                                 # 7.4e-22
# tanh: T(z) = (tanh sqrt z - sqrt z)/z^1.5 on z <= 0.56^2
_TANH_T32 = [-0.33333331852442194, 0.1333309136343025, -0.05390479445830422,
             0.021280110378474475, -0.006554258174798338]                         # 1.5e-08
_TANH_T64 = [-0.3333333333333333, 0.13333333333332506, -0.05396825396718805,
             0.021869488482470306, -0.008863234140967019, 0.003592107016393292,
             -0.0014556351828611462, 0.0005888059676336671, -0.0002342525758735592,
             8.449380753459644e-05, -2.0177572621894844e-05]                      # 1.1e-17

(_EQ0, _EQ1, _EQ2, _EQ3, _EQ4) = [_F32(c) for c in _EXP_Q32]
(_DQ0, _DQ1, _DQ2, _DQ3, _DQ4, _DQ5, _DQ6, _DQ7, _DQ8, _DQ9) = [_F64(c) for c in _EXP_Q64]
(_ELP0, _ELP1, _ELP2) = [_F32(c) for c in _LOG_P32]
(_DLP0, _DLP1, _DLP2, _DLP3, _DLP4, _DLP5, _DLP6) = [_F64(c) for c in _LOG_P64]
(_ES0, _ES1, _ES2, _ES3) = [_F64(c) for c in _SIN_S32]      # float32 sin/cos run in float64
(_EC0, _EC1, _EC2, _EC3) = [_F64(c) for c in _COS_C32]
(_DS0, _DS1, _DS2, _DS3, _DS4, _DS5, _DS6) = [_F64(c) for c in _SIN_S64]
(_DC0, _DC1, _DC2, _DC3, _DC4, _DC5, _DC6) = [_F64(c) for c in _COS_C64]
(_ET0, _ET1, _ET2, _ET3, _ET4) = [_F32(c) for c in _TANH_T32]
(_DT0, _DT1, _DT2, _DT3, _DT4, _DT5, _DT6, _DT7, _DT8, _DT9, _DT10) = [_F64(c) for c in _TANH_T64]

_LN2 = math.log(2.0)
_LOG2E = 1.0 / _LN2


def _ln2_minus(hi: float) -> float:
    """ln 2 - hi, from a 60-digit ln 2 (``hi`` a truncation of ln 2)."""
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 60
        return float(decimal.Decimal(2).ln() - decimal.Decimal(float(hi)))


# --- float32 constants ------------------------------------------------------------------------
_F32_ZERO = _F32(0.0)
_F32_ONE = _F32(1.0)
_F32_TWO = _F32(2.0)
_F32_MONE = _F32(-1.0)
_F32_HALF = _F32(0.5)
_F32_INF = _F32(np.inf)
_F32_NAN = _F32(np.nan)
_E32_LOG2E = _F32(_LOG2E)
_E32_LN2HI = _trunc(_LN2, 16, _F32)           # |k| <= 150 < 2^8: k*hi exact
_E32_LN2LO = _F32(_ln2_minus(_E32_LN2HI))
_E32_XMAX = _F32(89.0)                        # exp(89) overflows float32 -> inf
_E32_XMIN = _F32(-104.0)                      # exp(-104) < half the smallest denormal -> 0
_L32_SQRTH = _I64(np.float32(math.sqrt(0.5)).view(np.int32))
_L32_TINY = _F32(np.finfo(np.float32).tiny)
_L32_SCALE = _F32(2.0 ** 25)
_L32_MASK = _I64(0x7FFFFF)

# --- float64 constants ------------------------------------------------------------------------
_F64_ZERO = _F64(0.0)
_F64_ONE = _F64(1.0)
_F64_TWO = _F64(2.0)
_F64_MONE = _F64(-1.0)
_F64_HALF = _F64(0.5)
_F64_INF = _F64(np.inf)
_F64_NAN = _F64(np.nan)
_E64_LOG2E = _F64(_LOG2E)
_E64_LN2HI = _trunc(_LN2, 42, _F64)           # |k| <= 1077 < 2^11: k*hi exact
_E64_LN2LO = _F64(_ln2_minus(_E64_LN2HI))
_E64_XMAX = _F64(710.0)                       # exp(710) overflows -> inf
_E64_XMIN = _F64(-746.0)                      # exp(-746) < half the smallest denormal -> 0
_L64_SQRTH = _I64(np.float64(math.sqrt(0.5)).view(np.int64))
_L64_TINY = _F64(np.finfo(np.float64).tiny)
_L64_SCALE = _F64(2.0 ** 54)
_L64_MASK = _I64(0xFFFFFFFFFFFFF)

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
    ki = _I64(k)
    k1 = ki >> 1
    k2 = ki - k1
    s1 = _I32((k1 + 127) << 23).view(_F32)
    s2 = _I32((k2 + 127) << 23).view(_F32)
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


# ============================================================================================
# sin, cos, tan: exact argument reduction for every finite x
# ============================================================================================


def _pi_fixed(bits: int) -> int:
    """floor(pi * 2^bits) (+-1), pure integer Machin formula."""
    guard = 32
    one = 1 << (bits + guard)

    def atan_inv(n):
        total, term, k, n2 = 0, one // n, 0, n * n
        while term:
            total += term // (2 * k + 1) if k % 2 == 0 else -(term // (2 * k + 1))
            term //= n2
            k += 1
        return total

    return (16 * atan_inv(5) - 4 * atan_inv(239)) >> guard


_TWO_OVER_PI_BITS = 1400
_TWO_OVER_PI = (1 << (2 * _TWO_OVER_PI_BITS + 1)) // _pi_fixed(_TWO_OVER_PI_BITS)   # floor(2/pi*2^P)


def _two_over_pi_mod4(shift: int, frac_bits: int) -> int:
    """floor((2^shift * 2/pi mod 4) * 2^frac_bits) as an integer."""
    s = _TWO_OVER_PI_BITS - shift - frac_bits
    assert s >= 64, "table needs more bits of 2/pi"
    return (_TWO_OVER_PI >> s) & ((4 << frac_bits) - 1)


def _window_words(shift: int, frac_bits: int, nlimbs: int):
    """floor((2^shift * 2/pi mod 4) * 2^frac_bits) cut into ``nlimbs`` 30-bit limbs (top first),
    packed two per int64 word (first limb in the high half; an odd last limb alone)."""
    a = _two_over_pi_mod4(shift, frac_bits)
    limbs = [(a >> (30 * (nlimbs - 1 - i))) & ((1 << 30) - 1) for i in range(nlimbs)]
    words = [(limbs[i] << 30) | limbs[i + 1] for i in range(0, nlimbs - 1, 2)]
    return words + limbs[-1:] if nlimbs % 2 else words      # an odd last limb: low bits of a word


def _build_f32_table():
    """Rows E = -1..127 (the exponent of |x|): A = floor(a * 2^88), a = 2^(E-23) * 2/pi mod 4, as
    three 30-bit limbs in two int64 words. x*2/pi mod 4 = M*a mod 4 for the 24-bit integer mantissa
    M, and M*A mod 2^90 is computed exactly with 30-bit limb products (< 2^54)."""
    return np.array([_window_words(E - 23, 88, 3) for E in range(-1, 128)], dtype=np.int64)


def _build_f64_table():
    """Rows E = -1..1023: A = floor(a * 2^178), a = 2^(E-52) * 2/pi mod 4, as six 30-bit limbs in three
    int64 words (truncation error of the product with a 53-bit mantissa < 2^-125)."""
    return np.array([_window_words(E - 52, 178, 6) for E in range(-1, 1024)], dtype=np.int64)


_PH32 = _build_f32_table()
_PH64 = _build_f64_table()

_S_PIO4_32 = _F32(np.nextafter(np.float32(math.pi / 4), np.float32(0)))   # < pi/4: no reduction below
_S_PIO4_64 = _F64(np.nextafter(math.pi / 4, 0))
_S_PIO2 = _F64(math.pi / 2)
_S_PIO2_HI = _trunc(math.pi / 2, 26, _F64)                  # exact split of _S_PIO2 (26 + 27 bits)
_S_PIO2_MID = _F64(math.pi / 2 - float(_S_PIO2_HI))
_S_PIO2_LO = _F64(math.ldexp(float((_pi_fixed(200) >> 1) - (int(math.ldexp(math.pi / 2, 200)))), -200))
_S_2M28 = _F64(2.0 ** -28)
_S_2M58 = _F64(2.0 ** -58)
_S_2M88 = _F64(2.0 ** -88)
_S_2M118 = _F64(2.0 ** -118)
_M30 = _I64((1 << 30) - 1)
_SPLIT_MASK = _I64(-(1 << 27))                              # clears the low 27 mantissa bits


@njit(**_OPTS)
def _reduce_f32(ax):
    """ax = |x| (float32, finite) -> (y, q): |x| = q*pi/2 + y (mod 2 pi), y float64, |y| <= pi/4."""
    bits = _I64(_F32(ax).view(_I32))
    row = ((bits >> 23) & 0xFF) - 126                 # E + 1 for E = -1..127
    row = row if row > 0 else 0
    row = row if row < 128 else 128                   # inf/NaN: any row, the result is replaced
    m = (bits & _L32_MASK) | 0x800000                 # 24-bit integer mantissa
    w0 = _PH32[row, 0]                                # limbs A0 | A1
    w1 = _PH32[row, 1]                                # limb A2
    s0 = m * w1                                       # column sums < 2^55
    s1 = m * (w0 & _M30) + (s0 >> 30)
    s2 = m * (w0 >> 30) + (s1 >> 30)
    t2 = s2 & _M30                                    # x*2/pi mod 4 = t2/2^28 + t1/2^58 + t0/2^88
    k = (t2 + (1 << 27)) >> 28                        # nearest quadrant
    f1 = _F64(t2 - (k << 28)) * _S_2M28               # exact
    f2 = _F64(s1 & _M30) * _S_2M58                    # exact
    f3 = _F64(s0 & _M30) * _S_2M88
    y = ((f1 + f2) + f3) * _S_PIO2                    # relative error ~2^-52 (exact when f1+f2 small)
    small = ax < _S_PIO4_32
    y = _F64(ax) if small else y
    q = 0 if small else k & 3
    return y, q


@njit(**_OPTS)
def _reduce_f64(ax):
    """ax = |x| (float64, finite) -> (y, yl, q): |x| = q*pi/2 + y + yl (mod 2 pi), |y| <= pi/4,
    y + yl a double-double."""
    bits = _F64(ax).view(_I64)
    row = ((bits >> 52) & 0x7FF) - 1022               # E + 1 for E = -1..1023
    row = row if row > 0 else 0
    row = row if row < 1024 else 1024
    mant = (bits & _L64_MASK) | 0x10000000000000
    m0 = mant & _M30
    m1 = mant >> 30                                   # 23 bits
    w0 = _PH64[row, 0]
    w1 = _PH64[row, 1]
    w2 = _PH64[row, 2]
    a0 = w0 >> 30
    a1 = w0 & _M30
    a2 = w1 >> 30
    a3 = w1 & _M30
    a4 = w2 >> 30
    a5 = w2 & _M30
    # mant * A mod 2^180 by 30-bit columns (each sum < 2^61)
    s0 = m0 * a5
    s1 = m0 * a4 + m1 * a5 + (s0 >> 30)
    s2 = m0 * a3 + m1 * a4 + (s1 >> 30)
    s3 = m0 * a2 + m1 * a3 + (s2 >> 30)
    s4 = m0 * a1 + m1 * a2 + (s3 >> 30)
    s5 = m0 * a0 + m1 * a1 + (s4 >> 30)
    t5 = s5 & _M30                                    # value = t5/2^28 + t4/2^58 + t3/2^88 + t2/2^118
    k = (t5 + (1 << 27)) >> 28
    f1 = _F64(t5 - (k << 28)) * _S_2M28               # exact
    f2 = _F64(s4 & _M30) * _S_2M58                    # exact
    f3 = _F64(s3 & _M30) * _S_2M88 + _F64(s2 & _M30) * _S_2M118
    rh = f1 + f2                                      # exact when small; |f1| >= |f2| or f1 == 0
    rl = ((f1 - rh) + f2) + f3
    # (rh + rl) * pi/2 as a double-double: rh * _S_PIO2 exactly by splitting both factors
    rhh = _split_hi(rh)
    rhl = rh - rhh
    yh = rh * _S_PIO2
    ye = ((rhh * _S_PIO2_HI - yh) + rhh * _S_PIO2_MID + rhl * _S_PIO2_HI) + rhl * _S_PIO2_MID
    ye = ye + (rh * _S_PIO2_LO + rl * _S_PIO2)
    y = yh + ye
    yl = ye - (y - yh)
    small = ax < _S_PIO4_64
    y = ax if small else y
    yl = _F64_ZERO if small else yl
    q = 0 if small else k & 3
    return y, yl, q


@njit(**_OPTS)
def _split_hi(v):
    """v with the low 27 mantissa bits cleared (26 significant bits: products of two such are exact)."""
    return _I64(_F64(v).view(_I64) & _SPLIT_MASK).view(_F64)


@njit(**_OPTS)
def _sincos_poly_f32(y):
    """(sin y, cos y) in float64 for |y| <= pi/4, float32 accuracy."""
    z = y * y
    s = y + (y * z) * (_ES0 + z * (_ES1 + z * (_ES2 + z * _ES3)))
    c = (_F64_ONE - _F64_HALF * z) + (z * z) * (_EC0 + z * (_EC1 + z * (_EC2 + z * _EC3)))
    return s, c


@njit(**_OPTS)
def _sincos_poly_f64(y, yl):
    """(sin, cos) of the double-double y + yl, |y| <= pi/4 (yl only as a first-order correction)."""
    z = y * y
    s = y + ((y * z) * (_DS0 + z * (_DS1 + z * (_DS2 + z * (_DS3 + z * (_DS4 + z * (_DS5 + z * _DS6))))))
             + yl * (_F64_ONE - _F64_HALF * z))
    hz = _F64_HALF * z
    w = _F64_ONE - hz
    c = w + ((((_F64_ONE - w) - hz) + (z * z) * (
        _DC0 + z * (_DC1 + z * (_DC2 + z * (_DC3 + z * (_DC4 + z * (_DC5 + z * _DC6))))))) - y * yl)
    return s, c


@njit(**_OPTS)
def _pick_sin(s, c, q):
    v = s if (q & 1) == 0 else c
    return -v if (q & 2) != 0 else v


@njit(**_OPTS)
def _pick_cos(s, c, q):
    v = c if (q & 1) == 0 else s
    return -v if ((q + 1) & 2) != 0 else v


@njit(**_OPTS)
def sin_f32(x):
    ax = abs(x)
    y, q = _reduce_f32(ax)
    s, c = _sincos_poly_f32(y)
    v = _pick_sin(s, c, q)
    v = -v if x < _F32_ZERO else v
    v = v if ax < _F32_INF else _F64_NAN                # inf -> NaN; NaN stays NaN
    v = _F64(x) if x == _F32_ZERO else v               # keeps -0
    return _F32(v)


@njit(**_OPTS)
def cos_f32(x):
    ax = abs(x)
    y, q = _reduce_f32(ax)
    s, c = _sincos_poly_f32(y)
    v = _pick_cos(s, c, q)
    v = v if ax < _F32_INF else _F64_NAN
    return _F32(v)


@njit(**_OPTS)
def tan_f32(x):
    ax = abs(x)
    y, q = _reduce_f32(ax)
    s, c = _sincos_poly_f32(y)
    v = s / c if (q & 1) == 0 else -c / s
    v = -v if x < _F32_ZERO else v
    v = v if ax < _F32_INF else _F64_NAN
    v = _F64(x) if x == _F32_ZERO else v
    return _F32(v)


# --- float32 fast path: |x| <= TRIG_FAST_LIMIT_F32 ---------------------------------------------
# The table-driven reduction above costs two gathers and 64-bit integer products per element (about
# 2.5 ns per float32 sin on this machine). For |x| <= 2^20 a three-part Cody-Waite reduction in
# float64 is exact enough (k < 2^20, so k * PIO2_1 with a 33-bit PIO2_1 is exact and the error of the
# other two terms is < 2^-65, far below a float32 ULP of the smallest reduced argument) and
# costs a third. Generated kernels run a block with these and redo the block with the full-range
# functions when any argument in it is outside the limit, inf or NaN (numba_codegen).
TRIG_FAST_LIMIT_F32 = _F32(2.0 ** 20)


def _pio2_parts():
    """pi/2 = P1 + P2 + P3: P1 and P2 of 33 significant bits each (exact products with k < 2^20)."""
    bits = 200
    pio2 = _pi_fixed(bits) >> 1                                 # floor(pi/2 * 2^bits)
    p1 = (pio2 >> (bits - 32)) << (bits - 32)                   # 33 bits (pi/2 < 2)
    p2 = ((pio2 - p1) >> (bits - 65)) << (bits - 65)
    return (_F64(math.ldexp(p1, -bits)), _F64(math.ldexp(p2, -bits)), _F64(math.ldexp(pio2 - p1 - p2, -bits)))


_CW_PIO2_1, _CW_PIO2_2, _CW_PIO2_3 = _pio2_parts()
_S_2_OVER_PI = _F64(2.0 / math.pi)


@njit(**_OPTS)
def _reduce_fast_f32(ax):
    """ax = |x| as float64, ax <= TRIG_FAST_LIMIT_F32 -> (y, q): |x| = q*pi/2 + y (mod 2 pi)."""
    k = np.rint(ax * _S_2_OVER_PI)
    y = ((ax - k * _CW_PIO2_1) - k * _CW_PIO2_2) - k * _CW_PIO2_3
    return y, _I64(k) & 3


@njit(**_OPTS)
def sin_fast_f32(x):
    """sin for |x| <= TRIG_FAST_LIMIT_F32 (finite): same results as ``sin_f32`` there."""
    y, q = _reduce_fast_f32(_F64(abs(x)))
    s, c = _sincos_poly_f32(y)
    v = _pick_sin(s, c, q)
    v = -v if x < _F32_ZERO else v
    v = _F64(x) if x == _F32_ZERO else v               # keeps -0
    return _F32(v)


@njit(**_OPTS)
def cos_fast_f32(x):
    """cos for |x| <= TRIG_FAST_LIMIT_F32 (finite)."""
    y, q = _reduce_fast_f32(_F64(abs(x)))
    s, c = _sincos_poly_f32(y)
    return _F32(_pick_cos(s, c, q))


@njit(**_OPTS)
def tan_fast_f32(x):
    """tan for |x| <= TRIG_FAST_LIMIT_F32 (finite)."""
    y, q = _reduce_fast_f32(_F64(abs(x)))
    s, c = _sincos_poly_f32(y)
    v = s / c if (q & 1) == 0 else -c / s
    v = -v if x < _F32_ZERO else v
    v = _F64(x) if x == _F32_ZERO else v
    return _F32(v)


@njit(**_OPTS)
def sin_f64(x):
    ax = abs(x)
    y, yl, q = _reduce_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    v = _pick_sin(s, c, q)
    v = -v if x < _F64_ZERO else v
    v = v if ax < _F64_INF else _F64_NAN
    return x if x == _F64_ZERO else v


@njit(**_OPTS)
def cos_f64(x):
    ax = abs(x)
    y, yl, q = _reduce_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    v = _pick_cos(s, c, q)
    return v if ax < _F64_INF else _F64_NAN


@njit(**_OPTS)
def tan_f64(x):
    ax = abs(x)
    y, yl, q = _reduce_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    v = s / c if (q & 1) == 0 else -c / s
    v = -v if x < _F64_ZERO else v
    v = v if ax < _F64_INF else _F64_NAN
    return x if x == _F64_ZERO else v


# ============================================================================================
# tanh, sigmoid
# ============================================================================================
_T32_SMALL = _F32(0.55)
_T64_SMALL = _F64(0.55)


@njit(**_OPTS)
def tanh_f32(x):
    ax = abs(x)
    z = ax * ax
    small = ax + (ax * z) * (_ET0 + z * (_ET1 + z * (_ET2 + z * (_ET3 + z * _ET4))))
    e = exp_f32(ax + ax)
    big = _F32_ONE - _F32_TWO / (e + _F32_ONE)
    v = small if ax < _T32_SMALL else big
    return -v if x < _F32_ZERO else (x if x == _F32_ZERO else v)


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

# float32 trig for |x| <= TRIG_FAST_LIMIT_F32 only (the caller checks, see numba_codegen)
FAST_FUNCS = {(op, "float32"): f"{op}_fast_f32" for op in ("sin", "cos", "tan")}

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

"""sin, cos, tan for the Numba backend (part of :mod:`.numba_math`, which re-exports them).

* Every finite x: exact argument reduction (Payne-Hanek) from a table of 2/pi, in int64 limbs.
* float32 sin/cos up to TRIG_FAST_LIMIT_F32 = 2^20: Cody-Waite reduction in float32 arithmetic
  (``_reduce_fast_f32x``): k = rint(x*2/pi), x - k*pi/2 as a float32 pair with four float32 parts of
  pi/2 and explicit FMAs (error-free products), 16 lanes per AVX-512 vector and no float64 step.
  The full-range ``sin_f32``/``cos_f32`` select its result below the limit, so the fast variants
  that generated kernels call give the same bits (a block redone with the full-range functions
  because a neighbour was out of range changes nothing).
* float32 tan: float64 reduction and polynomials (its quotient needs the extra precision), with
  a float64 Cody-Waite reduction up to the same limit.
* float64 sin/cos/tan up to TRIG_FAST_LIMIT_F64 = 2^30: Cody-Waite reduction in float64
  (``_reduce_fast_f64``): pi/2 in three float64 parts, explicit FMAs, Fast2Sums, the double-double
  y + yl to 2^-67 relative (error analysis in its docstring), ~8 FLOPs, no table or branch, so
  LLVM vectorizes it. The full-range functions branch to it below the limit: ``sin_fast_f64`` etc.
  give their bits.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from llvmlite import ir

from .numba_math_base import (  # noqa: F401
    _OPTS, _F32, _F64, _I32, _I64, _trunc, _ES0, _ES1, _ES2, _ES3, _EC0, _EC1, _EC2, _EC3, _FS0,
    _FS1, _FS2, _FS3, _FC0, _FC1, _FC2, _FC3, _DS0, _DS1, _DS2, _DS3, _DS4, _DS5, _DS6, _DC0, _DC1,
    _DC2, _DC3, _DC4, _DC5, _DC6, _F32_ZERO, _F32_ONE, _F32_HALF, _F32_INF, _F32_NAN, _L32_MASK,
    _F64_ZERO, _F64_ONE, _F64_HALF, _F64_INF, _F64_NAN, _L64_MASK)


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
    """(sin y, cos y) in float64 for |y| <= pi/4, float32 accuracy (tan: its quotient needs the
    extra precision to stay within 1 ULP)."""
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
def _split_f32(y):
    """float64 y -> float32 (yh, yl), yh + yl = y to 2^-48 relative."""
    yh = _F32(y)
    return yh, _F32(y - _F64(yh))


@njit(**_OPTS)
def _sincos_poly_f32x(yh, yl):
    """(sin, cos) of yh + yl (float32 pair, |yh| <= pi/4) in float32 arithmetic: 8 lanes per AVX2
    vector instead of 4, and no conversions back. yl enters as the first-order terms
    yl*cos(yh) ~ yl (1 - yh^2/2) and -yl*sin(yh) ~ -yh*yl; cos adds the rounding error of
    1 - yh^2/2 back (the terms below it are < 0.25 ULP of the result): both within 1 ULP."""
    z = yh * yh
    s = yh + ((yh * z) * (_FS0 + z * (_FS1 + z * (_FS2 + z * _FS3))) + (yl - (_F32_HALF * z) * yl))
    hz = _F32_HALF * z
    w = _F32_ONE - hz
    c = w + ((((_F32_ONE - w) - hz) + (z * z) * (_FC0 + z * (_FC1 + z * (_FC2 + z * _FC3)))) - yh * yl)
    return s, c


@njit(**_OPTS)
def _pick_sin(s, c, q):
    v = s if (q & 1) == 0 else c
    return -v if (q & 2) != 0 else v


@njit(**_OPTS)
def _tan_of(x, s, c, q, zero):
    """tan x (x finite) from the polynomials' (s, c) at the reduced |x| of quadrant q; keeps -0."""
    v = s / c if (q & 1) == 0 else -c / s
    v = -v if x < zero else v
    return x if x == zero else v


@njit(**_OPTS)
def _sin_of(x, s, c, q, zero):
    """sin x (x finite) from the polynomials' (s, c) at the reduced |x| of quadrant q; keeps -0."""
    v = _pick_sin(s, c, q)
    v = -v if x < zero else v
    return x if x == zero else v


@njit(**_OPTS)
def _pick_cos(s, c, q):
    v = c if (q & 1) == 0 else s
    return -v if ((q + 1) & 2) != 0 else v


# --- float32 fast path: |x| <= TRIG_FAST_LIMIT_F32 ---------------------------------------------
# The table-driven reduction above costs two gathers and 64-bit integer products per element (about
# 2.5 ns per float32 sin on this machine). For |x| <= 2^20 (k = rint(x*2/pi) < 2^20) a Cody-Waite
# reduction is exact enough: float64 for tan (three parts of pi/2: k * PIO2_1 with a 33-bit PIO2_1
# is exact, the error of the other two terms < 2^-65), float32 for sin/cos (``_reduce_fast_f32x``).
# Generated kernels run a block with the fast variants and redo the block with the full-range
# functions when any argument in it is outside the limit, inf or NaN (numba_codegen).
TRIG_FAST_LIMIT_F32 = _F32(2.0 ** 20)


def _pio2_parts():
    """pi/2 = P1 + P2 + P3: P1 and P2 of 33 significant bits each (exact products with k < 2^20)."""
    bits = 200
    pio2 = _pi_fixed(bits) >> 1                                 # floor(pi/2 * 2^bits)
    p1 = (pio2 >> (bits - 32)) << (bits - 32)                   # 33 bits (pi/2 < 2)
    p2 = ((pio2 - p1) >> (bits - 65)) << (bits - 65)
    return (_F64(math.ldexp(p1, -bits)), _F64(math.ldexp(p2, -bits)), _F64(math.ldexp(pio2 - p1 - p2, -bits)))


def _pio2_parts_f32(n=4, dtype=_F32):
    """pi/2 = P1 + ... + Pn, each (float32) the rounding of what the previous ones leave (four
    float32: the sum is pi/2 to 2^-100; three float64: to 2^-160)."""
    bits = 300
    rest = _pi_fixed(bits) >> 1
    parts = []
    for _ in range(n):
        p = dtype(math.ldexp(rest, -bits))
        parts.append(p)
        rest -= int(math.ldexp(float(p), bits))
    return parts


_CW_PIO2_1, _CW_PIO2_2, _CW_PIO2_3 = _pio2_parts()
_S_2_OVER_PI = _F64(2.0 / math.pi)
_F_PIO2_1, _F_PIO2_2, _F_PIO2_3, _F_PIO2_4 = _pio2_parts_f32()
_F_2_OVER_PI = _F32(2.0 / math.pi)
_D_PIO2_1, _D_PIO2_2, _D_PIO2_3 = _pio2_parts_f32(3, _F64)


if numba.config.DISABLE_JIT:  # the functions run as Python (NUMBA_DISABLE_JIT=1)
    from fractions import Fraction

    def _fma(a, b, c):
        """a*b + c: float32: the product is exact in float64, and the sums here are exact there
        too (or a tail term, where a double rounding is harmless); float64: exact rational
        arithmetic rounded once (the float64 reduction is exact only with a true FMA)."""
        if isinstance(a, np.float32):
            return type(a)(float(a) * float(b) + float(c))
        return type(a)(float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))))
else:
    @intrinsic
    def _fma(typingctx, a, b, c):
        """a*b + c rounded once (llvm.fma: vfmadd on x86-64 with FMA, vectorized in loops).
        Explicit, not left to fastmath contraction: the reduction is exact only with it."""
        if not (isinstance(a, types.Float) and a == b == c):
            return None

        def codegen(context, builder, signature, args):
            ty = context.get_value_type(signature.return_type)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3),
                                                f"llvm.fma.f{a.bitwidth}")
            return builder.call(fn, args)
        return a(a, b, c), codegen


@njit(**_OPTS)
def _reduce_fast_f32(ax):
    """ax = |x| as float64, ax <= TRIG_FAST_LIMIT_F32 -> (y, q): |x| = q*pi/2 + y (mod 2 pi)."""
    k = np.rint(ax * _S_2_OVER_PI)
    y = ((ax - k * _CW_PIO2_1) - k * _CW_PIO2_2) - k * _CW_PIO2_3
    # float64 -> int32 (vcvttpd2dq): AVX2 has no conversion to int64, LLVM scalarized it
    return y, _I32(k) & _I32(3)


@njit(**_OPTS)
def _reduce_fast_f32x(ax):
    """ax = |x| (float32), ax <= TRIG_FAST_LIMIT_F32 -> (yh, yl, q): |x| = q*pi/2 + yh + yl (mod 2 pi),
    in float32 arithmetic only (the float64 reduction took two 512-bit vectors and four
    conversions per 16 lanes: sin + cos 1.04 -> 0.66 ns per element).

    * k: the float32 product can round x*2/pi past a half-integer (error < 0.06 at 2^20), then
      |y| <= 0.877 instead of pi/4: the polynomials, fitted up to 1.01 pi/4, are still within
      0.02 ULP there.
    * x - k*P1 is exact by FMA: both terms are multiples of 2^-24 (k >= 1 only for x > 0.78) and
      |x - k*P1| <= pi/4 + 2^20 * |pi/2 - P1| < 1.
    * k*P2 = ph + pl exactly (FMA); yh + e = r1 - ph by Fast2Sum. |r1| < |ph| happens (r1 holds
      k*(pi/2 - P1)), but then both are < 2^-4 and e misses at most 2^-48 |yh|.
    * the rest, k*(P3 + P4) with P1..P4 = pi/2 to 2^-100, is a tail term of yl.
    So the error is that of yl's three roundings, < 3 * 2^-24 |yl| with |yl| < 2^-25 + 2^-29:
    2^-48 |y| for most x, up to 0.25 ULP of the result where |y| is smallest (2^-27.8 for the
    float32 nearest a multiple of pi/2 below 2^20; pl and k*P3 make yl ~ 2^-29 there). Every
    float32 below the limit gives sin/cos within 0.797 ULP (checked exhaustively, as was the
    float64 reduction it replaces; the two differ in 1e-4 of them, by 1 ULP)."""
    k = np.rint(ax * _F_2_OVER_PI)
    r1 = _fma(-k, _F_PIO2_1, ax)
    ph = k * _F_PIO2_2
    pl = _fma(k, _F_PIO2_2, -ph)
    yh = r1 - ph
    e = (r1 - yh) - ph
    yl = _fma(-k, _F_PIO2_4, _fma(-k, _F_PIO2_3, e - pl))
    # float32 -> int32 (vcvttps2dq): a packed conversion on every x86-64 vector width
    return yh, yl, _I32(k) & _I32(3)


@njit(**_OPTS)
def sin_fast_f32(x):
    """sin for |x| <= TRIG_FAST_LIMIT_F32 (finite): same results as ``sin_f32`` there."""
    yh, yl, q = _reduce_fast_f32x(abs(x))
    s, c = _sincos_poly_f32x(yh, yl)
    return _sin_of(x, s, c, q, _F32_ZERO)


@njit(**_OPTS)
def cos_fast_f32(x):
    """cos for |x| <= TRIG_FAST_LIMIT_F32 (finite): same results as ``cos_f32`` there."""
    yh, yl, q = _reduce_fast_f32x(abs(x))
    s, c = _sincos_poly_f32x(yh, yl)
    return _pick_cos(s, c, q)


@njit(**_OPTS)
def tan_fast_f32(x):
    """tan for |x| <= TRIG_FAST_LIMIT_F32 (finite)."""
    y, q = _reduce_fast_f32(_F64(abs(x)))
    s, c = _sincos_poly_f32(y)
    return _F32(_tan_of(_F64(x), s, c, q, _F64_ZERO))   # the quotient in float64


@njit(**_OPTS)
def _reduce_any_f32x(ax):
    """ax = |x| (float32, any) -> (yh, yl, q): the fast variants' reduction up to their limit (so
    they give these functions' bits), the table above it."""
    y, q = _reduce_f32(ax)
    th, tl = _split_f32(y)
    fh, fl, fq = _reduce_fast_f32x(ax)
    fast = ax <= TRIG_FAST_LIMIT_F32
    return (fh if fast else th), (fl if fast else tl), (fq if fast else q)


@njit(**_OPTS)
def sin_f32(x):
    ax = abs(x)
    yh, yl, q = _reduce_any_f32x(ax)
    s, c = _sincos_poly_f32x(yh, yl)
    v = _sin_of(x, s, c, q, _F32_ZERO)
    return v if ax < _F32_INF else _F32_NAN            # inf -> NaN; NaN stays NaN


@njit(**_OPTS)
def cos_f32(x):
    ax = abs(x)
    yh, yl, q = _reduce_any_f32x(ax)
    s, c = _sincos_poly_f32x(yh, yl)
    v = _pick_cos(s, c, q)
    return v if ax < _F32_INF else _F32_NAN


@njit(**_OPTS)
def tan_f32(x):
    ax = abs(x)
    y, q = _reduce_f32(ax)
    s, c = _sincos_poly_f32(y)
    v = _tan_of(_F64(x), s, c, q, _F64_ZERO)            # the quotient in float64
    return _F32(v if ax < _F32_INF else _F64_NAN)


# --- float64 fast path: |x| <= TRIG_FAST_LIMIT_F64 ---------------------------------------------
# The table reduction ``_reduce_f64`` (int64 limb products, three table loads) is not vectorized
# by LLVM: ~16 ns per float64 sin. Below the limit ``_reduce_fast_f64`` (a few FMAs, no table, no
# branch) gives the same double-double quality; the full-range functions branch to it there.
TRIG_FAST_LIMIT_F64 = _F64(2.0 ** 30)


@njit(**_OPTS)
def _reduce_fast_f64(ax):
    """ax = |x| (float64), ax <= TRIG_FAST_LIMIT_F64 -> (y, yl, q): |x| = q*pi/2 + y + yl (mod 2 pi),
    y + yl a double-double, in float64 arithmetic (Cody-Waite, pi/2 = P1 + P2 + P3 to 2^-162).

    * k: the rounded product x*2/pi is off by < 2^-23 at 2^30: |y| <= pi/4 + 2^-22 (the
      polynomials are fitted up to 1.01 pi/4).
    * x - k*P1 is exact by FMA: P1 = fl(pi/2) is a multiple of 2^-52, x too where k >= 1
      (x > 0.78), and |x - k*P1| <= pi/4 + 2^-22 + 2^30 |pi/2 - P1| < 1 fits 53 bits.
    * k*P2 = ph + pl exactly (FMA); yh + e = r1 - ph exactly by Fast2Sum, even where |r1| < |ph|:
      r1 = M 2^-53 and ph = N 2^-e with |M|, |N| < 2^53 and e >= 77 (ph < 2^-24.5), which is
      Fast2Sum's condition.
    * yl = (e - pl) - k*P3: two roundings of terms < 2^-53 |yh| + 2^-77, and k*(pi/2 - P1 - P2 - P3)
      < 2^-132 is left out: absolute error < 2^-105 |y| + 2^-128. No double has |y| < 2^-61 (the
      worst case of all doubles, x = 6381956970095103 * 2^797; Muller, Elementary Functions), so the
      relative error of y + yl is < 2^-67, and |yl| << |yh|: a Fast2Sum normalizes the pair.
    The limit keeps k < 2^30: q by a float64 -> int32 conversion (vcvttpd2dq, packed on every
    x86-64 vector width; AVX2 has none to int64)."""
    k = np.rint(ax * _S_2_OVER_PI)
    r1 = _fma(-k, _D_PIO2_1, ax)
    ph = k * _D_PIO2_2
    pl = _fma(k, _D_PIO2_2, -ph)
    yh = r1 - ph
    e = (r1 - yh) - ph
    yl = _fma(-k, _D_PIO2_3, e - pl)
    y = yh + yl
    return y, yl - (y - yh), _I32(k) & _I32(3)


@njit(**_OPTS)
def _reduce_any_f64(ax):
    """ax = |x| (float64, any) -> (y, yl, q): the fast reduction up to its limit (so the fast
    variants give these functions' bits), the table above it (and for inf/NaN). A branch, not a
    select as for float32: the table reduction is never vectorized, and computing both cost it
    on every element."""
    if ax <= TRIG_FAST_LIMIT_F64:
        return _reduce_fast_f64(ax)
    y, yl, q = _reduce_f64(ax)
    return y, yl, _I32(q)


@njit(**_OPTS)
def sin_fast_f64(x):
    """sin for |x| <= TRIG_FAST_LIMIT_F64 (finite): same results as ``sin_f64`` there."""
    y, yl, q = _reduce_fast_f64(abs(x))
    s, c = _sincos_poly_f64(y, yl)
    return _sin_of(x, s, c, q, _F64_ZERO)


@njit(**_OPTS)
def cos_fast_f64(x):
    """cos for |x| <= TRIG_FAST_LIMIT_F64 (finite): same results as ``cos_f64`` there."""
    y, yl, q = _reduce_fast_f64(abs(x))
    s, c = _sincos_poly_f64(y, yl)
    return _pick_cos(s, c, q)


@njit(**_OPTS)
def tan_fast_f64(x):
    """tan for |x| <= TRIG_FAST_LIMIT_F64 (finite): same results as ``tan_f64`` there."""
    y, yl, q = _reduce_fast_f64(abs(x))
    s, c = _sincos_poly_f64(y, yl)
    return _tan_of(x, s, c, q, _F64_ZERO)


@njit(**_OPTS)
def sin_f64(x):
    ax = abs(x)
    y, yl, q = _reduce_any_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    v = _sin_of(x, s, c, q, _F64_ZERO)
    return v if ax < _F64_INF else _F64_NAN


@njit(**_OPTS)
def cos_f64(x):
    ax = abs(x)
    y, yl, q = _reduce_any_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    v = _pick_cos(s, c, q)
    return v if ax < _F64_INF else _F64_NAN


@njit(**_OPTS)
def _sin_cos_values(x, ax, s, c, q, zero, inf, nan):
    """(sin x, cos x) from the polynomials' (s, c) at the reduced argument of quadrant q."""
    vs = _sin_of(x, s, c, q, zero)
    vc = _pick_cos(s, c, q)
    return (vs if ax < inf else nan), (vc if ax < inf else nan)


@njit(**_OPTS)
def sincos_f64(x):
    """(sin_f64(x), cos_f64(x)) with one argument reduction: the table reduction is too large
    for LLVM to inline, so two calls on one x were two reductions (hessian kernels: ~19 ns each;
    the fast variants are inlined, and LLVM shares their reduction)."""
    ax = abs(x)
    y, yl, q = _reduce_any_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    return _sin_cos_values(x, ax, s, c, q, _F64_ZERO, _F64_INF, _F64_NAN)


@njit(**_OPTS)
def sincos_fast_f64(x):
    """(sin_fast_f64(x), cos_fast_f64(x)), |x| <= TRIG_FAST_LIMIT_F64 (finite): one reduction and
    one pair of polynomials (LLVM did not share them between the two calls: 3.2 -> 2.0 ns per
    element)."""
    ax = abs(x)
    y, yl, q = _reduce_fast_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    return _sin_cos_values(x, ax, s, c, q, _F64_ZERO, _F64_INF, _F64_NAN)


@njit(**_OPTS)
def sincos_f32(x):
    """(sin_f32(x), cos_f32(x)) with one argument reduction (see :func:`sincos_f64`)."""
    ax = abs(x)
    yh, yl, q = _reduce_any_f32x(ax)
    s, c = _sincos_poly_f32x(yh, yl)
    return _sin_cos_values(x, ax, s, c, q, _F32_ZERO, _F32_INF, _F32_NAN)


@njit(**_OPTS)
def tan_f64(x):
    ax = abs(x)
    y, yl, q = _reduce_any_f64(ax)
    s, c = _sincos_poly_f64(y, yl)
    v = _tan_of(x, s, c, q, _F64_ZERO)
    return v if ax < _F64_INF else _F64_NAN

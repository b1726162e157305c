"""Accuracy, special values and vectorization of staticad.backends.numba_math.

Errors are ULP distances between the result and the correctly rounded reference, counted on the
integer view of the floats (adjacent floats are 1 apart, +0 and -0 are 0 apart). References:
float32 results against NumPy's float64 functions (rounded to float32), float64 results against
np.longdouble (80-bit x87 on x86-64; the float64 sweeps are skipped where longdouble is float64).
Bound asserted everywhere: 4 ULP (measured maxima are far lower, see MEASURED in the report).
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from staticad.backends import numba_math as nm

BOUND = 4
N = 400_000                                   # points per random sweep
LONG_OK = np.finfo(np.longdouble).nmant >= 60
needs_long = pytest.mark.skipif(not LONG_OK, reason="np.longdouble is not extended precision here")

UNARY = ("exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt")
DTYPES = (np.float32, np.float64)


# --- helpers -------------------------------------------------------------------------------
def ordered(a):
    """Map floats to integers that are monotonic in the float order (+0 and -0 both to 0)."""
    a = np.asarray(a)
    ity = np.int32 if a.dtype == np.float32 else np.int64
    i = a.view(ity).astype(np.int64)
    return np.where(i < 0, np.int64(np.iinfo(ity).min) - i, i)


def ulp_distance(got, ref):
    """|got - ref| in ULPs (integer view); 0 when both NaN, huge when only one is NaN."""
    got = np.asarray(got)
    ref = np.asarray(ref).astype(got.dtype)
    d = np.abs(ordered(got) - ordered(ref))
    gn, rn = np.isnan(got), np.isnan(ref)
    d = np.where(gn & rn, 0, d)
    return np.where(gn ^ rn, np.iinfo(np.int64).max, d)


def _sigmoid_ref(x):
    one = x.dtype.type(1)
    return one / (one + np.exp(-x))


REF = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan,
       "tanh": np.tanh, "sigmoid": _sigmoid_ref, "sqrt": np.sqrt}


def reference(name, x):
    """The correctly rounded (up to the reference's own < 1e-3 ULP error) result in x's dtype."""
    if name == "sqrt":
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)                   # IEEE sqrt is correctly rounded (no double rounding)
    hi = np.float64 if x.dtype == np.float32 else np.longdouble
    with np.errstate(all="ignore"):
        return REF[name](x.astype(hi)).astype(x.dtype)


_LOOPS = {}


def loop(name, dtype, f=None):
    """A plain njit loop over the function (``f``, default the one for ``name`` and ``dtype``),
    compiled like the generated kernels."""
    key = (name, np.dtype(dtype).name, f)
    if key not in _LOOPS:
        f = f or nm.function_for(name, dtype)
        if name == "pow":
            @njit(error_model="numpy", fastmath={"contract"})
            def run(x, y):
                out = np.empty_like(x)
                for i in range(x.size):
                    out[i] = f(x[i], y[i])
                return out
        else:
            @njit(error_model="numpy", fastmath={"contract"})
            def run(x):
                out = np.empty_like(x)
                for i in range(x.size):
                    out[i] = f(x[i])
                return out
        _LOOPS[key] = run
    return _LOOPS[key]


def random_bits(dtype, n, rng, lo=None, hi=None):
    """Random finite floats with uniformly random bit patterns (every exponent equally likely)."""
    ity, uty = (np.int32, np.uint32) if dtype == np.float32 else (np.int64, np.uint64)
    b = rng.integers(0, np.iinfo(uty).max, size=n, dtype=uty, endpoint=True)
    x = b.view(dtype)
    x = x[np.isfinite(x)]
    if lo is not None:
        x = x[(x >= lo) & (x <= hi)]
    return x


def check(name, x, bound=BOUND):
    x = np.ascontiguousarray(x)
    got = loop(name, x.dtype)(x)
    ref = reference(name, x)
    d = ulp_distance(got, ref)
    i = int(np.argmax(d))
    assert d[i] <= bound, f"{name}[{x.dtype}]({x[i]!r}) = {got[i]!r}, reference {ref[i]!r}: {d[i]} ULP"
    return int(d[i])


def near_multiples(dtype, step, kmax, n, rng):
    """Floats nearest to k*step (hard cases for argument reduction), k random up to kmax."""
    k = np.unique(rng.integers(1, kmax, n))
    x = (k.astype(np.longdouble) * np.longdouble(step)).astype(dtype)
    return np.concatenate([x, np.nextafter(x, dtype(np.inf)), -x])


def _pi_longdouble():
    return np.longdouble(4) * np.arctan(np.longdouble(1))


# --- sweeps --------------------------------------------------------------------------------
DOMAINS = {
    "exp": {np.float32: (-104.0, 89.0), np.float64: (-746.0, 710.0)},
    "log": {np.float32: (0.0, np.inf), np.float64: (0.0, np.inf)},
    "log1p": {np.float32: (-1.0, np.inf), np.float64: (-1.0, np.inf)},
    "sin": {np.float32: (-np.inf, np.inf), np.float64: (-np.inf, np.inf)},
    "cos": {np.float32: (-np.inf, np.inf), np.float64: (-np.inf, np.inf)},
    "tan": {np.float32: (-np.inf, np.inf), np.float64: (-np.inf, np.inf)},
    "tanh": {np.float32: (-np.inf, np.inf), np.float64: (-np.inf, np.inf)},
    "sigmoid": {np.float32: (-np.inf, np.inf), np.float64: (-np.inf, np.inf)},
    "sqrt": {np.float32: (0.0, np.inf), np.float64: (0.0, np.inf)},
}
DENSE = {   # a dense uniform range where the function does most of its work
    "exp": (-30.0, 30.0), "log": (0.25, 4.0), "log1p": (-0.9, 3.0), "sin": (-40.0, 40.0),
    "cos": (-40.0, 40.0), "tan": (-40.0, 40.0), "tanh": (-12.0, 12.0), "sigmoid": (-40.0, 40.0),
    "sqrt": (0.0, 10.0),
}


def _params():
    out = []
    for name in UNARY:
        for dt in DTYPES:
            marks = [needs_long] if dt == np.float64 else []
            out.append(pytest.param(name, dt, marks=marks, id=f"{name}-{dt.__name__}"))
    return out


@pytest.mark.parametrize("name,dtype", _params())
def test_sweep(name, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{dtype.__name__}".encode()))
    lo, hi = DOMAINS[name][dtype]
    whole = random_bits(dtype, 4 * N, rng, lo, hi)[:N]          # the whole domain, all exponents
    dlo, dhi = DENSE[name]
    dense = rng.uniform(dlo, dhi, N).astype(dtype)
    worst = max(check(name, whole), check(name, dense))
    if name in ("sin", "cos", "tan"):
        hard = near_multiples(dtype, _pi_longdouble() / 2, 2 ** 40, 20_000, rng)
        worst = max(worst, check(name, hard))
    if name == "sqrt":
        assert worst == 0                                        # correctly rounded
    assert worst <= nm.MAX_ULP[(name, dtype.__name__)], (name, dtype, worst)


def test_exp_log_ranges_float64_edges():
    x = np.array([709.78, 709.782712893384, -708.39, -745.1, -744.5, -740.0, 1e-300, -1e-300],
                 dtype=np.float64)
    if LONG_OK:
        check("exp", x)
    x32 = np.array([88.72, 88.7228, -87.3, -103.9, -100.0, -95.5, 1e-30], dtype=np.float32)
    check("exp", x32)


@needs_long
def test_sin_cos_float64_worst_case_reduction():
    # the float64 closest to a multiple of pi/2 (x mod pi/2 ~ 2^-61): needs ~120 bits of 2/pi
    x = np.array([6381956970095103.0 * 2.0 ** 797, 1e22, 1e300, 2.0 ** 1023,
                  np.finfo(np.float64).max, 1e6, 1e15, 3.0 * 2 ** 52], dtype=np.float64)
    x = np.concatenate([x, -x, np.nextafter(x, 0)])
    for name in ("sin", "cos", "tan"):
        check(name, x, bound=2)


def test_sin_cos_float32_hard_cases():
    # float32 values near multiples of pi/2 across the whole exponent range
    rng = np.random.default_rng(5)
    for e in range(0, 128, 3):
        k = rng.integers(1, 2 ** 20, 200)
        x = (k * (math.pi / 2) * 2.0 ** max(0, e - 20)).astype(np.float32)
        x = x[np.isfinite(x)]
        for name in ("sin", "cos", "tan"):
            check(name, x, bound=1)


# --- special values ------------------------------------------------------------------------
def specials(dtype):
    fi = np.finfo(dtype)
    v = [np.nan, np.inf, -np.inf, 0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal,
         fi.tiny, -fi.tiny, fi.max, -fi.max, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-10, -1e-10, 100.0, -100.0,
         200.0, -200.0, 1000.0, -1000.0, 1e6, -1e6, 1e30, -1e30, fi.eps, 1 - fi.epsneg, 1 + fi.eps]
    with np.errstate(over="ignore"):
        return np.array(v, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", UNARY)
def test_special_values(name, dtype):
    x = specials(dtype)
    got = loop(name, dtype)(x)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            exact = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(dtype)
        else:
            exact = getattr(np, name)(x)
    # NaN exactly where NumPy gives NaN, infinities and zeros (with their sign) identical
    assert np.array_equal(np.isnan(got), np.isnan(exact)), (x, got, exact)
    special = ~np.isfinite(exact) | (exact == 0)
    same = (got == exact) & (np.signbit(got) == np.signbit(exact))
    assert np.all(same[special & ~np.isnan(exact)]), (x[special], got[special], exact[special])
    finite = np.isfinite(exact) & (exact != 0)
    if dtype == np.float32 or LONG_OK:
        ref = reference(name, x)
        assert np.all(ulp_distance(got[finite], ref[finite]) <= BOUND), (x, got, ref)


def test_overflow_underflow_denormals():
    e32 = loop("exp", np.float32)
    assert e32(np.array([100.0, 89.0, 88.8], np.float32)).tolist() == [np.inf] * 3
    assert e32(np.array([-200.0, -104.0], np.float32)).tolist() == [0.0, 0.0]
    d = e32(np.array([-100.0, -90.0], np.float32))
    assert np.all((d > 0) & (d < np.finfo(np.float32).tiny))               # denormal results
    e64 = loop("exp", np.float64)
    assert e64(np.array([710.0, 1000.0, -746.0, -1000.0])).tolist() == [np.inf, np.inf, 0.0, 0.0]
    d = e64(np.array([-740.0, -720.0]))
    assert np.all((d > 0) & (d < np.finfo(np.float64).tiny))
    for dt in DTYPES:
        sub = np.array([np.finfo(dt).smallest_subnormal * k for k in (1, 3, 1000, 2 ** 20)], dtype=dt)
        assert np.all(np.isfinite(loop("log", dt)(sub)))
        check("log", sub) if (dt == np.float32 or LONG_OK) else None
        assert np.array_equal(loop("log1p", dt)(sub), sub)                # log1p(x) == x for tiny x
        assert np.array_equal(loop("sin", dt)(sub), sub)
        assert np.array_equal(loop("tanh", dt)(sub), sub)


# --- pow -----------------------------------------------------------------------------------
def test_pow_float32_accuracy():
    rng = np.random.default_rng(11)
    x = random_bits(np.float32, 3 * N, rng, 0.0, np.inf)[:N]
    y = rng.uniform(-4, 4, x.size).astype(np.float32)
    xs = np.concatenate([x, rng.uniform(0, 3, N).astype(np.float32)])
    ys = np.concatenate([y, rng.uniform(-40, 40, N).astype(np.float32)])
    got = loop("pow", np.float32)(xs, ys)
    with np.errstate(all="ignore"):
        ref = np.power(xs.astype(np.float64), ys.astype(np.float64)).astype(np.float32)
    d = ulp_distance(got, ref)
    assert d.max() <= nm.MAX_ULP[("pow", "float32")], (xs[d.argmax()], ys[d.argmax()])


def test_pow_float32_special_cases():
    v = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0,
                  2.5, -2.5, 1e-45, 1e38, -1e38, 1e20], dtype=np.float32)
    xs, ys = (a.ravel() for a in np.meshgrid(v, v))
    got = loop("pow", np.float32)(xs, ys)
    with np.errstate(all="ignore"):
        exact = np.power(xs, ys)
        ref = np.power(xs.astype(np.float64), ys.astype(np.float64)).astype(np.float32)
    assert np.array_equal(np.isnan(got), np.isnan(exact)), list(zip(xs, ys, got, exact))
    special = ~np.isfinite(ref) | (ref == 0)
    same = (got == ref) & (np.signbit(got) == np.signbit(ref))
    bad = special & ~np.isnan(ref) & ~same
    assert not bad.any(), list(zip(xs[bad], ys[bad], got[bad], ref[bad]))
    assert np.all(ulp_distance(got[~special], ref[~special]) <= 1)


def test_pow_float64_is_libm():
    x = np.array([2.0, 0.5, -2.0, 10.0])
    y = np.array([0.5, -3.0, 3.0, 300.0])
    assert np.array_equal(loop("pow", np.float64)(x, y), np.power(x, y))


# --- hypothesis: random finite floats, scalar calls ------------------------------------------
def _scalar_check(name, dtype, v):
    x = np.array([v], dtype=dtype)
    got = np.array([nm.function_for(name, dtype)(x[0])], dtype=dtype)
    assert got.dtype == dtype
    ref = reference(name, x)
    assert ulp_distance(got, ref)[0] <= BOUND, (name, x[0], got[0], ref[0])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(UNARY), st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_hypothesis_float32(name, v):
    _scalar_check(name, np.float32, v)


@needs_long
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(UNARY), st.floats(allow_nan=False, allow_infinity=False))
def test_hypothesis_float64(name, v):
    _scalar_check(name, np.float64, v)


# --- types, vectorization, flags ------------------------------------------------------------
@pytest.mark.parametrize("name", UNARY + ("pow",))
def test_return_dtype(name):
    import numba

    for dt, nbt in ((np.float32, numba.float32), (np.float64, numba.float64)):
        f = nm.function_for(name, dt)
        args = (dt(0.75), dt(1.5)) if name == "pow" else (dt(0.75),)
        f(*args)
        sigs = [s for s in f.nopython_signatures if s.args == (nbt,) * len(args)]
        assert sigs and sigs[0].return_type == nbt, (name, dt, f.nopython_signatures)


LIBM = re.compile(r"@(llvm\.)?(sin|cos|tan|exp|exp2|log|log1p|log2|tanh|pow|expm1)(f|l)?(\.[fv]\w*)?\(")


@pytest.mark.parametrize("name", UNARY + ("pow",))
def test_vectorized_and_no_libm(name):
    for dt in DTYPES:
        if name == "pow" and dt == np.float64:
            continue                                           # documented libm fallback
        run = loop(name, dt)
        args = (np.ones(64, dt), np.ones(64, dt)) if name == "pow" else (np.ones(64, dt),)
        run(*args)
        sig = run.signatures[0]
        ir = run.inspect_llvm(sig)
        assert not LIBM.search(ir), (name, dt, LIBM.search(ir).group(0))
        asm = run.inspect_asm(sig)
        packed = re.findall(r"\bv\w+p[sd]\b[^\n]*[xyz]mm", asm)
        assert len(packed) > 10, (name, dt, "loop did not vectorize")


def test_inside_fastmath_contract_kernel_and_plain_kernel_agree():
    # generated kernels use fastmath={"contract"}; a kernel without it gives the same specials
    for dt in DTYPES:
        x = specials(dt)
        for name in UNARY:
            f = nm.function_for(name, dt)

            @njit(error_model="numpy")
            def plain(x):
                out = np.empty_like(x)
                for i in range(x.size):
                    out[i] = f(x[i])
                return out
            a, b = plain(x), loop(name, dt)(x)
            assert np.array_equal(np.isnan(a), np.isnan(b))
            assert np.all(ulp_distance(a, b) <= 1), (name, dt)


def test_funcs_table_and_constants():
    for (op, dt), fname in nm.FUNCS.items():
        assert callable(getattr(nm, fname))
        assert nm.function_for(op, dt) is getattr(nm, fname)
    # pi/2 split and ln2 split used by the reductions
    assert float(nm._S_PIO2) == math.pi / 2
    if LONG_OK:
        pio2 = _pi_longdouble() / 2
        assert abs((np.longdouble(nm._S_PIO2) + np.longdouble(nm._S_PIO2_LO)) - pio2) < 1e-19
        assert abs(np.longdouble(nm._E64_LN2HI) + np.longdouble(nm._E64_LN2LO) - np.log(np.longdouble(2))) \
            < 1e-19
    assert float(nm._S_PIO2_HI) + float(nm._S_PIO2_MID) == float(nm._S_PIO2)


def test_two_over_pi_bits():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = nm._TWO_OVER_PI_BITS + 64
    exact = int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** nm._TWO_OVER_PI_BITS))
    assert abs(exact - nm._TWO_OVER_PI) <= 2


# --- float32 fast-range trig (|x| <= TRIG_FAST_LIMIT_F32) ----------------------------------
def fast_loop(name):
    return loop(name, np.float32, f=getattr(nm, f"{name}_fast_f32"))


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_fast_trig_float32_equals_full_range_within_limit(name):
    """The fast reduction gives bit-for-bit the full-range results on its whole domain,
    including the hardest cases (floats nearest to multiples of pi/2), -0 and denormals."""
    rng = np.random.default_rng(11)
    lim = float(nm.TRIG_FAST_LIMIT_F32)
    x = np.concatenate([
        random_bits(np.float32, N, rng, -lim, lim),
        near_multiples(np.float32, math.pi / 2, int(lim / (math.pi / 2)), 20_000, rng),
        near_half_quadrants(20_000, rng),
        np.float32([0.0, -0.0, 1e-45, -1e-45, 1e-38, lim, -lim, np.nextafter(np.float32(lim), 0)]),
    ]).astype(np.float32)
    x = x[np.abs(x) <= lim]
    got = fast_loop(name)(x)
    full = loop(name, np.float32)(x)
    same = (got.view(np.int32) == full.view(np.int32))
    i = int(np.argmin(same))
    assert same.all(), f"{name}_fast_f32({x[i]!r}) = {got[i]!r}, full range gives {full[i]!r}"
    assert check(name, x) <= BOUND


def near_half_quadrants(n, rng):
    """float32 nearest to (k + 1/2) pi/2 and their neighbours, k random below the fast limit: where
    the float32 x*2/pi rounds to either neighbouring k (the reduced argument just past pi/4)."""
    kmax = int(float(nm.TRIG_FAST_LIMIT_F32) / (math.pi / 2))
    k = np.unique(rng.integers(0, kmax, n)).astype(np.longdouble)
    x = ((k + np.longdouble(0.5)) * np.longdouble(math.pi / 2)).astype(np.float32)
    return np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(0))])


def _fast_reduction(x):
    @njit(error_model="numpy", fastmath={"contract"})
    def run(x, yh, yl, q):
        for i in range(x.size):
            yh[i], yl[i], q[i] = nm._reduce_fast_f32x(abs(x[i]))
    yh, yl, q = np.empty_like(x), np.empty_like(x), np.empty(x.size, np.int32)
    run(x, yh, yl, q)
    return yh, yl, q


def test_fast_float32_reduction_pair_against_exact():
    """|x| - k pi/2 as the float32 pair yh + yl, against an exact integer computation with pi to
    2^-200: error within the roundings of yl (< 3 * 2^-24 |yl|, yh and the products are exact),
    q = k mod 4, |yh| <= 0.877 (the polynomials' reach).
    Random x up to the limit, the floats nearest multiples of pi/2 (|y| down to 2^-27.8: the
    worst case below 2^20 among them) and half-quadrants, tiny values, -0, the limit."""
    rng = np.random.default_rng(12)
    lim = float(nm.TRIG_FAST_LIMIT_F32)
    x = np.concatenate([
        random_bits(np.float32, 20_000, rng, -lim, lim),
        near_multiples(np.float32, math.pi / 2, int(lim / (math.pi / 2)), 5_000, rng),
        near_half_quadrants(5_000, rng),
        np.float32([252.89820861816406, 0.0, -0.0, 1e-45, 1e-38, 0.78539807, 0.7853982, 0.7853983,
                    lim, np.nextafter(np.float32(lim), np.float32(0))]),
    ]).astype(np.float32)
    yh, yl, q = _fast_reduction(x)
    bits = 200
    pio2 = nm._pi_fixed(bits) >> 1
    assert np.abs(yh).max() <= 0.877
    worst = 0.0
    for xi, h, lo, qi in zip(np.abs(x).tolist(), yh.tolist(), yl.tolist(), q.tolist()):
        xs = int(math.ldexp(xi, bits))                      # every float32 here is exact at 2^-200
        ys = int(math.ldexp(h, bits)) + int(math.ldexp(lo, bits))
        k = round((xs - ys) / pio2)
        exact = xs - k * pio2
        err = abs(ys - exact) / 2.0 ** bits
        assert k % 4 == qi, (xi, k, qi)
        assert err <= 3 * 2.0 ** -24 * abs(lo) + 2.0 ** -90, (xi, h, lo, err)
        worst = max(worst, err / abs(lo)) if lo else worst
    assert worst > 2.0 ** -30                       # the bound is not vacuous: yl's roundings show


def test_fast_sin_cos_float32_within_one_ulp_at_hard_cases():
    """The float32 reduction at its hard cases (multiples and half-quadrants of pi/2 up to the
    limit, tiny values): sin/cos within 1 ULP of the float64 reference, -0 kept by sin."""
    rng = np.random.default_rng(13)
    lim = float(nm.TRIG_FAST_LIMIT_F32)
    x = np.concatenate([
        near_multiples(np.float32, math.pi / 2, int(lim / (math.pi / 2)), 50_000, rng),
        near_half_quadrants(50_000, rng),
        np.float32([1e-45, -1e-45, 1e-38, 3e-8, lim, -lim]),
    ]).astype(np.float32)
    for name in ("sin", "cos"):
        got = fast_loop(name)(x)
        d = ulp_distance(got, reference(name, x))
        i = int(np.argmax(d))
        assert d[i] <= 1, f"{name}_fast_f32({x[i]!r}) = {got[i]!r}: {d[i]} ULP"
    z = fast_loop("sin")(np.float32([0.0, -0.0]))
    assert z.view(np.int32).tolist() == np.float32([0.0, -0.0]).view(np.int32).tolist()
    assert fast_loop("cos")(np.float32([0.0, -0.0])).tolist() == [1.0, 1.0]


def _sin_cos_without_jit(x, sfx, reduce_fast):
    """Rows sin_fast, cos_fast, sin, cos of ``x`` and the two parts of the fast reduction of |x|,
    computed as Python in a process with NUMBA_DISABLE_JIT=1 (this checkout's staticad)."""
    dt = x.dtype.name
    code = ("import sys, numpy as np\n"
            "from staticad.backends import numba_math as nm\n"
            f"x = np.frombuffer(bytes.fromhex(sys.argv[1]), np.{dt})\n"
            f"r = [f(v) for f in (nm.sin_fast_{sfx}, nm.cos_fast_{sfx}, nm.sin_{sfx}, nm.cos_{sfx}) for v in x]\n"
            f"r += [nm.{reduce_fast}(abs(v))[i] for i in (0, 1) for v in x]\n"
            f"print(np.array(r, np.{dt}).tobytes().hex())\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(nm.__file__)))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code, x.tobytes().hex()], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    return np.frombuffer(bytes.fromhex(out), x.dtype).reshape(6, -1)


def test_fast_sin_cos_float32_without_jit_match_compiled():
    """NUMBA_DISABLE_JIT=1 (the fuzzer's volume mode) runs the functions as Python, with a float64
    stand-in for the FMA: the same reduced arguments as the compiled code on the hard cases, and
    results within 1 ULP (the compiled polynomials contract to FMAs, the Python ones round twice)."""
    rng = np.random.default_rng(14)
    lim = float(nm.TRIG_FAST_LIMIT_F32)
    x = np.concatenate([near_multiples(np.float32, math.pi / 2, int(lim / (math.pi / 2)), 300, rng),
                        near_half_quadrants(300, rng), np.float32([1e-45, 0.5, 3.0, lim])])
    got = _sin_cos_without_jit(x, "f32", "_reduce_fast_f32x")
    for row, name in zip(got, ("sin", "cos", "sin", "cos")):
        assert ulp_distance(row, fast_loop(name)(x)).max() <= 1, name
    yh, yl, _ = _fast_reduction(x)
    assert np.array_equal(got[4].view(np.int32), yh.view(np.int32))
    assert np.array_equal(got[5].view(np.int32), yl.view(np.int32))


# --- float64 fast-range trig (|x| <= TRIG_FAST_LIMIT_F64) ----------------------------------
LIM64 = float(nm.TRIG_FAST_LIMIT_F64)


def fast_loop64(name):
    return loop(name, np.float64, f=getattr(nm, f"{name}_fast_f64"))


def near_half_quadrants64(n, rng):
    """float64 nearest to (k + 1/2) pi/2 and their neighbours, k random below the fast limit: where
    x*2/pi rounds to either neighbouring k (the reduced argument just past pi/4)."""
    k = np.unique(rng.integers(0, int(LIM64 / (math.pi / 2)), n)).astype(np.longdouble)
    x = ((k + np.longdouble(0.5)) * (_pi_longdouble() / 2)).astype(np.float64)
    return np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, 0.0)])


def _fast_inputs64(rng, n):
    """Random bit patterns and uniform values below the limit, floats nearest to multiples and
    half-quadrants of pi/2 (both signs), zeros, denormals, the limit and its neighbours."""
    edge = np.array([0.0, -0.0, 5e-324, -5e-324, 2.2e-308, 1e-300, 0.785398163397448,
                     0.7853981633974483, 0.7853981633974484, LIM64, -LIM64,
                     np.nextafter(LIM64, 0), -np.nextafter(LIM64, 0)])
    hard = near_multiples(np.float64, _pi_longdouble() / 2, int(LIM64 / (math.pi / 2)), n // 4, rng)
    return np.concatenate([random_bits(np.float64, n, rng, -LIM64, LIM64), rng.uniform(-20, 20, n // 4),
                           hard, near_half_quadrants64(n // 4, rng), -near_half_quadrants64(n // 16, rng),
                           edge])


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_fast_trig_float64_equals_full_range_within_limit(name):
    """The fast variants give the full-range functions' bits on their whole domain; where
    np.longdouble has 64 bits, both are within 1 ULP of it (2 for tan), also just above the limit
    (the table reduction)."""
    rng = np.random.default_rng(31)
    x = _fast_inputs64(rng, N)
    x = x[np.abs(x) <= LIM64]
    got = fast_loop64(name)(x)
    full = loop(name, np.float64)(x)
    same = got.view(np.int64) == full.view(np.int64)
    i = int(np.argmin(same))
    assert same.all(), f"{name}_fast_f64({x[i]!r}) = {got[i]!r}, full range gives {full[i]!r}"
    if LONG_OK:
        bound = 2 if name == "tan" else 1
        assert check(name, x, bound=bound) <= bound
        above = np.nextafter(LIM64, np.inf) * np.array([1.0, 1.0 + 2 ** -40, 1.5, 1e3])
        above = np.concatenate([above, np.nextafter(above, np.inf), -above])
        assert check(name, above, bound=bound) <= bound


def test_fast_float64_reduction_against_exact():
    """|x| - k pi/2 as the double-double y + yl, against an exact integer computation with pi to
    2^-400: absolute error < 2^-104 |y| + 2^-127 (the docstring's bound, with a factor 2 to
    spare), |yl| <= ulp(y)/2, q = k mod 4, |y| <= pi/4 + 2^-22; y = |x| and yl = 0 below pi/4."""
    rng = np.random.default_rng(32)
    x = np.abs(_fast_inputs64(rng, 20_000))
    x = x[(x <= LIM64)]

    @njit(error_model="numpy", fastmath={"contract"})
    def run(x, y, yl, q):
        for i in range(x.size):
            y[i], yl[i], q[i] = nm._reduce_fast_f64(x[i])
    y, yl, q = np.empty_like(x), np.empty_like(x), np.empty(x.size, np.int32)
    run(x, y, yl, q)
    small = x < math.pi / 4 - 1e-9
    assert np.array_equal(y[small], x[small]) and not yl[small].any() and not q[small].any()
    assert np.abs(y).max() <= math.pi / 4 + 2.0 ** -22
    assert (np.abs(yl) <= np.spacing(np.abs(y)) / 2).all()
    bits = 400
    pio2 = nm._pi_fixed(bits) >> 1
    worst = 0.0
    for xi, h, lo, qi in zip(x[~small].tolist(), y[~small].tolist(), yl[~small].tolist(), q[~small].tolist()):
        xs = int(math.ldexp(xi, bits))                      # every float64 >= pi/4 is exact at 2^-400
        ys = int(math.ldexp(h, bits)) + int(math.ldexp(lo, bits))
        k = round((xs - ys) / pio2)
        exact = xs - k * pio2
        err = abs(ys - exact) / 2.0 ** bits
        assert k % 4 == qi, (xi, k, qi)
        assert err <= 2.0 ** -104 * abs(h) + 2.0 ** -127, (xi, h, lo, err)
        worst = max(worst, err / abs(h))
    assert worst > 2.0 ** -120                      # the bound is not vacuous: yl's roundings show


def test_float64_trig_specials():
    """NaN and +-inf give NaN (full range), +-0 give +-0 (sin, tan) and 1 (cos), fast and full."""
    sp = np.array([np.nan, -np.nan, np.inf, -np.inf])
    for name in ("sin", "cos", "tan"):
        assert np.isnan(loop(name, np.float64)(sp)).all(), name
    z = np.array([0.0, -0.0])
    for f in (loop("sin", np.float64), fast_loop64("sin"), loop("tan", np.float64), fast_loop64("tan")):
        assert f(z).view(np.int64).tolist() == z.view(np.int64).tolist()
    assert fast_loop64("cos")(z).tolist() == [1.0, 1.0] == loop("cos", np.float64)(z).tolist()


def test_fast_sin_cos_float64_without_jit_match_compiled():
    """NUMBA_DISABLE_JIT=1 runs the functions as Python (the FMA as exact rational arithmetic):
    the same reduction as the compiled code on hard cases, results within 1 ULP."""
    rng = np.random.default_rng(33)
    x = np.concatenate([near_multiples(np.float64, _pi_longdouble() / 2, int(LIM64 / (math.pi / 2)), 100, rng),
                        near_half_quadrants64(100, rng), [5e-324, 0.5, 3.0, LIM64]])
    got = _sin_cos_without_jit(x, "f64", "_reduce_fast_f64")
    for row, name in zip(got, ("sin", "cos", "sin", "cos")):
        assert ulp_distance(row, fast_loop64(name)(x)).max() <= 1, name

    @njit(error_model="numpy", fastmath={"contract"})
    def run(x, y, yl):
        for i in range(x.size):
            y[i], yl[i], _ = nm._reduce_fast_f64(abs(x[i]))
    y, yl = np.empty_like(x), np.empty_like(x)
    run(x, y, yl)
    assert np.array_equal(got[4].view(np.int64), y.view(np.int64))
    assert np.array_equal(got[5].view(np.int64), yl.view(np.int64))


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_fast_trig_float64_loops_vectorize(name):
    """A loop over the float64 fast variants vectorizes (no table, no branch) and converts to
    int32 only (no packed conversion to int64 before AVX-512)."""
    run = fast_loop64(name)
    run(np.ones(64))
    ir = run.inspect_llvm(run.signatures[0])
    assert not VECTOR_INT64_CONVERSION.search(ir), VECTOR_INT64_CONVERSION.search(ir).group(0)
    assert _vector_width(ir, "double") >= 2


# --- float32 paths made for vector width (float32 polynomials, int32 conversions) -------------
def test_sin_cos_float32_exhaustive_binades_within_one_ulp():
    """Every float32 in [0.5, 4): the switch at pi/4, the quadrants at pi/2, pi, 3pi/2, through the
    fast and the full-range functions (the float32 polynomials on the split reduced argument)."""
    x = np.arange(np.float32(0.5).view(np.int32), np.float32(4.0).view(np.int32), dtype=np.int32).view(np.float32)
    for name in ("sin", "cos"):
        assert check(name, x, bound=1) <= 1
        assert check(name, -x[::7], bound=1) <= 1
        fast = fast_loop(name)(x[::5])
        assert np.array_equal(fast.view(np.int32), loop(name, np.float32)(x[::5]).view(np.int32))


def test_tanh_float32_switch_and_saturation():
    """Around the switch to 1 - 2/(e^2x + 1) at 0.55 and the clamp at 9.25 (every float32 in
    [0.5, 0.6) and a dense sweep of [8, 12]): within 1 ULP, exactly +-1 from the clamp on."""
    rng = np.random.default_rng(21)
    near = np.arange(np.float32(0.5).view(np.int32), np.float32(0.6).view(np.int32), dtype=np.int32).view(np.float32)
    sat = rng.uniform(8.0, 12.0, N).astype(np.float32)
    for x in (near, -near, sat, -sat):
        assert check("tanh", x, bound=1) <= 1
    big = np.float32([nm._T32_SAT, np.nextafter(nm._T32_SAT, np.float32(0)), 1e4, 3e38, np.inf])
    t = loop("tanh", np.float32)(np.concatenate([big, -big]))
    assert t.tolist() == [1.0] * 5 + [-1.0] * 5
    assert np.isnan(loop("tanh", np.float32)(np.float32([np.nan, -np.nan]))).all()


def test_tanh_exp_is_exp_f32_on_its_range():
    """tanh's stripped exp gives exp_f32's values bit for bit on [0, 2 * 9.25]."""
    a = np.linspace(0, 2 * float(nm._T32_SAT), 200_001).astype(np.float32)
    got = loop("exp", np.float32, f=nm._exp_tanh_f32)(a)
    assert np.array_equal(got.view(np.int32), loop("exp", np.float32)(a).view(np.int32))


def _vector_width(ir: str, ty: str) -> int:
    widths = [int(w) for w in re.findall(rf"<(\d+) x {ty}>", ir)]
    return max(widths, default=1)


def plain_float32_width() -> int:
    """Lanes LLVM gives a plain float32 loop on this machine (8 with AVX2, more or 4 elsewhere)."""
    @njit(error_model="numpy", fastmath={"contract"})
    def scale(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = x[i] * np.float32(3.0) + np.float32(1.0)
        return out
    scale(np.ones(64, np.float32))
    return _vector_width(scale.inspect_llvm(scale.signatures[0]), "float")


VECTOR_INT64_CONVERSION = re.compile(r"fpto[su]i <\d+ x (float|double)> [^\n]* to <\d+ x i64>")


@pytest.mark.parametrize("name", ["exp", "tanh", "sin", "cos", "sigmoid"])
def test_float32_math_loops_vectorize_full_width(name):
    """A float32 loop over these runs as many lanes as a plain float32 loop (no float64
    polynomial halving it), and converts floats to int32 only: x86 without AVX-512 has no packed
    conversion to int64, and LLVM scalarized one (exp_f32 ran 2.4x slower)."""
    fns = [nm.function_for(name, np.float32)]
    if name in ("sin", "cos"):
        fns.append(getattr(nm, f"{name}_fast_f32"))
    width = plain_float32_width()
    for f in fns:
        run = loop(name, np.float32, f=f)
        run(np.ones(64, np.float32))
        ir = run.inspect_llvm(run.signatures[0])
        assert not VECTOR_INT64_CONVERSION.search(ir), (f, VECTOR_INT64_CONVERSION.search(ir).group(0))
        if f is not nm.sin_f32 and f is not nm.cos_f32:      # full range: table rows are int64 math
            assert _vector_width(ir, "float") == width, (f, _vector_width(ir, "float"), width)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sincos_equals_sin_and_cos_bit_for_bit(dtype):
    """sincos (one reduction for the generated kernels' sin/cos pairs) gives exactly what the
    two functions give: random bit patterns, hard cases near multiples of pi/2, specials."""
    rng = np.random.default_rng(12)
    fin = np.finfo(dtype)
    x = np.concatenate([
        random_bits(dtype, 100_000, rng),
        rng.uniform(-10, 10, 10_000).astype(dtype),
        near_multiples(dtype, math.pi / 2, 1 << 20, 5_000, rng),
        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, fin.tiny, -fin.tiny, fin.max, -fin.max], dtype),
    ]).astype(dtype)
    sfx = "f32" if dtype == np.float32 else "f64"
    sincos = getattr(nm, f"sincos_{sfx}")

    @njit(error_model="numpy", fastmath={"contract"})
    def both(x):
        s, c = np.empty_like(x), np.empty_like(x)
        for i in range(x.size):
            s[i], c[i] = sincos(x[i])
        return s, c

    s, c = both(x)
    ity = np.int32 if dtype == np.float32 else np.int64
    for got, name in ((s, "sin"), (c, "cos")):
        want = loop(name, dtype)(x)
        same = (got.view(ity) == want.view(ity)) | (np.isnan(got) & np.isnan(want))
        i = int(np.argmin(same))
        assert same.all(), f"sincos_{sfx}({x[i]!r}): {name} {got[i]!r}, {name}_{sfx} gives {want[i]!r}"

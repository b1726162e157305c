"""Constants and polynomial coefficients of :mod:`.numba_math` (shared with :mod:`.numba_trig`)."""
from __future__ import annotations

import math

import numpy as np

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
(_ES0, _ES1, _ES2, _ES3) = [_F64(c) for c in _SIN_S32]      # float32 tan runs in float64
(_EC0, _EC1, _EC2, _EC3) = [_F64(c) for c in _COS_C32]
(_FS0, _FS1, _FS2, _FS3) = [_F32(c) for c in _SIN_S32]      # float32 sin/cos: float32 polynomials
(_FC0, _FC1, _FC2, _FC3) = [_F32(c) for c in _COS_C32]
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

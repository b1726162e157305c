"""Scalar functions of elementwise ops that are not a plain operator expression.

Each is plain Python on scalars, compiled by every compiled backend: ``numba.njit`` on CPU (the
generated code calls ``_rt.<op name>``, see :mod:`staticad.backends.numba_runtime`) and
``numba.cuda.jit(device=True)`` on GPU. So each may use ``math`` and operators only, never
another function of this module (the plain Python function would be called, which neither
compiler can). NaN handling follows numpy: ``x != x`` is the NaN test.
"""
from __future__ import annotations

import math


def maximum(a, b):
    # numpy propagates NaN from either side
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


def minimum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


def clip(x, lo, hi):
    # minimum(maximum(x, lo), hi), written out (no calls): NaN in x, lo or hi propagates
    if x != x:
        return x
    m = lo if lo != lo or lo > x else x
    if m != m:
        return m
    if hi != hi:
        return hi
    return m if m <= hi else hi


def sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    if x != x:
        return x
    return 0


def select(c, a, b):
    # a call, not ``a if c else b`` in the loop body: a conditional expression is a branch, and
    # numba's SSA and type inference grow with (blocks x variables) of a fused loop body
    return a if c else b


def relu(x):
    if x != x:
        return x
    return x if x > 0 else x * 0


def sigmoid(x):
    # exp of a non-positive argument only: no overflow for large |x|
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)

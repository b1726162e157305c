"""Micro-benchmark of staticad's vectorizable math (``staticad.backends.numba_math``).

For each function and dtype, over ``n`` elements (one thread):

* ``numpy_ms``: the NumPy ufunc writing into a preallocated output (``np.sin(x, out=o)``);
  sigmoid is NumPy's two-pass stable formula, pow is ``np.power(x, y, out=o)``;
* ``libm_ms``: a plain ``@njit`` ``for i in range(n)`` loop calling ``math.<func>`` (``x ** y``
  for pow, the libm-based ``numba_runtime.sigmoid`` formula for sigmoid);
* ``staticad_ms``: the same loop calling ``numba_math.<func>_f32/_f64``.

Both loops are compiled like the generated kernels: ``error_model="numpy"``, ``fastmath={"contract"}``.

Each column is warmed up (compile + one call), then timed ``repeat`` times with
``time.perf_counter``; the median is reported. Run ``python -m staticad.bench.math_bench`` for the
table (``--n``, ``--repeat``, ``--json PATH``).
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import time

import numpy as np
from numba import njit

from ..backends import numba_math as nm

FUNCTIONS = ("exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt", "pow")
DTYPES = ("float32", "float64")

# input domains: (low, high) uniform; pow: (x range, y range)
DOMAINS = {
    "exp": (-20.0, 20.0), "log": (1e-3, 1e3), "log1p": (-0.9, 1e3), "sin": (-100.0, 100.0),
    "cos": (-100.0, 100.0), "tan": (-100.0, 100.0), "tanh": (-10.0, 10.0),
    "sigmoid": (-20.0, 20.0), "sqrt": (0.0, 1e3), "pow": ((0.1, 10.0), (-3.0, 3.0)),
}


# --- libm reference scalars (what the templates call today) ---------------------------------
@njit(error_model="numpy")
def _libm_sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(error_model="numpy")
def _libm_pow(x, y):
    return x ** y


_LIBM = {
    "exp": njit(error_model="numpy")(lambda x: math.exp(x)),
    "log": njit(error_model="numpy")(lambda x: math.log(x)),
    "log1p": njit(error_model="numpy")(lambda x: math.log1p(x)),
    "sin": njit(error_model="numpy")(lambda x: math.sin(x)),
    "cos": njit(error_model="numpy")(lambda x: math.cos(x)),
    "tan": njit(error_model="numpy")(lambda x: math.tan(x)),
    "tanh": njit(error_model="numpy")(lambda x: math.tanh(x)),
    "sigmoid": _libm_sigmoid,
    "sqrt": njit(error_model="numpy")(lambda x: math.sqrt(x)),
    "pow": _libm_pow,
}


def _np_sigmoid(x, out):
    e = np.exp(-np.abs(x))
    np.divide(np.where(x >= 0, 1, e), 1 + e, out=out)


def _numpy_call(name):
    if name == "sigmoid":
        return lambda x, o: _np_sigmoid(x, o)
    if name == "pow":
        return lambda x, y, o: np.power(x, y, out=o)
    f = getattr(np, name)
    return lambda x, o: f(x, out=o)


# the loops are compiled like the generated kernels (numba_codegen): error_model="numpy",
# fastmath={"contract"} (FMA contraction only)
_LOOP_OPTS = dict(error_model="numpy", fastmath={"contract"})


def _loop1(f):
    @njit(**_LOOP_OPTS)
    def loop(x, out):
        for i in range(x.size):
            out[i] = f(x[i])
    return loop


def _loop2(f):
    @njit(**_LOOP_OPTS)
    def loop(x, y, out):
        for i in range(x.size):
            out[i] = f(x[i], y[i])
    return loop


def _median_ms(call, repeat):
    call()                                            # warm-up (and compile)
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times) * 1e3


def inputs(name, dtype, n, seed=0):
    """The benchmark's input arrays for ``name`` (a tuple: (x,) or (x, y))."""
    rng = np.random.default_rng(seed)
    dom = DOMAINS[name]
    if name == "pow":
        (xl, xh), (yl, yh) = dom
        return rng.uniform(xl, xh, n).astype(dtype), rng.uniform(yl, yh, n).astype(dtype)
    return (rng.uniform(dom[0], dom[1], n).astype(dtype),)


def run_math_bench(n=10_000_000, repeat=5, functions=FUNCTIONS, dtypes=DTYPES):
    """One row per (function, dtype): medians in ms of numpy, the libm loop and staticad's loop."""
    rows = []
    for name in functions:
        for dt in dtypes:
            args = inputs(name, dt, n)
            out = np.empty(n, dtype=dt)
            loop = _loop2 if name == "pow" else _loop1
            ours = loop(nm.function_for(name, dt))
            libm = loop(_LIBM[name])
            npf = _numpy_call(name)
            row = {
                "function": name, "dtype": dt, "n": n,
                "numpy_ms": _median_ms(lambda: npf(*args, out), repeat),
                "libm_ms": _median_ms(lambda: libm(*args, out), repeat),
                "staticad_ms": _median_ms(lambda: ours(*args, out), repeat),
            }
            rows.append(row)
    return rows


def format_table(rows) -> str:
    head = f"{'function':9s} {'dtype':8s} {'numpy ms':>9s} {'libm loop ms':>13s} {'staticad ms':>12s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['function']:9s} {r['dtype']:8s} {r['numpy_ms']:9.2f} {r['libm_ms']:13.2f} "
                     f"{r['staticad_ms']:12.2f}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--functions", default=",".join(FUNCTIONS))
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    rows = run_math_bench(a.n, a.repeat, functions=tuple(a.functions.split(",")))
    print(format_table(rows))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()

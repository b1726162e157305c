"""A monotonic nanosecond clock callable from ``@njit`` code (for instrumented profiling builds).

Numba's nopython mode cannot call ``time.perf_counter``. The options measured (x86-64 Linux,
numba 0.68, two timer reads per iteration of a loop):

* ``objmode`` around ``time.perf_counter()``: ~400 ns per read (re-acquires the GIL, boxes);
* a ctypes binding of libc ``clock_gettime``: the function pointer is a "dynamic global", so
  the function that calls it cannot be cached on disk;
* ``llvm.readcyclecounter`` (the TSC): ~10 ns per read, but it needs a calibration against a
  wall clock and traps on some non-x86 CPUs;
* an intrinsic that declares libc ``clock_gettime`` in the LLVM module and calls it (the vDSO
  path, no system call): ~22 ns per read, the very clock ``time.perf_counter`` and
  ``time.monotonic`` read on Linux, and it caches on disk like any njit function.

``now_ns()`` is the last one; :func:`py_now_ns` reads the same clock from Python, so that
timestamps taken inside and outside native code can be compared. Where ``clock_gettime`` is
missing (Windows) ``now_ns`` falls back to ``objmode`` + ``time.perf_counter_ns``.
"""
from __future__ import annotations

import time

import numba
from numba import types

#: The clock both sides read: CLOCK_MONOTONIC where ``time.clock_gettime_ns`` exists.
CLOCK_ID = getattr(time, "CLOCK_MONOTONIC", None) if hasattr(time, "clock_gettime_ns") else None
#: Which implementation ``now_ns`` uses ("clock_gettime" or "objmode").
METHOD = "clock_gettime" if CLOCK_ID is not None else "objmode"


def py_now_ns() -> int:
    """The clock of :func:`now_ns`, read from Python."""
    if CLOCK_ID is not None:
        return time.clock_gettime_ns(CLOCK_ID)
    return time.perf_counter_ns()


if METHOD == "clock_gettime":
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _clock_gettime_ns(typingctx):
        def codegen(context, builder, signature, args):
            i32, i64 = ir.IntType(32), ir.IntType(64)
            # struct timespec { time_t tv_sec; long tv_nsec; } (two 64-bit fields on LP64)
            ts_type = ir.LiteralStructType([i64, i64])
            fnty = ir.FunctionType(i32, [i32, ts_type.as_pointer()])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
            ts = cgutils.alloca_once(builder, ts_type)
            builder.call(fn, [ir.Constant(i32, CLOCK_ID), ts])
            sec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 0))
            nsec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 1))
            return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)

        return types.int64(), codegen

    @numba.njit(cache=True)
    def now_ns():
        """Nanoseconds of the monotonic clock (the clock of :func:`py_now_ns`)."""
        return _clock_gettime_ns()

else:  # pragma: no cover - platforms without clock_gettime

    @numba.njit(cache=True)
    def now_ns():
        with numba.objmode(t="int64"):
            t = time.perf_counter_ns()
        return t

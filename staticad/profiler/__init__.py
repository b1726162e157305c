"""Per-kernel profiling: ``f.profile(*arrays)`` and ``with sad.profile() as p:``.

What is timed depends on the backend:

* ``numba``: an *instrumented variant* of the function's plan — the same generated entry point
  with a timer read around every loop kernel, every library step (matmul, views, ...) and the
  epilogue (output copies, Variable writes). The timer is ``numba_timer.now_ns``: libc
  ``clock_gettime(CLOCK_MONOTONIC)`` called from native code (~22 ns a read; see that module for
  the alternatives measured). The variant is generated, compiled (disk-cached like any entry
  point) and kept on the Function the first time it is profiled; normal calls never run it, so
  they cost nothing extra.
* ``numpy``: the reference interpreter times every graph node.

Both give a :class:`ProfileReport`: one row per kernel/step (name, ops fused, calls, total and
mean time, share of the time in kernels), sorted by total, plus the wall time of the calls, and
:meth:`ProfileReport.export_chrome_trace` (one complete event per kernel call).

``f.profile`` leaves Variables as they were (a training step's updates are undone after each
call). ``with sad.profile() as p:`` instead records the calls the user makes inside the block:
they are real calls, so their updates do apply. Calls of any number of functions are recorded
(while a block is open, from any thread) and reported together.
"""
from .report import CallRecord, KernelTiming, ProfileReport, now_ns as _now_ns, ops_summary  # noqa: F401
from .session import Profile, profile  # noqa: F401
from .timing import instrumented, profile_function  # noqa: F401

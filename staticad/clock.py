"""The one clock of every step timing (profiler records, backends' per-step timings).

``numba_timer.now_ns`` reads CLOCK_MONOTONIC from native code, so Python-side timestamps read it
too (``time.perf_counter`` is the same clock on Linux)."""
from __future__ import annotations

import time

if hasattr(time, "clock_gettime_ns") and hasattr(time, "CLOCK_MONOTONIC"):
    def now_ns(_get=time.clock_gettime_ns, _id=time.CLOCK_MONOTONIC) -> int:
        """Nanoseconds of the monotonic clock the instrumented native code reads."""
        return _get(_id)
else:  # pragma: no cover - Windows
    now_ns = time.perf_counter_ns

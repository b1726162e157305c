"""Peak memory of one call, for the ``mem`` column of ``staticad bench --memory``.

Each column is measured in a fresh process (``python -m staticad.bench.memory``) that first
sets glibc's mmap threshold to 64 KiB, so that every buffer from 64 KiB up is fresh pages and
is returned on free: memory reused from an earlier call can then not hide a temporary. After
one warm-up call, the kernel's resident-set high-water mark (``VmHWM``) is reset by writing
``5`` to ``/proc/self/clear_refs``; ``VmHWM`` after one more call minus the resident size just
before it is what that call added at its peak (its outputs and every temporary). Memory a
function keeps between calls (the numba backend's workspace) is resident before the call and
is added. Linux with glibc only; elsewhere the column stays empty.
"""
from __future__ import annotations

import ctypes
import gc
import json
import subprocess
import sys
from typing import Callable, Optional

_STATUS = "/proc/self/status"
_CLEAR = "/proc/self/clear_refs"
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024


def _status_kib(field: str) -> int:
    with open(_STATUS) as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> None:
    with open(_CLEAR, "w") as fh:
        fh.write("5")


def fresh_pages_for_large_buffers() -> bool:
    """mallopt(M_MMAP_THRESHOLD, 64 KiB); False where glibc's mallopt is not available."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def call_peak_bytes(fn: Callable, args, retained: Callable[[], int] = lambda: 0) -> Optional[int]:
    """Bytes one call ``fn(*args)`` adds to the resident set at its peak, plus ``retained()``;
    ``None`` where it cannot be measured (no /proc/self/clear_refs)."""
    gc.collect()
    try:
        _reset_peak()
        before = _status_kib("VmRSS")
    except (OSError, KeyError, ValueError):
        return None
    out = fn(*args)
    peak = _status_kib("VmHWM")
    del out
    return max(0, peak - before) * 1024 + int(retained())


def io_bytes(arrays) -> int:
    import numpy as np
    from . import workloads
    return int(sum(np.asarray(a).nbytes for a in workloads.flatten(list(arrays))))


def measure_here(workload: str, size, column: str, kind: str) -> dict:
    """Measure in this process (call it in a fresh one: see the module docstring)."""
    from .columns import build_callable
    if not fresh_pages_for_large_buffers():
        return {"peak_call_bytes": None}
    fn, args, retained = build_callable(workload, size, column, kind)
    out = fn(*args)  # warm-up: compiles, sizes the workspace
    del out
    out = fn(*args)  # a large call compiles the threaded entry point on the call after the first
    inputs = [a for a in args if hasattr(a, "nbytes")]
    result = {"input_bytes": io_bytes(inputs), "io_bytes": io_bytes(inputs + [out])}
    del out
    result["peak_call_bytes"] = call_peak_bytes(fn, args, retained)
    return result


def measure(workload: str, size, column: str, kind: str, timeout: float = 900) -> dict:
    """:func:`measure_here` in a fresh Python process; ``{"peak_call_bytes": None, ...}`` on failure."""
    cmd = [sys.executable, "-m", "staticad.bench.memory", workload, "-" if size is None else str(size), column, kind]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        return {"peak_call_bytes": None, "memory_error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def main(argv=None) -> int:
    workload, size, column, kind = (argv or sys.argv[1:])[:4]
    print(json.dumps(measure_here(workload, None if size == "-" else int(size), column, kind)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

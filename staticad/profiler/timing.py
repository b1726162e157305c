"""Timing one call: the backend's profiling build (``CompileOptions(profile=True)``: on numba a
timer around every step inside the native entry point; numpy times each node, cuda each launch
group), run with a ``timings`` list; ``f.profile``."""
from __future__ import annotations

import dataclasses
import threading
import warnings

from ..compiler import compile_plan
from .report import CallRecord, ProfileReport, Step, now_ns

_UNSET = object()


def instrumented(fn):
    """The profiling build of Function ``fn`` (compiled once, kept on ``fn``), or ``None`` when
    the backend cannot build it here (then each call is timed as one step)."""
    cached = fn.__dict__.get("_profile_variant", _UNSET)
    if cached is _UNSET:
        try:
            cached = compile_plan(fn._exec.plan, fn.backend, dataclasses.replace(fn.options, profile=True))
        except Exception as exc:  # fall back to timing the whole call
            warnings.warn(f"staticad.profile: no per-kernel timing for {fn.name!r} "
                          f"({type(exc).__name__}: {exc}); timing the whole native call instead",
                          RuntimeWarning, stacklevel=3)
            cached = None
        fn.__dict__["_profile_variant"] = cached
    return cached


def run_timed(fn, arrays, restore: bool):
    """Run one call of ``fn``, timing its steps. Returns ``(outs, new_values, record, timer)``.

    ``restore``: Variables are put back as they were (f.profile); otherwise the call's updates
    stay (an executable that leaves them to the caller returns them in ``new_values``)."""
    build = instrumented(fn)
    matches = getattr(fn._exec, "matches", None)
    if build is not None and matches is not None and not matches(arrays):
        build = None  # the profiling build is the plan specialised for equal dims: these differ
    ex = build if build is not None else fn._exec
    tid = threading.get_ident()
    variables = _variables(fn) if restore else ()
    saved = [v.value for v in variables]
    steps: list = []
    t0 = now_ns()
    outs, new_values = ex.run(arrays, steps)
    t1 = now_ns()
    for v, old in zip(variables, saved):
        v._storage = old
    if restore:
        new_values = ()
    record = CallRecord(fn.name, t0, t1, tid, [Step(*s) for s in steps])
    return list(outs), new_values, record, ex.timer


def _variables(fn) -> list:
    """Every Variable a call of ``fn`` may write."""
    return [v for v, _ in fn.updates]


def profile_function(fn, args, kwargs, repeat) -> ProfileReport:
    """``f.profile(*args, repeat=...)``: ``repeat`` timed calls; Variables are left unchanged."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"profile: repeat must be a positive int, got {repeat!r}")
    arrays = fn._bind(args, kwargs)
    if instrumented(fn) is not None:  # compile the build, and one untimed call sizes its workspace
        run_timed(fn, arrays, restore=True)
    records, timer = [], ""
    for _ in range(repeat):
        _, _, rec, timer = run_timed(fn, arrays, restore=True)
        records.append(rec)
    wall = sum(r.end_ns - r.start_ns for r in records) * 1e-9
    return ProfileReport(None, wall, repeat, records, timer)

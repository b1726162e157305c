"""Timing one call: the instrumented numba variant (a timer around every step inside the native
entry point), or the backend's own per-step timing (numpy: per node); ``f.profile``."""
from __future__ import annotations

import inspect
import sys
import threading

from .report import CallRecord, ProfileReport, Step, now_ns


class _NodeClock(dict):
    """A ``timings`` dict for backends that time steps in Python (``timings[key] += seconds``):
    it also logs when each step ended, so every step gets a start and a duration."""

    def __init__(self):
        super().__init__()
        self.log = []

    def __setitem__(self, key, value):
        end = now_ns()
        delta = value - dict.get(self, key, 0.0)
        dict.__setitem__(self, key, value)
        self.log.append((key, end - int(delta * 1e9), int(delta * 1e9)))

    def steps(self) -> list:
        out = []
        for key, start, dur in self.log:
            if isinstance(key, tuple):  # (name, ops) of a backend that times kernels (cuda) or its entry
                kind = "entry" if key[0] == "entry" else "kernel"
                out.append(Step(str(key[0]), kind, str(key[1]), start, dur))
            else:  # a graph node (numpy backend)
                out.append(Step(key.name, "node", key.op.name, start, dur))
        return out


class _Instrumented:
    """The instrumented numba variant of a :class:`NumbaExecutable`: same plan, same arguments,
    plus a timer around every step; ``run`` returns the outputs and the per-step timings."""

    def __init__(self, ex):
        import sys
        import warnings

        import numba
        import numpy as np

        from ..backends import cache as _cache
        from ..backends.numba_codegen import NumbaCodegen
        from ..backends import numba_timer

        cg = NumbaCodegen(ex.plan, profile=True)
        self.source = cg.generate()
        if [n for _, n in cg.args + cg.swaps] != [n for _, n in ex.args] + ex._swapped:
            raise RuntimeError("instrumented entry point takes different arguments")
        self.steps = [(name, kind, ", ".join(ops)) for name, kind, ops, _ in cg.profile_steps]
        self.timer = f"numba_timer.now_ns ({numba_timer.METHOD}) around each step, inside the native entry point"
        self._variables = list(ex._variables)  # what the normal entry point gets, in order
        self._constants = list(ex._constants)
        self._swapped = list(ex._swapped)
        self._spares = [np.empty(v.shape, v.dtype) for v in self._swapped]
        self._swap_in = ex.swap_in
        self._workspace = np.empty(0, np.uint8)
        self._np = np

        def array_type(node):
            return numba.types.Array(numba.from_dtype(np.dtype(node.dtype)), node.ndim, "C")

        sig = tuple(array_type(node) for _, node in ex.args + cg.swaps) + (numba.types.Array(numba.uint8, 1, "C"),)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.NumbaPerformanceWarning)
            libs = cg.library_sources()
            module, _path, _ = _cache.load_module(self.source, requires=libs)
            try:
                module.entry.compile(sig)
            except Exception as exc:  # a broken on-disk cache entry: rebuild it once
                if not isinstance(exc, (OSError, EOFError, ValueError)) and "cache" not in str(exc).lower():
                    raise
                for m in [module.__name__] + [_cache.module_name(lib) for lib in libs]:
                    _cache.discard(m)
                module, _path, _ = _cache.load_module(self.source, requires=libs)
                module.entry.compile(sig)
            for m in [module] + [sys.modules[_cache.module_name(lib)] for lib in libs]:
                _cache.record_compiled(m)  # the next process may load what Numba just wrote
        self.entry = module.entry
        hits = self.entry.stats.cache_hits
        self.cache_hit = bool(sum(hits.values()) if hasattr(hits, "values") else hits)

    def run(self, arrays):
        np = self._np
        args = [a if a.flags.c_contiguous else np.array(a, order="C") for a in arrays]
        args += [v._storage for v in self._variables]
        args += self._constants
        args += self._spares
        args.append(self._workspace)
        outs, need, _, prof = self.entry(*args)
        if need > self._workspace.size:
            self._workspace = np.empty(need + need // 4, np.uint8)
        self._swap_in(self._swapped, self._spares)
        return outs, prof

    def steps_of(self, prof) -> list:
        return [Step(name, kind, ops, int(start), int(dur))
                for (name, kind, ops), (start, dur) in zip(self.steps, prof.tolist())]


def instrumented(fn):
    """The instrumented numba variant of Function ``fn`` (compiled once, kept on ``fn``), or
    ``None`` when its backend is not numba-like or the variant cannot be built here."""
    ex = fn._exec
    nb = sys.modules.get("staticad.backends.numba_backend")  # loaded when ex is a numba executable
    if nb is None or type(ex) is not getattr(nb, "NumbaExecutable", None):
        return None  # other backends (numpy, cuda) time their steps themselves
    cached = fn.__dict__.get("_profile_variant", _UNSET)
    if cached is _UNSET:
        try:
            cached = _Instrumented(ex)
        except Exception as exc:  # fall back to timing the whole entry point
            import warnings
            warnings.warn(f"staticad.profile: no per-kernel timing for {fn.name!r} "
                          f"({type(exc).__name__}: {exc}); timing the whole native call instead",
                          RuntimeWarning, stacklevel=3)
            cached = None
        fn.__dict__["_profile_variant"] = cached
    return cached


_UNSET = object()


def run_timed(fn, arrays, restore: bool):
    """Run one call of ``fn``, timing its steps. Returns ``(outs, new_values, record, timer)``.

    ``restore``: Variables are put back as they were (f.profile); otherwise the call's updates
    stay (a numpy-backend call returns them for the caller to apply, numba writes them)."""
    ex = fn._exec
    variant = instrumented(fn)
    tid = threading.get_ident()
    if variant is not None:
        saved = [v._storage.copy() for v in variant._variables] if restore else None
        t0 = now_ns()
        outs, prof = variant.run(arrays)
        t1 = now_ns()
        if saved:
            for v, old in zip(variant._variables, saved):
                v._storage[...] = old
        return list(outs), (), CallRecord(fn.name, t0, t1, tid, variant.steps_of(prof)), variant.timer
    compiled = getattr(ex, "applies_updates", False)  # updates happen inside the backend's run
    real_call = {}
    if compiled and not restore:
        if _takes_keyword(ex.run, "apply_updates"):  # per-step timing of a real call (cuda)
            real_call = {"apply_updates": True}
        else:
            # a backend whose timings path leaves the Variables alone: one step, the whole call
            t0 = now_ns()
            outs, new_values = ex.run(arrays)
            t1 = now_ns()
            step = Step("entry", "entry", f"{getattr(ex, 'kernels', '?')} kernels", t0, t1 - t0)
            return outs, new_values, CallRecord(fn.name, t0, t1, tid, [step]), "the whole call, from Python"
    clock = _NodeClock()
    t0 = now_ns()
    outs, new_values = ex.run(arrays, timings=clock, **real_call)
    t1 = now_ns()
    if restore:
        new_values = ()
    timer = "time.perf_counter around each node (numpy interpreter)"
    if compiled:
        timer = f"the {getattr(fn.backend, 'NAME', '?')} backend's own step timing, from Python"
    return outs, new_values, CallRecord(fn.name, t0, t1, tid, clock.steps()), timer


def _takes_keyword(method, name: str) -> bool:
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def profile_function(fn, args, kwargs, repeat) -> ProfileReport:
    """``f.profile(*args, repeat=...)``: ``repeat`` timed calls; Variables are left unchanged."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"profile: repeat must be a positive int, got {repeat!r}")
    arrays = fn._bind(args, kwargs)
    if instrumented(fn) is not None:  # compile the variant, and one untimed call sizes its workspace
        run_timed(fn, arrays, restore=True)
    records, timer = [], ""
    for _ in range(repeat):
        _, _, rec, timer = run_timed(fn, arrays, restore=True)
        records.append(rec)
    wall = sum(r.end_ns - r.start_ns for r in records) * 1e-9
    return ProfileReport(None, wall, repeat, records, timer)

"""Timing for ``staticad bench`` (the table and the JSON file: :mod:`staticad.bench.report`).

Columns of one workload (at one size):

* one per requested staticad backend: compile time = ``sad.function(...)`` + the first call
  (graph declaration is timed apart, ``graph_seconds`` in the JSON), ``f.stats["cache_hit"]``;
* ``numpy-hand``: the hand-written NumPy forward + backward, always run, the baseline of every
  ratio;
* ``torch`` / ``jax`` with ``--compare``: PyTorch eager and ``jax.jit`` (compile = jit + first call).

After the first call each column is warmed up (``warmup`` calls, continued until
``WARMUP_SECONDS`` have passed), then ``repeat`` calls are timed one by one with
``time.perf_counter`` (the garbage collector paused); the median, min and max are reported. The
outputs of the first calls are checked against ``numpy-hand`` (``check``: ok / DIFF).
A column that cannot run here (a backend not built yet, no CUDA GPU, a comparison framework not
installed) is listed as skipped with the reason; it is never an error.
"""
from __future__ import annotations

import gc
import os
import platform
import re
import statistics
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

import staticad as sad
from staticad import backends as _backends

from . import compare as _compare
from .columns import build_callable, compile_graph  # noqa: F401  (re-exported)
from . import workloads as _workloads

KNOWN_BACKENDS = ("numpy", "numba", "cuda")
HAND = "numpy-hand"
RATIO_COLUMN = "numba"  # the table's "vs numba": every column's median over this column's
_NO_GPU = "no CUDA GPU (numba.cuda.is_available() is False; NUMBA_ENABLE_CUDASIM=1 selects the simulator)"


# --------------------------------------------------------------------------------------------
# environment


def cuda_status() -> dict:
    """Whether numba sees a CUDA GPU or runs the CUDA simulator; never raises."""
    sim_env = os.environ.get("NUMBA_ENABLE_CUDASIM", "")
    simulator = sim_env.strip() not in ("", "0")
    status = {"simulator": simulator, "available": False, "devices": [], "error": None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from numba import cuda
            status["available"] = bool(cuda.is_available())
            if status["available"] and not simulator:
                for dev in cuda.gpus:
                    name = getattr(dev, "name", "?")
                    status["devices"].append(name.decode() if isinstance(name, bytes) else str(name))
    except Exception as exc:  # no driver, broken toolkit, ...
        status["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return status


def environment() -> dict:
    import networkx
    import numba
    return {
        "staticad": sad.__version__, "numpy": np.__version__, "numba": numba.__version__,
        "networkx": networkx.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "backends_available": list(_backends.available()),
    }


# --------------------------------------------------------------------------------------------
# columns


@dataclass
class Column:
    name: str                      # "numpy", "numba", "cuda", "numpy-hand", "torch", "torch-cuda", "jax", ...
    kind: str                      # "staticad" | "hand" | a --compare framework (its name)
    skip: Optional[str] = None     # reason when the column cannot run here


def _backend_skip_reason(name: str) -> Optional[str]:
    avail = list(_backends.available())
    if name not in avail:
        reason = f"backend {name!r} is not in this build (staticad.backends.available(): {', '.join(avail) or 'none'})"
        if name == "cuda" and not cuda_status()["available"]:
            reason += f"; {_NO_GPU}"
        return reason
    try:
        mod = _backends.get(name)
    except Exception as exc:
        return f"backend {name!r} cannot be loaded: {type(exc).__name__}: {exc}".splitlines()[0]
    for probe in ("is_available", "available"):  # optional hook of a backend module
        fn = getattr(mod, probe, None)
        if callable(fn):
            try:
                ok = fn()
            except Exception as exc:
                return f"backend {name!r} is not usable: {type(exc).__name__}: {exc}".splitlines()[0]
            if ok is False or (isinstance(ok, tuple) and ok and ok[0] is False):
                why = getattr(mod, "unavailable_reason", None)
                why = why() if callable(why) else why
                if isinstance(ok, tuple) and len(ok) > 1:
                    why = ok[1]
                return f"backend {name!r} is not usable here" + (f": {why}" if why else "")
            break
    if name == "cuda":
        cs = cuda_status()
        if not cs["available"]:
            return _NO_GPU
    return None


def _names(requested):
    """The names of repeatable, comma-separated options (``-b numba,numpy -b cuda``), lowercased."""
    for item in requested or []:
        for part in str(item).split(","):
            part = part.strip().lower()
            if part:
                yield part


def resolve_backends(requested) -> list:
    """Expand ``--backend`` values (names, comma lists, ``all``) into staticad columns.

    ``None``/empty means every backend this build has. Raises ``ValueError`` for unknown names.
    """
    avail = list(_backends.available())
    if not requested:
        names = avail
    else:
        names = []
        for part in _names(requested):
            if part == "all":
                names += list(KNOWN_BACKENDS) + [b for b in avail if b not in KNOWN_BACKENDS]
            elif part in KNOWN_BACKENDS or part in avail:
                names.append(part)
            else:
                known = list(KNOWN_BACKENDS) + [b for b in avail if b not in KNOWN_BACKENDS]
                raise ValueError(f"unknown backend {part!r} (choose from: {', '.join(known)}, all)")
    seen, cols = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            cols.append(Column(n, "staticad", _backend_skip_reason(n)))
    return cols


def resolve_compare(requested) -> list:
    names = []
    for part in _names(requested):
        if part not in _compare.FRAMEWORKS:
            raise ValueError(f"unknown --compare framework {part!r} (choose from: {', '.join(_compare.FRAMEWORKS)})")
        if part not in names:
            names.append(part)
    cols = []
    for n in names:
        ok, info = _compare.availability(n)
        cols.append(Column(n, n, None if ok else info))
    return cols


def resolve_workloads(requested) -> list:
    if not requested:
        return list(_workloads.WORKLOADS)
    names = []
    for part in _names(requested):
        if part == "all":
            names += list(_workloads.WORKLOADS)
        elif part in _workloads.WORKLOADS:
            names.append(part)
        else:
            raise ValueError(f"unknown workload {part!r} (choose from: {', '.join(_workloads.WORKLOADS)}, all)")
    return list(dict.fromkeys(names))


def parse_size_args(items, workload_names=None):
    """``--size`` values -> ``(plain_sizes or None, {workload: sizes})``.

    ``S`` / ``S,S`` applies to every sized workload that takes a plain size (chain, linreg);
    ``NAME=S[,S]`` to that workload only (e.g. ``hessian=100``). ``ValueError`` on bad input.
    """
    plain, by_name = [], {}
    for item in items or []:
        text = str(item)
        if "=" in text:
            name, _, value = text.partition("=")
            name = name.strip().lower()
            w = _workloads.get(name)
            if not w.sized:
                raise ValueError(f"workload {name!r} has a fixed size; --size {text!r} does not apply")
            by_name.setdefault(name, []).extend(parse_size(value))
        else:
            plain.extend(parse_size(text))
    return (plain or None), by_name


def sizes_for(w, plain=None, by_name=None, full=False) -> list:
    """The sizes one workload runs at: ``[None]`` for a fixed-size workload."""
    if not w.sized:
        return [None]
    if by_name and w.name in by_name:
        return list(dict.fromkeys(by_name[w.name]))
    if plain and w.plain_size:
        return list(dict.fromkeys(plain))
    return list(w.full_sizes if full and w.full_sizes else w.sizes)


def parse_size(text) -> list:
    """``"1e5"``, ``"100000"``, ``"1e3,1e5"`` -> ``[100000]``, ...; ``ValueError`` when not a positive integer."""
    out = []
    for part in str(text).split(","):
        part = part.strip().replace("_", "")
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"invalid size {part!r}: expected a positive integer such as 1000 or 1e5") from None
        if not np.isfinite(value) or value < 1 or value != int(value):
            raise ValueError(f"invalid size {part!r}: expected a positive integer such as 1000 or 1e5")
        out.append(int(value))
    return out


# --------------------------------------------------------------------------------------------
# timing


# Warm-up by time as well as by count: short calls reach their steady speed only after some
# 100 us of work (measured on an AVX-512 Xeon: chain n=1e3 ran 7 us per call for its first ~20
# calls, then 3.3 us; numpy-hand 17.6 -> 12.7 us; the CPU powers its 512-bit units up on demand).
# Two calls were too few for every column alike; 20 ms is some thousand calls there.
WARMUP_SECONDS = 0.02


def _time_calls(fn, args, repeat: int, warmup: int, keep: int):
    """First call (timed), warm-up calls (at least ``warmup``, and for ``WARMUP_SECONDS`` when
    ``warmup`` > 0), then ``repeat`` timed calls. Returns ``(first_seconds, outputs_of_first_calls, times)``."""
    outputs = []
    t0 = time.perf_counter()
    out = fn(*args)
    first = time.perf_counter() - t0
    outputs.append(out)
    done, until = 0, time.perf_counter() + WARMUP_SECONDS
    while done < warmup or (warmup and time.perf_counter() < until):
        out = fn(*args)
        done += 1
        if len(outputs) < keep:
            outputs.append(out)
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
    return first, outputs, times


def _summary(times) -> dict:
    return {"median_seconds": statistics.median(times), "min_seconds": min(times), "max_seconds": max(times),
            "mean_seconds": statistics.fmean(times), "times": times}


def _max_abs_diff(a, b) -> Optional[float]:
    fa, fb = _workloads.flatten(a), _workloads.flatten(b)
    if len(fa) != len(fb) or any(x.shape != y.shape for x, y in zip(fa, fb)):
        return None
    diffs = [float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) if x.size else 0.0
             for x, y in zip(fa, fb)]
    return max(diffs) if diffs else 0.0


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_column(workload, case, column: Column, repeat: int, warmup: int, reference=None, note=None) -> dict:
    """Run one column of one workload; never raises (errors are recorded in the result).

    Warnings raised meanwhile (e.g. numba's performance hints) are captured, not printed
    between the table's rows: they are listed, deduplicated, under ``"warnings"``. ``note``
    (optional) is called with the phase being run ("compiling", "timing N calls").
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _run_column(workload, case, column, repeat, warmup, reference, note or _no_note)
    seen = []
    for w in caught:
        text = _ANSI.sub("", f"{w.category.__name__}: {w.message}").splitlines()[0].strip()
        if text not in seen:
            seen.append(text)
    if seen:
        res["warnings"] = seen
    return res


def _no_note(phase):
    pass


def _run_column(workload, case, column: Column, repeat: int, warmup: int, reference=None, note=_no_note) -> dict:
    w = workload
    res = {"column": column.name, "kind": column.kind}
    if column.skip:
        res.update(status="skipped", reason=column.skip)
        return res
    if column.kind not in ("staticad", "hand") and not _compare.supports(column.kind, w.name):
        res.update(status="skipped", reason=f"no {column.kind} version of workload {w.name!r}")
        return res
    keep = 2 if w.stateful else 1
    try:
        if column.kind == "staticad":
            t0 = time.perf_counter()
            g = w.graph(case)
            t1 = time.perf_counter()
            note("compiling")
            f = compile_graph(w, g, column.name)
            t2 = time.perf_counter()
            note(f"timing {repeat} calls")
            first, outputs, times = _time_calls(f, g.args, repeat, warmup, keep)
            stats = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in dict(f.stats).items()}
            res.update(graph_seconds=t1 - t0, function_seconds=t2 - t1, first_call_seconds=first,
                       compile_seconds=(t2 - t1) + first, cache_hit=_cache_hit(f),
                       stats=stats)
        elif column.kind == "hand":
            fn, args = _workloads.build_hand(w, case)
            note(f"timing {repeat} calls")
            first, outputs, times = _time_calls(fn, args, repeat, warmup, keep)
            res.update(first_call_seconds=first, compile_seconds=None, cache_hit=None)
        else:
            t0 = time.perf_counter()
            note("compiling" if column.kind == "jax" else "building")
            try:
                fn, args = _compare.build(column.kind, w.name, case)
            except ImportError as exc:  # an optional package (or one of its parts) is missing
                res.update(status="skipped", reason=f"{column.kind}: {type(exc).__name__}: {exc}".splitlines()[0])
                return res
            t1 = time.perf_counter()
            note(f"timing {repeat} calls")
            first, outputs, times = _time_calls(fn, args, repeat, warmup, keep)
            res.update(first_call_seconds=first, cache_hit=None,
                       compile_seconds=(t1 - t0) + first if column.kind == "jax" else None)
    except Exception as exc:
        res.update(status="error", reason=f"{type(exc).__name__}: {exc}".splitlines()[0],
                   traceback=traceback.format_exc())
        return res
    res.update(status="ok", **_summary(times))
    res["_outputs"] = outputs
    if reference is not None and column.kind != "hand":
        res["matches_numpy_hand"] = all(_workloads.outputs_close(w, o, r) for o, r in zip(outputs, reference))
        diffs = [_max_abs_diff(o, r) for o, r in zip(outputs, reference)]
        res["max_abs_diff"] = None if any(d is None for d in diffs) else max(diffs)
    return res


def _cache_hit(f) -> Optional[bool]:
    """``f.stats["cache_hit"]``; ``None`` for a backend without a disk cache (numpy interprets)."""
    hit = f._exec.stats.cache_hit
    return None if hit is None else bool(f.stats.get("cache_hit"))


def _warm_framework() -> None:
    """Declare and differentiate a tiny graph once, untimed, so that lazy one-time imports
    (e.g. networkx on the first sad.grad) are not charged to the first workload's graph time."""
    try:
        x = sad.placeholder((), "float32", name="warm")
        sad.grad(x * x + 1.0, x)
    except Exception:
        pass


def run_bench(workload_names, columns, sizes=None, full=False, repeat=20, warmup=2, progress=None,
              sizes_by_workload=None, memory=False, latency_repeat=0, latency_timeout=120.0) -> dict:
    """Run every workload (at every size) for the hand baseline and ``columns``.

    ``memory``: also measure each column's peak memory per call (in a fresh process each, see
    :mod:`staticad.bench.memory`). ``latency_repeat`` > 0: also each staticad column's cold and
    warm time to first result, median of that many pairs of fresh processes
    (:mod:`staticad.bench.latency`; ``latency_timeout`` seconds per process). ``sizes``: the plain ``--size`` values (for workloads with ``plain_size``); ``sizes_by_workload``:
    ``{name: [sizes]}`` from ``--size NAME=S``; neither: each workload's defaults (``full``: large too).

    Returns the report: ``{"environment", "settings", "results": [{"workload", "size", "label",
    "columns": [...]}]}``; every column of a result is a dict with ``status`` ok/skipped/error.
    """
    runs = []
    for name in workload_names:
        w = _workloads.get(name)
        for s in sizes_for(w, sizes, sizes_by_workload, full):
            runs.append((w, s))
    _warm_framework()
    hand = Column(HAND, "hand")
    all_cols = [hand] + list(columns)
    total = len(runs) * sum(1 for c in all_cols if not c.skip)
    step = 0
    results = []
    for w, size in runs:
        case = w.case(size)
        entry = {"workload": w.name, "description": w.description, "size": case.size, "label": case.label,
                 "columns": []}
        reference = None
        by_name = {}
        for col in all_cols:
            note = None
            if not col.skip and progress:
                step += 1
                what = f"{w.name} {case.label} {col.name}"
                progress(step, total, what)

                def note(phase, _step=step, _what=what):
                    progress(_step, total, f"{_what}: {phase}")
            r = run_column(w, case, col, repeat, warmup, reference, note=note)
            if col.kind == "hand" and r["status"] == "ok":
                reference = r.get("_outputs")
            r.pop("_outputs", None)
            by_name[col.name] = r
        # ratios: to numpy-hand (the table's column) and to every other column that ran
        base = by_name[HAND].get("median_seconds") if by_name[HAND]["status"] == "ok" else None
        numba = by_name.get(RATIO_COLUMN)
        numba_median = numba["median_seconds"] if numba and numba["status"] == "ok" else None
        for col in all_cols:
            r = by_name[col.name]
            if r["status"] != "ok":
                continue
            r["ratio_to_numpy_hand"] = (r["median_seconds"] / base) if base else None
            r["ratio_to_numba"] = (r["median_seconds"] / numba_median) if numba_median else None
            r["ratios"] = {o: r["median_seconds"] / by_name[o]["median_seconds"]
                           for o in by_name if o != col.name and by_name[o]["status"] == "ok"
                           and by_name[o]["median_seconds"] > 0}
        entry["columns"] = [by_name[c.name] for c in all_cols]  # column order, skipped ones included
        if memory:
            from . import memory as _memory
            for col in all_cols:
                r = by_name[col.name]
                if r["status"] == "ok":
                    if progress:
                        progress(step, total, f"{w.name} {case.label} {col.name}: peak memory")
                    r.update(_memory.measure(w.name, case.size, col.name, col.kind))
        if latency_repeat:
            from . import latency as _latency
            for col in all_cols:
                r = by_name[col.name]
                if r["status"] == "ok" and col.kind == "staticad":
                    if progress:
                        progress(step, total, f"{w.name} {case.label} {col.name}: cold/warm start")
                    spec = {"source": "workload", "name": w.name, "size": case.size, "backend": col.name}
                    r.update(_latency.cold_warm(spec, latency_repeat, latency_timeout))
        results.append(entry)
        del case
    if progress:
        progress(total, total, None)
    return {
        "environment": environment(),
        "settings": {"workloads": list(workload_names), "columns": [c.name for c in all_cols],
                     "repeat": repeat, "warmup": warmup,
                     "warmup_seconds": WARMUP_SECONDS if warmup else 0, "sizes": sizes, "memory": memory,
                     "latency_repeat": latency_repeat, "latency_timeout": latency_timeout if latency_repeat else None,
                     "sizes_by_workload": sizes_by_workload or {}, "full": full,
                     "timer": "time.perf_counter, one call per sample, gc paused"},
        "results": results,
    }

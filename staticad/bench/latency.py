"""Time to first result in a fresh process: ``staticad bench --latency`` (cold / warm columns)
and the compile sweep (:mod:`staticad.bench.compile_sweep`).

Each measurement runs ``python -m staticad.bench.latency SPEC`` in a new process with its own
``STATICAD_CACHE_DIR``. The child imports staticad, numpy, numba and the backend (untimed), then

1. ``numba_startup``: the first call of a trivial ``@numba.njit(cache=True)`` function; it pays
   numba's one-time initialisation (target registries), which every process pays once;
2. declares the graph (``graph_seconds``, untimed in ``seconds``);
3. ``seconds``: ``sad.function(...)`` + the first call, i.e. optimizing, generating, compiling
   or loading from the disk cache, and running once.

``cold`` is a child started on an empty cache directory (``cache_hit`` False), ``warm`` a second
child on the directory the cold one filled (``cache_hit`` True). numba's own cache of staticad's
fixed helpers (``numba_runtime``, ``numba_math``) lives outside that directory and may be warm:
it is the same for every graph. The child prints one JSON line per stage, so a timed-out
measurement still reports what it got to (e.g. ``nodes_declared``).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba


@numba.njit(cache=True)
def _probe(x):
    return x + 1


def _package_root() -> str:
    """The directory holding the ``staticad`` package this process imported: the child must
    import the same one (a worktree or a checkout not installed in site-packages)."""
    import staticad
    return str(Path(staticad.__file__).resolve().parent.parent)


# --------------------------------------------------------------------------------------------
# the child


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _graph(spec):
    """``(inputs, outputs, updates, args, name)`` for the spec's graph."""
    if spec["source"] == "workload":
        from . import workloads
        w = workloads.get(spec["name"])
        g = w.graph(w.case(spec["size"]))
        return g.inputs, g.outputs, g.updates, g.args, w.name
    from . import sweep_graphs
    return sweep_graphs.graph(spec["name"], spec["size"])


def _count_nodes(outputs, updates) -> int:
    """Nodes ``sad.function`` will see (the same walk as ``Program.build``)."""
    from staticad.graph import walk
    roots = list(_flat([outputs])) + [value for _, value in (updates or [])]
    return len(walk(roots))


def _flat(items):
    for x in items:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def measure_here(spec: dict) -> dict:
    """Run one measurement in this process (a fresh one: see the module docstring)."""
    if spec.get("kind", "staticad") == "jax":
        return _measure_jax(spec)
    import staticad as sad
    sad.backends.get(spec["backend"])  # the backend's imports are not compile time
    t0 = time.perf_counter()
    _probe(1)
    numba_startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    inputs, outputs, updates, args, name = _graph(spec)
    graph_seconds = time.perf_counter() - t0
    _emit({"stage": "declared", "numba_startup": numba_startup, "graph_seconds": graph_seconds,
           "nodes_declared": _count_nodes(outputs, updates)})
    t0 = time.perf_counter()
    f = sad.function(inputs, outputs, updates=updates, backend=spec["backend"], name=name)
    t1 = time.perf_counter()
    f(*args)
    t2 = time.perf_counter()
    has_cache = f._exec.stats.cache_hit is not None  # the numpy backend interprets: no disk cache
    stats = {k: v for k, v in f.stats.items() if k in ("nodes_declared", "nodes_after_passes", "kernels",
                                                         "fused_ops")}
    return {"stage": "done", "status": "ok", "seconds": t2 - t0, "function_seconds": t1 - t0,
            "first_call_seconds": t2 - t1, "numba_startup": numba_startup, "graph_seconds": graph_seconds,
            "cache_hit": bool(f.stats.get("cache_hit")) if has_cache else None, **stats}


def _measure_jax(spec: dict) -> dict:
    import jax
    jax.config.update("jax_enable_x64", True)  # float64 graphs stay float64, as in staticad
    from . import sweep_graphs
    t0 = time.perf_counter()
    jax.block_until_ready(jax.numpy.zeros(1) + 1)  # jax's own start-up (its backend), like numba_startup
    startup = time.perf_counter() - t0
    fn, args = sweep_graphs.jax_function(spec["name"], spec["size"])
    t0 = time.perf_counter()
    jitted = jax.jit(fn)
    jax.block_until_ready(jitted(*args))
    return {"stage": "done", "status": "ok", "seconds": time.perf_counter() - t0, "jax_startup": startup,
            "cache_hit": None}


def main(argv=None) -> int:
    spec = json.loads((argv or sys.argv[1:])[0])
    _emit(measure_here(spec))
    return 0


# --------------------------------------------------------------------------------------------
# the parent


def measure(spec: dict, cache_dir, timeout: float = 600) -> dict:
    """:func:`measure_here` in a fresh process with ``STATICAD_CACHE_DIR=cache_dir``.

    Returns the child's last record, with ``status`` ``"ok"``, ``"timeout"`` (killed after
    ``timeout`` seconds; earlier stages' fields kept) or ``"error"`` (``reason``)."""
    env = dict(os.environ, STATICAD_CACHE_DIR=str(cache_dir))
    root = _package_root()
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    cmd = [sys.executable, "-m", "staticad.bench.latency", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rec = _last_record(out)
        rec.update(status="timeout", reason=f"no result within {timeout:g} s", timeout_seconds=timeout)
        rec.pop("stage", None)
        return rec
    rec = _last_record(done.stdout)
    if done.returncode != 0 or rec.get("status") != "ok":
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        rec.update(status="error", reason=lines[-1] if lines else f"exit status {done.returncode}")
    rec.pop("stage", None)
    return rec


def _last_record(text: str) -> dict:
    rec = {}
    for line in (text or "").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # something else printed on stdout
        if isinstance(item, dict):
            rec.update(item)  # later stages refine earlier ones
    return rec


def cold_warm(spec: dict, repeat: int = 3, timeout: float = 600) -> dict:
    """Median ``cold`` and ``warm`` seconds over ``repeat`` pairs of fresh processes: each pair
    shares a new empty cache directory, filled by the cold child and read by the warm one.

    Returns ``{"cold_seconds", "warm_seconds", "numba_startup" (the warm process's),
    "cold_numba_startup", "cold_cache_hit", "warm_cache_hit", "latency": {"cold": [...],
    "warm": [...]}}`` (the per-process records);
    ``latency_status`` ``"ok"``, ``"timeout"`` or ``"error"``; when not ok, ``latency_error``
    says which child failed and why, and the medians are ``None``."""
    runs = {"cold": [], "warm": []}
    status, error = "ok", None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="staticad-latency-") as tmp:
            for phase in ("cold", "warm"):
                rec = measure(spec, tmp, timeout)
                runs[phase].append(rec)
                if rec["status"] != "ok":
                    status, error = rec["status"], f"{phase}: {rec['status']}: {rec.get('reason')}"
                    break
        if error:
            break
    out = {"latency": runs, "latency_status": status, "cold_seconds": None, "warm_seconds": None,
           "numba_startup": None, "cold_numba_startup": None,
           "cold_cache_hit": None, "warm_cache_hit": None}
    if error:
        out["latency_error"] = error
        return out
    med = lambda phase, key: statistics.median(r[key] for r in runs[phase])  # noqa: E731
    out.update(cold_seconds=med("cold", "seconds"), warm_seconds=med("warm", "seconds"),
               numba_startup=med("warm", "numba_startup"), cold_numba_startup=med("cold", "numba_startup"),
               cold_cache_hit=_agree(r["cache_hit"] for r in runs["cold"]),
               warm_cache_hit=_agree(r["cache_hit"] for r in runs["warm"]))
    return out


def _agree(values):
    """The common value, or ``"mixed"`` when the processes disagree (worth seeing)."""
    values = set(values)
    return values.pop() if len(values) == 1 else "mixed"


if __name__ == "__main__":
    # run the imported module's main, not this __main__ copy: one _probe, one numba cache entry
    from staticad.bench.latency import main as _main
    sys.exit(_main())

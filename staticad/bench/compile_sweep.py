"""Compile latency against graph size: ``staticad bench --compile`` (or the workloads
``compile-chain``, ``compile-mlp``, ``compile-concat``).

Each size is compiled cold (a fresh process, an empty ``STATICAD_CACHE_DIR``: see
:mod:`staticad.bench.latency`) and reported with its node counts (declared, after the passes),
its loop kernels and the seconds per declared node, next to ``jax.jit``'s first call of the
same function (also in a fresh process) when jax is installed. Every measurement has a
timeout and is reported as ``timeout`` past it: large sizes can take minutes today.
"""
from __future__ import annotations

import statistics
import tempfile
from . import latency as _latency

from .sweep_graphs import (  # noqa: F401  (the sweep's graphs, also built by fresh processes)
    BATCH, CONCAT_PART, SWEEPS, WIDTH, Sweep, graph, jax_function,
)


# --------------------------------------------------------------------------------------------
# running


def sizes_for(sweep: Sweep, by_name=None, full=False) -> list:
    if by_name and sweep.name in by_name:
        return list(dict.fromkeys(by_name[sweep.name]))
    return list(sweep.full_sizes if full else sweep.sizes)


def measure_one(name: str, size: int, backend="numba", timeout=120.0, repeat=1) -> dict:
    """Cold compile of one size (median of ``repeat`` fresh processes, each on an empty cache
    directory) and ``jax.jit``'s first call (``"skipped"`` with the reason when jax is missing)."""
    from . import compare
    jax_ok, jax_info = compare.availability("jax")
    spec = {"source": "compile", "name": name, "size": size, "backend": backend}
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="staticad-compile-") as tmp:
            runs.append(_latency.measure(spec, tmp, timeout))
        if runs[-1]["status"] != "ok":
            break
    last = runs[-1]
    res = {"workload": name, "size": size, "backend": backend, "status": last["status"], "runs": runs}
    for key in ("nodes_declared", "nodes_after_passes", "kernels", "fused_ops", "cache_hit"):
        res[key] = last.get(key)
    if last["status"] == "ok":
        res["cold_seconds"] = statistics.median(r["seconds"] for r in runs)
        res["numba_startup"] = statistics.median(r["numba_startup"] for r in runs)  # not in cold_seconds
        res["seconds_per_node"] = res["cold_seconds"] / res["nodes_declared"] if res["nodes_declared"] else None
    else:
        res.update(cold_seconds=None, numba_startup=None, seconds_per_node=None, reason=last.get("reason"))
    if not jax_ok:
        res["jax"] = {"status": "skipped", "reason": jax_info}
    else:
        jrec = _latency.measure(dict(spec, kind="jax"), tempfile.gettempdir(), timeout)
        res["jax"] = {"status": jrec["status"], "seconds": jrec.get("seconds"), "startup": jrec.get("jax_startup"),
                      "reason": jrec.get("reason")}
    return res


def run_sweep(names, sizes_by_name=None, full=False, timeout=120.0, repeat=1, backend="numba",
              progress=None) -> dict:
    """Every size of every sweep in ``names``: ``{"environment", "settings", "results": [...]}``."""
    from .runner import environment
    runs = [(n, s) for n in names for s in sizes_for(SWEEPS[n], sizes_by_name, full)]
    results = []
    for i, (name, size) in enumerate(runs, 1):
        if progress:
            progress(i, len(runs), f"{name} {SWEEPS[name].size_name}={size}: cold compile")
        results.append(measure_one(name, size, backend, timeout, repeat))
    if progress:
        progress(len(runs), len(runs), None)
    return {"environment": environment(),
            "settings": {"compile": list(names), "timeout": timeout, "repeat": repeat, "full": full,
                         "backend": backend, "sizes_by_workload": sizes_by_name or {}},
            "results": results}


def _cell(value, fmt="{}"):
    return "-" if value is None else fmt.format(value)


def format_table(report) -> str:
    from .report import format_seconds
    st = report["settings"]
    lines = [f"compile latency ({st['backend']} backend): cold = sad.function(...) + first call in a fresh process "
             f"on an empty cache (median of {st['repeat']}), numba's start-up excluded; timeout {st['timeout']:g} s "
             "per measurement",
             "nodes = declared -> after the passes; s/node = cold / declared nodes; "
             "jax = jax.jit + first call in a fresh process (after jax's start-up)", ""]
    headers = ("workload", "size", "nodes", "kernels", "cold", "cache", "s/node", "jax")
    rows = []
    for r in report["results"]:
        nodes = f"{_cell(r['nodes_declared'])} -> {_cell(r['nodes_after_passes'])}"
        cold = format_seconds(r["cold_seconds"]) if r["status"] == "ok" else r["status"]
        cache = "-" if r["cache_hit"] is None else ("hit" if r["cache_hit"] else "miss")
        per = "-" if r.get("seconds_per_node") is None else format_seconds(r["seconds_per_node"])
        j = r["jax"]
        jax = format_seconds(j["seconds"]) if j["status"] == "ok" else j["status"]
        rows.append((r["workload"], f"{SWEEPS[r['workload']].size_name}={r['size']}", nodes,
                     _cell(r["kernels"]), cold, cache, per, jax))
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines += [fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]
    notes = {}
    for r in report["results"]:
        for what, status, reason in ((r["workload"], r["status"], r.get("reason")),
                                     ("jax", r["jax"]["status"], r["jax"].get("reason"))):
            if status != "ok" and reason:
                notes.setdefault(f"{what} {status}: {reason}", None)
    if notes:
        lines.append("")
        lines += list(notes)
    return "\n".join(lines) + "\n"


def failures(report) -> list:
    """Measurements that errored (a timeout is a result, not a failure)."""
    return [f"{r['workload']} {r['size']}: {r.get('reason')}" for r in report["results"] if r["status"] == "error"]

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
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from . import latency as _latency

BATCH = 32          # rows fed to the MLP; the chain's input length
WIDTH = 64          # MLP layer width
CONCAT_PART = 4     # elements per concatenated placeholder


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    sizes: tuple        # default sizes
    full_sizes: tuple   # with --full
    size_name: str


SWEEPS = {s.name: s for s in [
    Sweep("compile-chain", "n elementwise steps alternating sin(h) and tanh(h)*1.01 over x (None,) float32; "
          "outputs sum and its grad", (100,), (100, 1000, 5000), "n"),
    Sweep("compile-mlp", f"L-layer MLP, {WIDTH} wide, tanh, batch (None, {WIDTH}) float32, MSE, "
          "Adam(lr=1e-3) updates", (2,), (2, 8, 32), "L"),
    Sweep("compile-concat", f"concatenate of n placeholders ({CONCAT_PART},) float64, loss sum(sin(c)**2); "
          "outputs loss and the grads wrt all", (10,), (10, 100, 1000), "n"),
]}


def _rng(seed):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# staticad graphs: (inputs, outputs, updates, args, name)


def graph(name: str, size: int):
    import staticad as sad
    if name == "compile-chain":
        x = sad.placeholder((None,), "float32", name="x")
        h = x
        for i in range(size):
            h = sad.sin(h) if i % 2 == 0 else sad.tanh(h) * 1.01
        loss = sad.sum(h)
        return [x], [loss, sad.grad(loss, x)], None, [_chain_input()], f"chain{size}"
    if name == "compile-mlp":
        x = sad.placeholder((None, WIDTH), "float32", name="x")
        target = sad.placeholder((None, WIDTH), "float32", name="target")
        params, h = [], x
        for i, (w0, b0) in enumerate(_mlp_params(size)):
            w, b = sad.Variable(w0, name=f"W{i}"), sad.Variable(b0, name=f"b{i}")
            params += [w, b]
            h = h @ w + b
            if i < size - 1:  # the output layer is linear
                h = sad.tanh(h)
        loss = sad.mean((h - target) ** 2)
        updates = sad.optim.Adam(lr=1e-3).updates(loss, params)
        return [x, target], loss, updates, list(_mlp_inputs()), f"mlp{size}"
    if name == "compile-concat":
        xs = [sad.placeholder((CONCAT_PART,), "float64", name=f"x{i}") for i in range(size)]
        loss = sad.sum(sad.sin(sad.concatenate(xs)) ** 2)
        return xs, [loss] + list(sad.grad(loss, xs)), None, _concat_inputs(size), f"concat{size}"
    raise ValueError(f"unknown compile workload {name!r}; choose from: {', '.join(SWEEPS)}")


def _chain_input():
    return _rng(1).standard_normal(BATCH).astype(np.float32)


def _mlp_params(layers):
    rng, k = _rng(2), 1.0 / np.sqrt(WIDTH)
    return [(rng.uniform(-k, k, (WIDTH, WIDTH)).astype(np.float32), rng.uniform(-k, k, WIDTH).astype(np.float32))
            for _ in range(layers)]


def _mlp_inputs():
    rng = _rng(3)
    return rng.standard_normal((BATCH, WIDTH)).astype(np.float32), rng.standard_normal((BATCH, WIDTH)).astype(np.float32)


def _concat_inputs(n):
    rng = _rng(4)
    return [rng.uniform(-1, 1, CONCAT_PART) for _ in range(n)]


# --------------------------------------------------------------------------------------------
# the same functions for jax.jit: (fn, args), fn returning what staticad's outputs and updates are


def jax_function(name: str, size: int):
    import jax
    import jax.numpy as jnp
    if name == "compile-chain":
        def loss(x):
            h = x
            for i in range(size):
                h = jnp.sin(h) if i % 2 == 0 else jnp.tanh(h) * 1.01
            return jnp.sum(h)
        return jax.value_and_grad(loss), [jnp.asarray(_chain_input())]
    if name == "compile-mlp":
        def loss(params, x, target):
            h = x
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                if i < size - 1:
                    h = jnp.tanh(h)
            return jnp.mean((h - target) ** 2)

        def adam_step(params, m, v, t, x, target, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
            value, g = jax.value_and_grad(loss)(params, x, target)
            t = t + 1.0
            m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
            v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
            params = jax.tree_util.tree_map(
                lambda p, m_, v_: p - lr * (m_ / (1 - b1 ** t)) / (jnp.sqrt(v_ / (1 - b2 ** t)) + eps), params, m, v)
            return value, params, m, v, t

        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in _mlp_params(size)]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        x, target = _mlp_inputs()
        return adam_step, [params, zeros, zeros, jnp.float32(0), jnp.asarray(x), jnp.asarray(target)]
    if name == "compile-concat":
        def loss(*xs):
            return jnp.sum(jnp.sin(jnp.concatenate(xs)) ** 2)
        return jax.value_and_grad(loss, argnums=tuple(range(size))), [jnp.asarray(a) for a in _concat_inputs(size)]
    raise ValueError(f"unknown compile workload {name!r}; choose from: {', '.join(SWEEPS)}")


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


def run_cli(args) -> int:
    """``staticad bench --compile`` / ``staticad bench compile-...``: the table, ``--json``."""
    from ..cli.bench import finish, progress_printer
    from .runner import parse_size, resolve_backends
    names = [w for w in ",".join(args.workloads or []).split(",") if w.strip()] or list(SWEEPS)
    names = [n.strip().lower() for n in names]
    unknown = [n for n in names if n not in SWEEPS]
    if unknown:
        raise ValueError(f"unknown compile workload {unknown[0]!r} (choose from: {', '.join(SWEEPS)}); "
                         "run the other workloads without --compile")
    by_name = {}
    for item in args.size or []:
        name, sep, value = str(item).partition("=")
        if not sep or name.strip().lower() not in SWEEPS:
            raise ValueError(f"--size {item!r}: with compile workloads, use NAME=S, e.g. compile-chain=1000")
        by_name.setdefault(name.strip().lower(), []).extend(parse_size(value))
    columns = resolve_backends(args.backend or ["numba"])
    if len(columns) != 1:
        raise ValueError("compile workloads take one --backend (default numba)")
    if columns[0].skip:
        raise ValueError(columns[0].skip)
    progress = None if args.quiet else progress_printer()
    rep = run_sweep(list(dict.fromkeys(names)), by_name, args.full, args.compile_timeout, args.compile_repeat,
                    columns[0].name, progress)
    sys.stdout.write(format_table(rep))
    return finish(rep, failures(rep), args.json)

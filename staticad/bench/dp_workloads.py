"""``staticad bench dp-linreg dp-mlp``: data-parallel training steps on a Dask LocalCluster.

Columns, in one run: one process (``sad.function`` training step on the whole batch), then
``DataParallel.step`` on 1 and on 2 worker processes (1 thread each), each with the Variables
sent inside every task (``args``) and scattered once per step (``scatter``); ratios are to the
one-process median. The batch's shards are placed on the workers before timing (as ``fit`` does),
so a step moves the Variables and the gradients, not the data. Two overheads are reported per
cluster: a scheduler round trip (``submit`` of a no-op and its result) and a whole
``DataParallel`` step on a 2-row batch (round trips of the shard tasks, the reduction and the
update, with no compute to speak of).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

import staticad as sad

from .workloads import _rng, format_size

DP_WORKLOADS = {
    "dp-linreg": "linreg (x (N, 1) float32, mean squared error) trained data-parallel with SGD; N = 1e6",
    "dp-mlp": "TinyModel 1000-100-10 (float32, mean over the batch of the squared error) with SGD; batch 4096",
}
DEFAULT_SIZE = {"dp-linreg": 10 ** 6, "dp-mlp": 4096}


def make(name: str, size: int):
    """``(loss, params, feeds)`` of a workload at ``size`` rows (fresh Variables each call)."""
    rng = _rng(name, size)
    if name == "dp-linreg":
        x = sad.placeholder((None, 1), "float32", name="x")
        y = sad.placeholder((None, 1), "float32", name="y")
        xv = rng.standard_normal((size, 1)).astype(np.float32)
        yv = (2.0 * xv + 1.0 + 0.1 * rng.standard_normal((size, 1))).astype(np.float32)
        params = [sad.Variable(np.zeros((1, 1), np.float32), name="w"), sad.Variable(np.zeros(1, np.float32), name="b")]
        loss = ((x @ params[0] + params[1] - y) ** 2).mean()
        return loss, params, {x: xv, y: yv}
    if name == "dp-mlp":
        dims = (1000, 100, 10)
        x = sad.placeholder((None, dims[0]), "float32", name="x")
        t = sad.placeholder((None, dims[2]), "float32", name="target")
        k1, k2 = 1.0 / np.sqrt(dims[0]), 1.0 / np.sqrt(dims[1])
        params = [sad.Variable(rng.uniform(-k1, k1, dims[:2]).astype(np.float32), name="W1"),
                  sad.Variable(np.zeros(dims[1], np.float32), name="b1"),
                  sad.Variable(rng.uniform(-k2, k2, dims[1:]).astype(np.float32), name="W2"),
                  sad.Variable(np.zeros(dims[2], np.float32), name="b2")]
        W1, b1, W2, b2 = params
        loss = ((sad.relu(x @ W1 + b1) @ W2 + b2 - t) ** 2).sum(axis=1).mean()
        feeds = {x: rng.standard_normal((size, dims[0])).astype(np.float32),
                 t: rng.standard_normal((size, dims[2])).astype(np.float32)}
        return loss, params, feeds
    raise ValueError(f"unknown workload {name!r}; choose from: {', '.join(DP_WORKLOADS)}")


LR = 1e-3


def _median_time(fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one_process(name, size, repeat):
    loss, params, feeds = make(name, size)
    phs = list(feeds)
    step = sad.function(phs, loss, updates=sad.optim.SGD(LR).updates(loss, params), backend="numba")
    args = [feeds[p] for p in phs]
    return _median_time(lambda: step(*args), repeat)


def on_cluster(names_sizes, n_workers, repeat, note=print):
    """Medians per (workload, variables mode) and the cluster's overheads, on a fresh LocalCluster."""
    env_path = os.environ.get("PYTHONPATH")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ["PYTHONPATH"] = root + (os.pathsep + env_path if env_path else "")  # workers: this staticad
    results = {}
    try:
        results.update(_measure(names_sizes, n_workers, repeat, note))
    finally:
        if env_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_path
    return results


def _measure(names_sizes, n_workers, repeat, note):
    from distributed import Client, LocalCluster

    from ..distributed import DataParallel

    results = {}
    # no dashboard; the scheduler's HTTP endpoints on a free port (8787 may be another cluster's)
    with LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": ":0"}) as cluster, \
            Client(cluster) as client:
        results["round_trip"] = _median_time(lambda: client.submit(int, 1, pure=False).result(), max(repeat, 20))
        for name, size in names_sizes:
            for mode in ("args", "scatter"):
                note(f"{name}: {n_workers} worker(s), variables={mode}")
                loss, params, feeds = make(name, size)
                dp = DataParallel(loss, params, sad.optim.SGD(LR), client=client, variables=mode)
                arrays = [np.asarray(feeds[p]) for p in dp.placeholders]
                shards = dp._batch_shards(arrays, size, size)[0]
                results[(name, mode)] = _median_time(lambda: dp.step(None, shards=shards), repeat)
                tiny = dp._batch_shards([a[:2] for a in arrays], 2, 2)[0]
                results[(name, mode, "overhead")] = _median_time(lambda: dp.step(None, shards=tiny), repeat)
    return results


def run(names, sizes=None, repeat=10, out=sys.stdout, note=None):
    """The table; ``sizes``: workload -> rows per step (defaults in ``DEFAULT_SIZE``)."""
    note = note or (lambda msg: print(f"staticad bench: {msg}", file=sys.stderr, flush=True))
    sizes = {n: (sizes or {}).get(n, DEFAULT_SIZE[n]) for n in names}
    base = {}
    for n in names:
        note(f"{n}: one process")
        base[n] = one_process(n, sizes[n], repeat)
    clusters = {k: on_cluster([(n, sizes[n]) for n in names], k, repeat, note) for k in (1, 2)}
    w = out.write
    w(f"data-parallel training step (SGD), median of {repeat}; workers are processes with 1 thread each; "
      f"{os.cpu_count()} CPUs\n")
    w(f"{'workload':<10} {'rows':>6}  {'column':<22} {'median ms':>10} {'vs one process':>15} {'step overhead ms':>17}\n")
    for n in names:
        w(f"{n:<10} {format_size(sizes[n]):>6}  {'one process':<22} {base[n] * 1e3:>10.3f} {1.0:>15.2f} {'':>17}\n")
        for k in (1, 2):
            for mode in ("args", "scatter"):
                t, o = clusters[k][(n, mode)], clusters[k][(n, mode, "overhead")]
                col = f"{k} worker{'s' if k > 1 else ''} ({mode})"
                w(f"{'':<10} {'':>6}  {col:<22} {t * 1e3:>10.3f} {t / base[n]:>15.2f} {o * 1e3:>17.3f}\n")
    for k in (1, 2):
        w(f"scheduler round trip ({k} worker{'s' if k > 1 else ''}): {clusters[k]['round_trip'] * 1e3:.3f} ms\n")
    return {"one_process": base, "clusters": {k: {str(key): v for key, v in r.items()} for k, r in clusters.items()}}


def run_cli(args) -> int:
    """``staticad bench dp-...``: workloads given on the command line, ``--size`` rows, ``--repeat``."""
    names = []
    for part in ",".join(args.workloads).split(","):
        if part not in DP_WORKLOADS:
            print(f"staticad bench: error: {part!r} cannot run with the data-parallel workloads "
                  f"({', '.join(DP_WORKLOADS)}); run it separately", file=sys.stderr)
            return 2
        names.append(part)
    sizes = {}
    for item in args.size or []:
        key, _, val = item.rpartition("=")
        try:
            rows = int(float(val))
        except ValueError:
            rows = 0
        if rows < 2 or (key and key not in names):
            print(f"staticad bench: error: --size {item!r}: give ROWS or WORKLOAD=ROWS (ROWS >= 2) for "
                  f"{', '.join(names)}", file=sys.stderr)
            return 2
        for n in ([key] if key else names):
            sizes[n] = rows
    run(names, sizes, repeat=args.repeat, note=None if not args.quiet else (lambda msg: None))
    return 0

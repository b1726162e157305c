"""What runs on the Dask workers: per-shard loss and gradients, and the pairwise sums of the tree
reduction. Importable by name (Dask sends a reference to these functions, not their code).

A worker compiles each graph document once: compiled functions are kept in this process, keyed
by the document's SHA-256, and reused by every later step (and the disk cache makes a restarted
worker's compile a cache hit).
"""
from __future__ import annotations

import threading

import numpy as np

_COMPILED: dict = {}   # (document hash, backend) -> _Entry
_LOCK = threading.Lock()


class GraphLoadError(RuntimeError):
    """A graph document could not be loaded or compiled on a worker (the message names it)."""


class _Entry:
    def __init__(self, fn, variables):
        self.fn, self.variables = fn, variables
        self.lock = threading.Lock()  # Variables are set, then the function run: one step at a time


def _worker_name() -> str:
    try:
        from distributed import get_worker
        w = get_worker()
        return f"{w.name} ({w.address})"
    except Exception:  # run outside a worker (tests of this module)
        return "this process"


def compiled(doc_hash: str, text: str, backend: str) -> _Entry:
    """The compiled function of a document, loading and compiling it on first use."""
    key = (doc_hash, backend)
    entry = _COMPILED.get(key)
    if entry is not None:
        return entry
    with _LOCK:
        entry = _COMPILED.get(key)
        if entry is None:
            from .. import serialize
            try:
                if serialize.document_hash(text) != doc_hash:
                    raise ValueError("the document's SHA-256 differs from the one it was sent with")
                graph = serialize.loads(text)
                fn = graph.function(backend=backend)
            except Exception as exc:
                raise GraphLoadError(f"worker {_worker_name()}: graph document {doc_hash[:12]} failed to "
                                     f"load: {type(exc).__name__}: {exc}") from None
            entry = _COMPILED[key] = _Entry(fn, graph.variables)
    return entry


def shard_gradients(doc_hash, text, backend, scale_by_rows, values, *arrays):
    """``(rows, loss, grads)`` of one shard, in float64. ``values``: the Variables' current values
    in document order. ``scale_by_rows``: a mean loss is multiplied by the shard's row count so
    that sums of shards weight each shard by its size (ragged last shards included)."""
    entry = compiled(doc_hash, text, backend)
    rows = int(arrays[0].shape[0]) if arrays and np.ndim(arrays[0]) else 1
    with entry.lock:
        for var, value in zip(entry.variables, values):
            var._storage = np.array(value, dtype=var.dtype)  # checked on the client; a private copy
        out = entry.fn(*arrays)
    scale = float(rows) if scale_by_rows else 1.0
    loss, grads = out[0], out[1:]
    return rows, np.float64(loss) * scale, [np.asarray(g, np.float64) * scale for g in grads]


def add(a, b):
    """The sum of two partial results ``(rows, loss, grads)`` (one node of the reduction tree)."""
    return a[0] + b[0], a[1] + b[1], [x + y for x, y in zip(a[2], b[2])]


def cache_size() -> int:
    """How many documents this worker has compiled (the tests check reuse with it)."""
    return len(_COMPILED)

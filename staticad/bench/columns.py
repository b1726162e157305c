"""One benchmark column, built: what :mod:`.runner` times and a fresh :mod:`.memory` process measures."""
from __future__ import annotations

import staticad as sad

from . import compare as _compare
from . import workloads as _workloads


def compile_graph(w, g, backend: str):
    """The ``sad.function`` of workload ``w``'s graph ``g`` for ``backend``."""
    return sad.function(g.inputs, g.outputs, updates=g.updates, backend=backend, name=w.name)


def build_callable(workload_name: str, size, column: str, kind: str):
    """``(fn, args, retained)`` for one column of one workload: what the benchmark times, and a
    function giving the memory it keeps between calls (see :mod:`staticad.bench.memory`)."""
    w = _workloads.get(workload_name)
    case = w.case(size)
    if kind == "staticad":
        g = w.graph(case)
        f = compile_graph(w, g, column)
        return f, g.args, (lambda: retained_bytes(f))
    if kind == "hand":
        fn, args = _workloads.build_hand(w, case)
    else:
        fn, args = _compare.build(kind, w.name, case)
    return fn, args, (lambda: 0)


def retained_bytes(f) -> int:
    """Memory a ``sad.function`` keeps between calls (its backend's workspace), in bytes."""
    pool = getattr(getattr(f, "_exec", None), "_workspaces", None) or []
    return int(sum(getattr(ws, "nbytes", 0) for ws in pool))

"""The profile's records, the per-kernel table (:class:`ProfileReport`) and the Chrome trace."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..clock import now_ns  # noqa: F401  (re-exported: the profiler's timestamps)


@dataclass
class KernelTiming:
    """One row of a profile: a loop kernel, a library step, the epilogue or a graph node."""

    name: str
    ops: str
    calls: int
    total: float                 # seconds, over all calls
    kind: str = "kernel"         # kernel | library | epilogue | node | entry
    function: str = ""           # the function's name (``sad.profile()`` sessions)

    @property
    def mean(self) -> float:
        return self.total / self.calls if self.calls else 0.0


@dataclass
class Step:
    name: str
    kind: str
    ops: str
    start_ns: int
    dur_ns: int


@dataclass
class CallRecord:
    """One profiled call: when it ran (wall, as seen from Python) and its steps."""

    function: str
    start_ns: int
    end_ns: int
    tid: int
    steps: list = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) * 1e-9


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def ops_summary(ops: str) -> str:
    """A kernel's ops for the table: repeated ops counted, in order of first appearance
    (``"divide, multiply, divide"`` -> ``"divide x2, multiply"``), so long fused chains fit."""
    counts: dict = {}
    for op in ops.split(", "):
        counts[op] = counts.get(op, 0) + 1
    return ", ".join(op if n == 1 else f"{op} x{n}" for op, n in counts.items())


class ProfileReport:
    """Rows sorted by total time; ``str(report)`` is a table.

    ``rows``: :class:`KernelTiming`; ``wall_seconds``: time of the profiled calls measured around
    each call (binding, dispatch and output conversion included), so ``kernel_seconds <=
    wall_seconds``; ``calls``: number of calls; ``records``: the calls with every step's start
    and duration (what :meth:`export_chrome_trace` writes); ``timer``: how steps were timed.
    """

    def __init__(self, rows=None, wall_seconds=0.0, calls=0, records=None, timer=""):
        self.records = list(records or [])
        if rows is None:
            rows = _aggregate(self.records)
        self.rows = sorted(rows, key=lambda r: r.total, reverse=True)
        self.wall_seconds = wall_seconds
        self.calls = calls
        self.timer = timer

    @property
    def kernel_seconds(self) -> float:
        """Sum of the rows' totals (time inside timed steps)."""
        return sum(r.total for r in self.rows)

    def table(self) -> str:
        total = self.kernel_seconds or 1e-30
        show_fn = len({r.function for r in self.rows}) > 1
        name_w = max([6] + [len(r.name) for r in self.rows])
        name_w = min(name_w, 28)
        ops = [ops_summary(r.ops) for r in self.rows]
        ops_w = min(max([9] + [len(o) for o in ops]), 44)
        fn_w = min(max([8] + [len(r.function) for r in self.rows]), 20) if show_fn else 0
        head = (f"{'function':<{fn_w}} " if show_fn else "") + (
            f"{'kernel':<{name_w}} {'ops fused':<{ops_w}} {'calls':>6} {'total ms':>10} {'mean us':>10} {'share':>7}")
        lines = [head, "-" * len(head)]
        for r, op_text in zip(self.rows, ops):
            fn = f"{_shorten(r.function, fn_w):<{fn_w}} " if show_fn else ""
            lines.append(f"{fn}{_shorten(r.name, name_w):<{name_w}} {_shorten(op_text, ops_w):<{ops_w}} {r.calls:>6} "
                         f"{r.total * 1e3:>10.3f} {r.mean * 1e6:>10.2f} {100 * r.total / total:>6.1f}%")
        wall = self.wall_seconds
        inside = self.kernel_seconds
        foot = f"{self.calls} call(s), wall {wall * 1e3:.3f} ms, in kernels {inside * 1e3:.3f} ms"
        if wall > 0:
            foot += f" ({100 * inside / wall:.0f}% of wall; the rest is binding, dispatch, allocation)"
        lines.append(foot)
        if self.timer:
            lines.append(f"timer: {self.timer}")
        return "\n".join(lines)

    __str__ = table

    def __repr__(self):
        return self.table()

    def to_dict(self) -> dict:
        return {"calls": self.calls, "wall_seconds": self.wall_seconds, "kernel_seconds": self.kernel_seconds,
                "timer": self.timer,
                "rows": [{"function": r.function, "name": r.name, "kind": r.kind, "ops": r.ops, "calls": r.calls,
                          "total_seconds": r.total, "mean_seconds": r.mean} for r in self.rows]}

    def chrome_trace(self, include_calls: bool = False) -> dict:
        """The Chrome trace (``chrome://tracing``, Perfetto) as a dict; see :meth:`export_chrome_trace`."""
        return chrome_trace(self.records, include_calls)

    def export_chrome_trace(self, path, include_calls: bool = False) -> str:
        """Write the Chrome trace JSON to ``path``: one complete event (``"ph": "X"``) per kernel
        call, ``ts``/``dur`` in microseconds, ``name`` the kernel, ``args`` its ops. With
        ``include_calls`` every function call is an event too (category ``"call"``)."""
        return write_trace(self.chrome_trace(include_calls), path)


def _aggregate(records) -> list:
    rows: dict = {}
    for rec in records:
        for s in rec.steps:
            key = (rec.function, s.name, s.kind, s.ops)
            row = rows.get(key)
            if row is None:
                row = rows[key] = KernelTiming(s.name, s.ops, 0, 0.0, s.kind, rec.function)
            row.calls += 1
            row.total += s.dur_ns * 1e-9
    return list(rows.values())


def chrome_trace(records, include_calls=False) -> dict:
    pid = os.getpid()
    origin = min((r.start_ns for r in records), default=0)
    events = []
    for i, rec in enumerate(records):
        if include_calls:
            events.append({"name": rec.function, "cat": "call", "ph": "X", "pid": pid, "tid": rec.tid,
                           "ts": (rec.start_ns - origin) / 1e3, "dur": (rec.end_ns - rec.start_ns) / 1e3,
                           "args": {"call": i}})
        for s in rec.steps:
            events.append({"name": s.name, "cat": s.kind, "ph": "X", "pid": pid, "tid": rec.tid,
                           "ts": (s.start_ns - origin) / 1e3, "dur": s.dur_ns / 1e3,
                           "args": {"ops": s.ops, "function": rec.function, "call": i}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"producer": "staticad profiler", "clock": "CLOCK_MONOTONIC, origin = first call"}}


def write_trace(trace: dict, path) -> str:
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(trace, fh)
        fh.write("\n")
    return path

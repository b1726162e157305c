"""Per-kernel profiling of a compiled function (``f.profile``)."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class KernelTiming:
    name: str
    ops: str
    calls: int
    total: float

    @property
    def mean(self) -> float:
        return self.total / self.calls if self.calls else 0.0


class ProfileReport:
    """Rows sorted by total time; ``str(report)`` is a table."""

    def __init__(self, rows, wall_seconds, calls):
        self.rows = sorted(rows, key=lambda r: r.total, reverse=True)
        self.wall_seconds = wall_seconds
        self.calls = calls

    def table(self) -> str:
        total = sum(r.total for r in self.rows) or 1e-30
        head = f"{'kernel':<28} {'ops':<28} {'calls':>6} {'total ms':>10} {'mean us':>10} {'share':>7}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.name[:28]:<28} {r.ops[:28]:<28} {r.calls:>6} {r.total * 1e3:>10.3f} "
                         f"{r.mean * 1e6:>10.2f} {100 * r.total / total:>6.1f}%")
        lines.append(f"{self.calls} calls, wall {self.wall_seconds * 1e3:.3f} ms")
        return "\n".join(lines)

    __str__ = table
    __repr__ = table


def profile_function(fn, args, kwargs, repeat) -> ProfileReport:
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"profile: repeat must be a positive int, got {repeat!r}")
    arrays = fn._bind(args, kwargs)
    timings: dict = {}
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn._exec.run(arrays, timings=timings)
    wall = time.perf_counter() - t0
    rows = [KernelTiming(*_label(key), repeat, t) for key, t in timings.items()]
    return ProfileReport(rows, wall, repeat)


def _label(key):
    """Timing keys are graph nodes (numpy backend) or ``(kernel name, ops fused)`` pairs."""
    if isinstance(key, tuple):
        return key
    return key.name, key.op.name

"""``staticad fuzz [-n N] [--seed S] [--batch B] [--out DIR]``: random graphs, numba against numpy.

A thin wrapper over :mod:`staticad.fuzz`; exit status 1 when any graph disagreed (each shrunk
failure is written to ``--out`` as a ready pytest file). With ``NUMBA_DISABLE_JIT=1`` in the
environment the generated code runs as Python: that checks staticad's passes and code generator
(fusion, buffer reuse, scheduling) about a hundred times faster than compiling each graph, but not
Numba's compilation.
"""
from __future__ import annotations

from pathlib import Path

from .common import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("fuzz", help="differential fuzzing: random graphs on numba against numpy",
                       description="Build N random graphs (elementwise, broadcasting, reductions, matmul, cond, "
                                   "fori_loop; loss and gradients), run them on the numba and numpy backends "
                                   "and compare. Failures are shrunk and saved as regression tests. NUMBA_DISABLE_JIT=1 "
                                   "runs the generated code as Python (checks staticad's codegen ~100x faster, "
                                   "not Numba's compilation).")
    p.add_argument("-n", "--graphs", type=positive_int, default=100, help="number of graphs (default 100)")
    p.add_argument("--seed", type=int, default=0, help="first seed (graph k uses seed+k; default 0)")
    p.add_argument("--batch", type=positive_int, default=1,
                   help="graphs compiled into one function (default 1: numba compile time grows faster than linearly with function size)")
    p.add_argument("--out", type=Path, default=Path("fuzz-failures"),
                   help="directory for regression tests of failures (default ./fuzz-failures)")


def run(args) -> int:
    from .. import fuzz
    report = fuzz.run(args.graphs, seed=args.seed, batch=args.batch, out_dir=args.out,
                      log=lambda line: print(line, flush=True))
    print(f"fuzz: {report.graphs} graphs in {report.batches} batches, {len(report.failures)} failing")
    return 1 if report.failures else 0

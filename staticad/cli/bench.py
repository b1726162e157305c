"""``staticad bench``: compile and time the built-in workloads (``staticad.bench``) per backend,
with a progress indicator on stderr and the results table on stdout (``--json`` for tracking)."""
from __future__ import annotations

import argparse
import sys

from .common import non_negative_int, positive_int, usage_error

BACKEND_HELP = "numpy|numba|cuda|all"


def positive_float(text) -> float:
    """An argparse type: a number > 0 (seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_parser(sub) -> None:
    from ..bench import WORKLOADS

    wl_lines = "\n".join(f"  {name:<9} {w.description}" for name, w in WORKLOADS.items())
    bench = sub.add_parser(
        "bench", help="compile and time the built-in workloads",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile and time the built-in workloads on each staticad backend, next to a "
                    "hand-written NumPy forward+backward (numpy-hand). Ratios: 'vs numba' = median / the "
                    "numba column's median, 'vs hand' = median / numpy-hand's median.",
        epilog=f"workloads:\n{wl_lines}\n\n--size S applies to chain (n) and linreg (N); --size hessian=S to "
               "the hessian's n, --size mlp=S to the mlp's batch. Defaults: chain n = 1e3, 1e5 (--full adds "
               "1e7), linreg N = 1e6, mlp batch 16 (--full adds 256), hessian n = 100 (--full adds 20).\n"
               "Backends this build lacks (or cuda without a GPU) and comparison packages that are not "
               "installed are shown as skipped columns.\n"
               "Compile-latency workloads (--compile, or name them): compile-chain, compile-mlp, compile-concat "
               "(staticad bench --compile --list).")
    bench.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                       help=f"workloads to run (default: all): {', '.join(WORKLOADS)}")
    bench.add_argument("--backend", "-b", action="append", metavar=BACKEND_HELP,
                       help="staticad backend(s), repeatable or comma-separated; 'all' lists every known "
                            "backend (default: every backend available in this build)")
    bench.add_argument("--repeat", "-r", type=positive_int, default=20, metavar="N",
                       help="timed calls per column (default 20)")
    bench.add_argument("--warmup", type=non_negative_int, default=2, metavar="N",
                       help="untimed calls after the first one: at least N, continued for 20 ms "
                            "(0: none; default 2)")
    bench.add_argument("--size", "-s", action="append", metavar="S",
                       help="problem size(s), e.g. 1e5 or 1e3,1e5 (chain n, linreg N); NAME=S for one "
                            "workload, e.g. hessian=100 (repeatable)")
    bench.add_argument("--full", action="store_true",
                       help="also run the large and small sizes (chain n = 1e7, mlp batch 256, hessian n = 20)")
    bench.add_argument("--compare", action="append", metavar="torch,torch-cuda,jax,eager,jit",
                       help="add PyTorch-eager (torch: CPU, torch-cuda: GPU) and/or jax.jit (its default "
                            "device) columns (skipped when not installed, or without a GPU), and "
                            "staticad's implicit side: eager (sad.eager) and jit (sad.jit, numba)")
    bench.add_argument("--memory", action="store_true",
                       help="also measure each column's peak memory per call (a fresh process per column; "
                            "the mem column)")
    bench.add_argument("--latency", action="store_true",
                       help="also measure each staticad column's time to first result in fresh processes: "
                            "cold (empty cache dir), warm (disk-cache hit), numba init (numba's own start-up)")
    bench.add_argument("--latency-repeat", type=positive_int, default=3, metavar="N",
                       help="fresh-process pairs per --latency column; the median is shown (default 3)")
    bench.add_argument("--compile", action="store_true",
                       help="run the compile-latency sweep instead (compile-chain, compile-mlp, compile-concat: "
                            "cold compile vs graph size, nodes, kernels, jax.jit; --full: every size)")
    bench.add_argument("--compile-timeout", type=positive_float, default=120.0, metavar="S",
                       help="seconds allowed per fresh-process measurement (--compile, --latency); past it "
                            "the measurement is reported as timeout (default 120)")
    bench.add_argument("--compile-repeat", type=positive_int, default=1, metavar="N",
                       help="cold compiles per --compile size; the median is shown (default 1)")
    bench.add_argument("--json", metavar="PATH", help="write every result as JSON to PATH ('-' for stdout)")
    bench.add_argument("--list", action="store_true", help="list the workloads and exit")
    bench.add_argument("--quiet", "-q", action="store_true", help="no progress indicator on stderr")




def run(args) -> int:
    """``staticad bench``: the table on stdout; exit 1 when a column failed or a result differs."""
    from ..bench import report as bench_report
    from ..bench import runner
    from ..bench.workloads import WORKLOADS

    out = sys.stdout
    if args.workloads and any(w.startswith("dp-") for w in ",".join(args.workloads).split(",")):
        from ..bench import dp_workloads  # Dask LocalCluster runs: their own table
        return dp_workloads.run_cli(args)
    requested = [w.strip().lower() for w in ",".join(args.workloads or []).split(",") if w.strip()]
    if args.compile or any(w.startswith("compile-") for w in requested):
        from ..bench import compile_sweep  # cold compiles against graph size: their own table
        if args.list:
            for name, sw in compile_sweep.SWEEPS.items():
                print(f"{name:<15} {sw.description}  [{sw.size_name} = {', '.join(map(str, sw.sizes))}; "
                      f"--full: {', '.join(map(str, sw.full_sizes))}]", file=out)
            return 0
        try:
            return _run_compile_sweep(args)
        except ValueError as exc:
            return usage_error("bench", str(exc))
    if args.list:
        for name, w in WORKLOADS.items():
            sizes = ""
            if w.sized:
                sizes = f"  [{w.size_name} = {', '.join(map(str, w.sizes))}"
                extra = [x for x in w.full_sizes if x not in w.sizes]
                sizes += f"; --full adds {', '.join(map(str, extra))}]" if extra else "]"
            print(f"{name:<9} {w.description}{sizes}", file=out)
        return 0
    try:
        names = runner.resolve_workloads(args.workloads)
        columns = runner.resolve_backends(args.backend)
        columns += runner.resolve_compare(args.compare)
        sizes, sizes_by_workload = runner.parse_size_args(args.size)
    except ValueError as exc:
        return usage_error("bench", str(exc))
    if sizes and args.workloads:
        ignored = [n for n in names if WORKLOADS[n].sized and not WORKLOADS[n].plain_size
                   and n not in sizes_by_workload]
        for n in ignored:
            print(f"note: a plain --size does not change {n} (use --size {n}=S)", file=sys.stderr)

    if any(c.name == "cuda" and not c.skip for c in columns) and runner.cuda_status()["simulator"]:
        print("note: cuda runs on numba's CUDA simulator (NUMBA_ENABLE_CUDASIM): its times are not GPU times; "
              "keep sizes tiny (e.g. --size 100, no mlp)", file=sys.stderr)
    progress = None if args.quiet else progress_printer()
    report = runner.run_bench(names, columns, sizes=sizes, sizes_by_workload=sizes_by_workload, full=args.full,
                              repeat=args.repeat, warmup=args.warmup, progress=progress, memory=args.memory,
                              latency_repeat=args.latency_repeat if args.latency else 0,
                              latency_timeout=args.compile_timeout)
    out.write(bench_report.format_table(report))
    notes = bench_report.warning_lines(report)
    if notes:
        print(f"\n{len(notes)} distinct warning(s) while running:", file=out)
        for n in notes[:20]:
            print(f"  {n}", file=out)
        if len(notes) > 20:
            print(f"  ... {len(notes) - 20} more (see --json)", file=out)
    return finish(report, bench_report.failures(report), args.json, out)


def finish(report, problems, json_path, out=None) -> int:
    """Warn about ``problems``, write ``--json``; the exit status (1 when a column failed)."""
    from ..bench import report as bench_report
    out = out if out is not None else sys.stdout
    for p in problems:
        print(f"warning: {p}", file=out)
    if json_path:
        try:
            bench_report.write_json(report, json_path)
        except OSError as exc:
            print(f"staticad bench: error: cannot write {json_path}: {exc}", file=sys.stderr)
            return 1
        if json_path != "-":
            print(f"results written to {json_path}", file=out)
    return 1 if problems else 0


def progress_printer(stream=None):
    """A progress indicator on stderr for ``staticad bench``: ``progress(step, total, what)``
    is called when a column starts (``what`` = workload, size, column) and again with a phase
    (``... : compiling``, ``... : timing N calls``); ``what=None`` means done.

    On a terminal: a ``rich`` or ``tqdm`` bar when one of them is importable (never required),
    else one line rewritten in place. Otherwise (a log file, CI): one plain line per column.
    """
    err = stream if stream is not None else sys.stderr
    try:
        interactive = err.isatty()
    except Exception:
        interactive = False
    if interactive:
        for make in (_rich_progress, _tqdm_progress):
            try:
                show = make(err)
            except Exception:  # missing, or an incompatible version: fall back
                show = None
            if show is not None:
                return show
        return _line_progress(err)
    state = {"step": 0}

    def plain(step, total, what):
        if what is None or step == state["step"]:
            return  # phases of the same column: one line per column is enough in a log
        state["step"] = step
        err.write(f"staticad bench: [{step}/{total}] {what.split(': ')[0]}\n")
        err.flush()

    return plain


def _line_progress(err):
    state = {"width": 0}

    def show(step, total, what):
        if what is None:
            err.write("\r" + " " * state["width"] + "\r")
        else:
            text = f"[{step}/{total}] {what} ..."
            err.write("\r" + text.ljust(state["width"]))
            state["width"] = max(state["width"], len(text))
        err.flush()

    return show


def _rich_progress(err):
    import importlib.util
    if importlib.util.find_spec("rich") is None:
        return None
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(file=err), transient=True)
    state = {"task": None}

    def show(step, total, what):
        if what is None:
            if state["task"] is not None:
                progress.stop()
                state["task"] = None
            return
        if state["task"] is None:
            progress.start()
            state["task"] = progress.add_task(what, total=total)
        progress.update(state["task"], completed=step - 1, description=what)

    return show


def _tqdm_progress(err):
    import importlib.util
    if importlib.util.find_spec("tqdm") is None:
        return None
    from tqdm import tqdm

    state = {"bar": None}

    def show(step, total, what):
        if what is None:
            if state["bar"] is not None:
                state["bar"].close()
                state["bar"] = None
            return
        if state["bar"] is None:
            state["bar"] = tqdm(total=total, file=err, leave=False, unit="column", dynamic_ncols=True)
        bar = state["bar"]
        bar.n = step - 1
        bar.set_description_str(what, refresh=False)
        bar.refresh()

    return show


def _run_compile_sweep(args) -> int:
    """``staticad bench --compile`` / ``staticad bench compile-...``: the table, ``--json``."""
    from ..bench.compile_sweep import SWEEPS, failures, format_table, run_sweep
    from ..bench.runner import parse_size, resolve_backends
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

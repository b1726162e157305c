"""The ``staticad`` command line (also ``python -m staticad``).

    staticad bench [WORKLOAD ...] [--backend numpy|numba|cuda|all] [--repeat N] [--size S]
                   [--full] [--compare torch,jax] [--json PATH]
    staticad info

``main(argv=None) -> int`` returns the exit status instead of exiting, so it can be called
in-process: 0 on success, 1 when a benchmark column failed or a staticad result differs from
the hand-written NumPy one, 2 for a usage error (unknown workload, backend, option).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

BACKEND_HELP = "numpy|numba|cuda|all"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``staticad bench: error: ...``) and no exit from main()."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .bench import WORKLOADS

    parser = _Parser(prog="staticad", description="staticad: define-then-run automatic differentiation.")
    parser.add_argument("--version", action="version", version=f"staticad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    wl_lines = "\n".join(f"  {name:<9} {w.description}" for name, w in WORKLOADS.items())
    bench = sub.add_parser(
        "bench", help="compile and time the built-in workloads",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compile and time the built-in workloads on each staticad backend, next to a "
                    "hand-written NumPy forward+backward (numpy-hand, the baseline of every ratio).",
        epilog=f"workloads:\n{wl_lines}\n\n--size applies to the sized workloads (chain: n, linreg: N); "
               "chain runs n = 1e3, 1e5 by default and adds 1e7 with --full.\n"
               "Backends this build lacks (or cuda without a GPU) are shown as skipped columns.")
    bench.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                       help=f"workloads to run (default: all): {', '.join(WORKLOADS)}")
    bench.add_argument("--backend", "-b", action="append", metavar=BACKEND_HELP,
                       help="staticad backend(s), repeatable or comma-separated; 'all' lists every known "
                            "backend (default: every backend available in this build)")
    bench.add_argument("--repeat", "-r", type=_positive_int, default=20, metavar="N",
                       help="timed calls per column (default 20)")
    bench.add_argument("--warmup", type=_non_negative_int, default=2, metavar="N",
                       help="untimed calls after the first one (default 2)")
    bench.add_argument("--size", "-s", action="append", metavar="S",
                       help="problem size(s) of sized workloads, e.g. 1e5 or 1e3,1e5 (repeatable)")
    bench.add_argument("--full", action="store_true", help="also run the large sizes (chain n = 1e7)")
    bench.add_argument("--compare", action="append", metavar="torch,jax",
                       help="add PyTorch-eager and/or jax.jit columns (skipped when not installed)")
    bench.add_argument("--json", metavar="PATH", help="write every result as JSON to PATH ('-' for stdout)")
    bench.add_argument("--list", action="store_true", help="list the workloads and exit")
    bench.add_argument("--quiet", "-q", action="store_true", help="no progress indicator on stderr")

    sub.add_parser("info", help="versions, available backends, CUDA, threading layer, cache directory",
                   description="Print versions, the available backends, CUDA (GPU or simulator), "
                               "numba's threading layer and the staticad cache directory.")
    return parser


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _non_negative_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        if args.command == "bench":
            return _cmd_bench(args)
        if args.command == "info":
            return _cmd_info(args)
        parser.print_help(sys.stdout)
        return 2
    except BrokenPipeError:  # e.g. `staticad bench | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


def _usage_error(command: str, message: str) -> int:
    print(f"staticad {command}: error: {message}", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------------------------
# bench


def _cmd_bench(args) -> int:
    from .bench import runner
    from .bench.workloads import WORKLOADS

    out = sys.stdout
    if args.list:
        for name, w in WORKLOADS.items():
            sizes = f"  [{w.size_name} = {', '.join(map(str, w.sizes))}]" if w.sized else ""
            print(f"{name:<9} {w.description}{sizes}", file=out)
        return 0
    try:
        names = runner.resolve_workloads(args.workloads)
        columns = runner.resolve_backends(args.backend)
        columns += runner.resolve_compare(args.compare)
        sizes = None
        if args.size:
            sizes = [s for item in args.size for s in runner.parse_size(item)]
    except ValueError as exc:
        return _usage_error("bench", str(exc))

    progress = None if args.quiet else _progress_printer()
    report = runner.run_bench(names, columns, sizes=sizes, full=args.full, repeat=args.repeat,
                              warmup=args.warmup, progress=progress)
    out.write(runner.format_table(report))
    notes = runner.warning_lines(report)
    if notes:
        print(f"\n{len(notes)} distinct warning(s) while running:", file=out)
        for n in notes[:20]:
            print(f"  {n}", file=out)
        if len(notes) > 20:
            print(f"  ... {len(notes) - 20} more (see --json)", file=out)
    problems = runner.failures(report)
    for p in problems:
        print(f"warning: {p}", file=out)
    if args.json:
        try:
            runner.write_json(report, args.json)
        except OSError as exc:
            print(f"staticad bench: error: cannot write {args.json}: {exc}", file=sys.stderr)
            return 1
        if args.json != "-":
            print(f"results written to {args.json}", file=out)
    return 1 if problems else 0


def _progress_printer():
    """A one-line progress indicator on stderr, only when stderr is a terminal."""
    err = sys.stderr
    try:
        interactive = err.isatty()
    except Exception:
        interactive = False
    if not interactive:
        return None
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


# --------------------------------------------------------------------------------------------
# info


def cache_dir() -> Path:
    """``$STATICAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/staticad``, else ``~/.cache/staticad`` (the
    rule of ``staticad.backends.cache.cache_dir``, without creating the directory)."""
    env = os.environ.get("STATICAD_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "staticad"


def _dir_size(path: Path):
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                total += os.path.getsize(os.path.join(root, n))
                files += 1
            except OSError:
                pass
    return total, files


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _dist_version(name: str):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception:
        return None


def threading_info() -> dict:
    """numba's threading layer: the active one if initialised, else the configured one and the
    layers that load here (numba's 'default' picks the first usable of tbb, omp, workqueue)."""
    info = {"configured": None, "active": None, "usable": [], "num_threads": None}
    try:
        import numba
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return info
    info["configured"] = getattr(numba.config, "THREADING_LAYER", None)
    info["num_threads"] = getattr(numba.config, "NUMBA_NUM_THREADS", None)
    try:
        info["active"] = numba.threading_layer()
    except Exception:
        info["active"] = None
    for label, mod in (("tbb", "tbbpool"), ("omp", "omppool"), ("workqueue", "workqueue")):
        try:
            importlib.import_module(f"numba.np.ufunc.{mod}")
            if label == "tbb":
                from numba.np.ufunc.parallel import _check_tbb_version_compatible
                _check_tbb_version_compatible()
        except Exception:
            continue
        info["usable"].append(label)
    return info


def _cmd_info(args) -> int:
    from . import __version__
    from . import backends as _backends
    from .bench.runner import KNOWN_BACKENDS, cuda_status

    out = sys.stdout
    import numpy

    def version_of(mod_name):
        try:
            return getattr(importlib.import_module(mod_name), "__version__", None) or _dist_version(mod_name) or "?"
        except Exception as exc:
            return f"not importable ({type(exc).__name__})"

    rows = [("staticad", __version__),
            ("python", f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})"),
            ("numpy", numpy.__version__),
            ("numba", version_of("numba")),
            ("networkx", version_of("networkx"))]
    optional = []
    for name in ("torch", "jax", "numba-cuda"):
        v = _dist_version(name)
        optional.append(f"{name} {v}" if v else f"{name} not installed")
    rows.append(("optional", ", ".join(optional)))
    rows.append(("platform", f"{platform.platform()}, {os.cpu_count()} CPUs"))

    avail = list(_backends.available())
    parts = []
    for b in list(KNOWN_BACKENDS) + [b for b in avail if b not in KNOWN_BACKENDS]:
        parts.append(f"{b} (available)" if b in avail else f"{b} (not available)")
    rows.append(("backends", ", ".join(parts)))

    cs = cuda_status()
    sim_env = os.environ.get("NUMBA_ENABLE_CUDASIM")
    if cs["simulator"]:
        cuda_text = f"CUDA simulator enabled (NUMBA_ENABLE_CUDASIM={sim_env})"
        cuda_text += "" if cs["available"] else " but numba.cuda reports it unavailable"
    elif cs["available"]:
        cuda_text = "GPU: " + (", ".join(cs["devices"]) or "yes")
    else:
        cuda_text = "no GPU (numba.cuda.is_available() is False)"
        cuda_text += "; simulator off (set NUMBA_ENABLE_CUDASIM=1)"
    if cs["error"]:
        cuda_text += f"; {cs['error']}"
    rows.append(("cuda", cuda_text))

    th = threading_info()
    if th.get("error"):
        thread_text = f"unknown ({th['error']})"
    elif th["active"]:
        thread_text = f"{th['active']} (configured {th['configured']!r})"
    else:
        usable = th["usable"]
        thread_text = f"configured {th['configured']!r}, not initialised yet"
        if th["configured"] == "default" and usable:
            thread_text += f"; would use {usable[0]}"
        thread_text += f" (usable: {', '.join(usable) or 'none'})"
    if th.get("num_threads"):
        thread_text += f"; {th['num_threads']} threads"
    rows.append(("threading", thread_text))

    cdir = cache_dir()
    source = ("STATICAD_CACHE_DIR" if os.environ.get("STATICAD_CACHE_DIR")
              else "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "default")
    if cdir.is_dir():
        size, files = _dir_size(cdir)
        cache_text = f"{cdir} ({source}): {_human_bytes(size)} in {files} file(s)"
    elif cdir.exists():
        cache_text = f"{cdir} ({source}): not a directory"
    else:
        cache_text = f"{cdir} ({source}): does not exist yet (0 B)"
    rows.append(("cache", cache_text))

    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}", file=out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

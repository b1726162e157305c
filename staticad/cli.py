"""The ``staticad`` command line (also ``python -m staticad``).

    staticad bench [WORKLOAD ...] [--backend numpy|numba|cuda|all] [--repeat N] [--size S]
                   [--full] [--compare torch,jax] [--json PATH]
    staticad compile MODULE:FUNCTION [--backend numpy|numba] [--emit-source PATH] [--dot PATH] [--json]
    staticad info [--json] [--probe-threads]
    staticad cache info|clear

``main(argv=None) -> int`` returns the exit status instead of exiting, so it can be called
in-process: 0 on success, 1 when a benchmark column failed or a staticad result differs from
the hand-written NumPy one, or when ``compile`` cannot load, build or compile the function
(one line on stderr, no traceback), 2 for a usage error (unknown workload, backend, option).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
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
        epilog=f"workloads:\n{wl_lines}\n\n--size S applies to chain (n) and linreg (N); --size hessian=S to "
               "the hessian's n. Defaults: chain n = 1e3, 1e5 (--full adds 1e7), linreg N = 1e6, "
               "hessian n = 20 (--full adds 100).\n"
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
                       help="problem size(s), e.g. 1e5 or 1e3,1e5 (chain n, linreg N); NAME=S for one "
                            "workload, e.g. hessian=100 (repeatable)")
    bench.add_argument("--full", action="store_true",
                       help="also run the large sizes (chain n = 1e7, hessian n = 100)")
    bench.add_argument("--compare", action="append", metavar="torch,jax",
                       help="add PyTorch-eager and/or jax.jit columns (skipped when not installed)")
    bench.add_argument("--json", metavar="PATH", help="write every result as JSON to PATH ('-' for stdout)")
    bench.add_argument("--list", action="store_true", help="list the workloads and exit")
    bench.add_argument("--quiet", "-q", action="store_true", help="no progress indicator on stderr")

    comp = sub.add_parser(
        "compile", help="compile a function from a module and print what the compiler did",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Import MODULE (a dotted module name, importable from the current directory, or a "
                    ".py file path), call FUNCTION() and compile what it returns: a sad.function, or "
                    "(inputs, outputs) / (inputs, outputs, updates) compiled with --backend. Prints the "
                    "node count before/after every optimization pass, the loop kernels with the ops "
                    "fused into each, the library steps, the compile time and whether the disk cache hit.",
        epilog="examples:\n  staticad compile examples/tiny_mlp.py:build\n"
               "  staticad compile examples/tiny_mlp.py:build --emit-source step.py --dot step.dot\n"
               "  staticad compile mypkg.models:train_step --backend numpy --json")
    comp.add_argument("target", metavar="MODULE:FUNCTION",
                      help="e.g. examples/tiny_mlp.py:build or mypkg.models:build")
    comp.add_argument("--backend", "-b", metavar="numpy|numba",
                      help="backend to compile (inputs, outputs) with, or to recompile a returned "
                           "function with (default: numba, or the returned function's own backend)")
    comp.add_argument("--emit-source", metavar="PATH", help="write the generated code to PATH ('-': stdout)")
    comp.add_argument("--dot", metavar="PATH", help="write the compiled graph as Graphviz DOT to PATH ('-': stdout)")
    comp.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    comp.add_argument("--traceback", action="store_true", help="on an error, print the full traceback")

    info = sub.add_parser("info", help="versions, available backends, CUDA, threading layer, cache directory",
                          description="Print versions, the available backends, CUDA (GPU or simulator), "
                                      "numba's threading layer and the staticad cache directory and size.")
    info.add_argument("--json", action="store_true", help="print the information as JSON")
    info.add_argument("--probe-threads", action="store_true",
                      help="run a tiny parallel numba loop first, so the threading layer actually in use "
                           "is reported (compiles once, about a second)")

    cache = sub.add_parser("cache", help="show or clear the generated-code cache",
                           description="The generated-code cache ($STATICAD_CACHE_DIR, default "
                                       "~/.cache/staticad): 'info' prints its directory and size, 'clear' "
                                       "deletes every entry (functions recompile on next use).")
    cache.add_argument("action", nargs="?", choices=("info", "clear"), default="info",
                       help="info (default) or clear")
    cache.add_argument("--verbose", "-v", action="store_true", help="clear: list every file removed")
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
        if args.command == "compile":
            return _cmd_compile(args)
        if args.command == "cache":
            return _cmd_cache(args)
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
        return _usage_error("bench", str(exc))
    if sizes and args.workloads:
        ignored = [n for n in names if WORKLOADS[n].sized and not WORKLOADS[n].plain_size
                   and n not in sizes_by_workload]
        for n in ignored:
            print(f"note: a plain --size does not change {n} (use --size {n}=S)", file=sys.stderr)

    if any(c.name == "cuda" and not c.skip for c in columns) and runner.cuda_status()["simulator"]:
        print("note: cuda runs on numba's CUDA simulator (NUMBA_ENABLE_CUDASIM): its times are not GPU times; "
              "keep sizes tiny (e.g. --size 100, no mlp)", file=sys.stderr)
    progress = None if args.quiet else _progress_printer()
    report = runner.run_bench(names, columns, sizes=sizes, sizes_by_workload=sizes_by_workload, full=args.full,
                              repeat=args.repeat, warmup=args.warmup, progress=progress)
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


def _progress_printer(stream=None):
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


def threading_info(probe: bool = False) -> dict:
    """numba's threading layer: the active one if initialised, else the configured one and the
    layers that load here (numba's 'default' picks the first usable of tbb, omp, workqueue).

    ``probe``: run a tiny ``parallel=True`` loop first (compiles once, ~1 s), which initialises
    the layer so that ``active`` is the one really used."""
    info = {"configured": None, "active": None, "usable": [], "num_threads": None}
    try:
        import numba
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return info
    info["configured"] = getattr(numba.config, "THREADING_LAYER", None)
    info["num_threads"] = getattr(numba.config, "NUMBA_NUM_THREADS", None)
    if probe:
        try:
            _parallel_probe()
        except Exception as exc:
            info["probe_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
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


def _parallel_probe():
    import numba
    import numpy as np

    @numba.njit(parallel=True)
    def probe(a):
        s = 0.0
        for i in numba.prange(a.size):
            s += a[i]
        return s

    return probe(np.ones(64))


def _cache_info() -> dict:
    """The cache directory, where its path comes from, and its size; never creates it."""
    cdir = cache_dir()
    source = ("STATICAD_CACHE_DIR" if os.environ.get("STATICAD_CACHE_DIR")
              else "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "default")
    out = {"path": str(cdir), "source": source, "exists": cdir.is_dir(), "files": 0, "bytes": 0}
    if cdir.is_dir():
        try:
            from .backends import cache as _cache
            out["files"], out["bytes"] = _cache.cache_size()
        except Exception:  # numba missing or broken: count the files ourselves
            out["bytes"], out["files"] = _dir_size(cdir)
        out["modules"] = len(list((cdir / "modules").glob("staticad_gen_*.py"))) if (cdir / "modules").is_dir() else 0
    elif cdir.exists():
        out["error"] = "not a directory"
    return out


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

    data = {"staticad": __version__, "python": platform.python_version(),
            "python_implementation": platform.python_implementation(), "executable": sys.executable,
            "numpy": numpy.__version__, "numba": version_of("numba"), "networkx": version_of("networkx"),
            "optional": {name: _dist_version(name) for name in ("torch", "jax", "numba-cuda", "rich", "tqdm")},
            "platform": platform.platform(), "cpu_count": os.cpu_count()}
    rows = [("staticad", __version__),
            ("python", f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})"),
            ("numpy", numpy.__version__),
            ("numba", data["numba"]),
            ("networkx", data["networkx"])]
    optional = [f"{name} {v}" if v else f"{name} not installed" for name, v in data["optional"].items()]
    rows.append(("optional", ", ".join(optional)))
    rows.append(("platform", f"{platform.platform()}, {os.cpu_count()} CPUs"))

    avail = list(_backends.available())
    known = list(KNOWN_BACKENDS) + [b for b in avail if b not in KNOWN_BACKENDS]
    data["backends"] = {b: b in avail for b in known}
    cs = cuda_status()
    data["cuda"] = cs

    def backend_text(b):
        if b not in avail:
            return f"{b} (not available)"
        if b == "cuda":  # in every build; runs only with a GPU or the simulator
            return "cuda (simulator)" if cs["simulator"] and cs["available"] else \
                "cuda (GPU)" if cs["available"] else "cuda (no GPU or simulator here)"
        return f"{b} (available)"
    rows.append(("backends", ", ".join(backend_text(b) for b in known)))

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

    th = threading_info(probe=getattr(args, "probe_threads", False))
    data["threading"] = th
    if th.get("error"):
        thread_text = f"unknown ({th['error']})"
    elif th["active"]:
        thread_text = f"{th['active']} (active; configured {th['configured']!r})"
    else:
        usable = th["usable"]
        thread_text = f"configured {th['configured']!r}, not initialised yet"
        if th["configured"] == "default" and usable:
            thread_text += f"; would use {usable[0]}"
        thread_text += f" (usable: {', '.join(usable) or 'none'}; --probe-threads to initialise)"
    if th.get("probe_error"):
        thread_text += f"; probe failed: {th['probe_error']}"
    if th.get("num_threads"):
        thread_text += f"; {th['num_threads']} threads"
    rows.append(("threading", thread_text))

    ci = _cache_info()
    data["cache"] = ci
    if ci["exists"]:
        cache_text = (f"{ci['path']} ({ci['source']}): {_human_bytes(ci['bytes'])} in {ci['files']} file(s), "
                      f"{ci['modules']} generated module(s)")
    elif ci.get("error"):
        cache_text = f"{ci['path']} ({ci['source']}): {ci['error']}"
    else:
        cache_text = f"{ci['path']} ({ci['source']}): does not exist yet (0 B)"
    rows.append(("cache", cache_text))

    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str), file=out)
        return 0
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}", file=out)
    return 0


# --------------------------------------------------------------------------------------------
# cache


def _cmd_cache(args) -> int:
    out = sys.stdout
    ci = _cache_info()
    if args.action == "info":
        if ci["exists"]:
            print(f"{ci['path']} ({ci['source']}): {_human_bytes(ci['bytes'])} in {ci['files']} file(s), "
                  f"{ci['modules']} generated module(s)", file=out)
        else:
            print(f"{ci['path']} ({ci['source']}): does not exist yet (0 B)", file=out)
        return 0
    # clear
    if not ci["exists"]:
        print(f"nothing to remove: {ci['path']} does not exist", file=out)
        return 0
    from .backends import cache as _cache
    root = Path(ci["path"])
    files = [p for p in root.rglob("*") if p.is_file()]
    kinds = {"generated module(s)": 0, "numba compiled file(s)": 0, "other file(s)": 0}
    for f in files:
        if f.suffix == ".py" and f.name.startswith("staticad_gen_"):
            kinds["generated module(s)"] += 1
        elif f.suffix in (".nbi", ".nbc"):
            kinds["numba compiled file(s)"] += 1
        else:
            kinds["other file(s)"] += 1
    try:
        removed = _cache.clear()
    except OSError as exc:
        print(f"staticad cache: error: {exc}", file=sys.stderr)
        return 1
    left = [p for p in files if p.exists()]
    if args.verbose:
        for f in files:
            if not f.exists():
                print(f"removed {f}", file=out)
    detail = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
    print(f"removed {removed} file(s) ({_human_bytes(ci['bytes'])}{'; ' + detail if detail else ''}) "
          f"from {ci['path']}", file=out)
    if left:
        print(f"staticad cache: warning: {len(left)} file(s) could not be removed (in use or no permission)",
              file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------------
# compile


class CompileError(Exception):
    """A ``staticad compile`` failure: reported as one line on stderr, exit status ``status``
    (1; 2 for a malformed MODULE:FUNCTION)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_target(spec: str):
    """``MODULE:FUNCTION`` -> the callable. MODULE is a dotted module name (importable from the
    current directory) or a path to a ``.py`` file; FUNCTION may be dotted (``Class.method``)."""
    module_part, sep, attr = spec.rpartition(":")
    if not sep or not module_part or not attr:
        raise CompileError(f"expected MODULE:FUNCTION (e.g. examples/tiny_mlp.py:build or mypkg.models:build), "
                           f"got {spec!r}", status=2)
    is_path = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if is_path:
        module = _import_file(Path(module_part))
    else:
        module = _import_module(module_part)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CompileError(f"{module_part} has no function {attr!r}") from None
    if not callable(obj):
        raise CompileError(f"{module_part}:{attr} is not a function ({type(obj).__name__})")
    return obj


def _import_file(path: Path):
    import importlib.util
    import re
    if not path.is_file():
        raise CompileError(f"no such file: {path}")
    name = "_staticad_compile_" + re.sub(r"\W", "_", path.resolve().stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CompileError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its neighbours
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise CompileError(f"importing {path} failed: {_one_line(exc)}") from exc
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    return module


def _import_module(name: str):
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise CompileError(f"no module named {name!r} (not importable from {cwd})") from exc
        raise CompileError(f"importing {name} failed: {_one_line(exc)}") from exc
    except Exception as exc:
        raise CompileError(f"importing {name} failed: {_one_line(exc)}") from exc
    finally:
        if added:
            try:
                sys.path.remove(cwd)
            except ValueError:
                pass


def build_function(fn_obj, label: str, backend=None):
    """Call the target and compile what it returns. Returns ``(Function, compiled_here)``."""
    import staticad as sad
    from .function import Function

    import inspect
    try:
        inspect.signature(fn_obj).bind()
    except TypeError as exc:
        raise CompileError(f"{label}() must be callable without arguments: {exc}") from None
    except ValueError:  # no signature (a builtin): just call it
        pass
    try:
        result = fn_obj()
    except (ValueError, TypeError) as exc:
        raise CompileError(f"graph error in {label}(): {_one_line(exc)}") from exc
    except Exception as exc:
        raise CompileError(f"{label}() raised {_one_line(exc)}") from exc
    if isinstance(result, Function):
        if backend is None or backend == result.backend.NAME:
            return result, False
        inputs, outputs, updates, name = result.inputs, result.program.outputs, result.updates, result.name
    elif isinstance(result, dict) and "inputs" in result and "outputs" in result:
        inputs, outputs, updates, name = result["inputs"], result["outputs"], result.get("updates"), label
    elif isinstance(result, (tuple, list)) and len(result) in (2, 3):
        inputs, outputs = result[0], result[1]
        updates = result[2] if len(result) == 3 else None
        name = label
    else:
        raise CompileError(f"{label}() returned {type(result).__name__}; expected a sad.function or "
                           "(inputs, outputs) / (inputs, outputs, updates)")
    try:
        return sad.function(inputs, outputs, updates=updates, backend=backend or "numba", name=name), True
    except (ValueError, TypeError) as exc:
        raise CompileError(f"graph error compiling {label}(): {_one_line(exc)}") from exc
    except Exception as exc:
        raise CompileError(f"compiling {label}() failed: {_one_line(exc)}") from exc


def _sym_text(sym, node_by_id) -> str:
    from .passes.symshape import is_symbol

    def dim(d):
        if not is_symbol(d):
            return str(d)
        if d[0] in ("in", "node"):
            node = node_by_id.get(d[1])
            return f"{node.name}.shape[{d[2]}]" if node is not None else "?"
        return "bcast(" + ", ".join(sorted(dim(q) for q in d[1])) + ")"

    return "(" + ", ".join(dim(d) for d in sym) + ("," if len(sym) == 1 else "") + ")"


def compile_report(f, target: str = "", wall_seconds=None) -> dict:
    """What ``staticad compile`` prints, as a dict (the ``--json`` output)."""
    from .graph import _format_shape

    ex = f._exec
    prog = getattr(ex, "program", f.program)
    stats = f.stats
    rep = {
        "target": target, "function": f.name, "backend": f.backend.NAME,
        "inputs": [{"name": p.name, "shape": _format_shape(p.shape), "dtype": str(p.dtype)} for p in f.inputs],
        "outputs": [{"name": o.name, "op": o.op.name, "shape": _format_shape(o.shape), "dtype": str(o.dtype)}
                    for o in f.program.outputs],
        "updates": [v.name for v, _ in f.updates],
        "nodes_declared": stats.get("nodes_declared"), "nodes_after_passes": stats.get("nodes_after_passes"),
        "passes": [{"name": p[0], "nodes_before": p[1], "nodes_after": p[2], "removed": p[1] - p[2]}
                   for p in stats.get("passes", [])],
        "kernels": [], "library_steps": [], "steps": [],
        "fused_ops": stats.get("fused_ops"), "compile_seconds": stats.get("compile_seconds"),
        "cache_hit": bool(stats.get("cache_hit")),
    }
    if wall_seconds is not None:
        rep["build_and_compile_seconds"] = wall_seconds
    plan = getattr(ex, "plan", None)
    if plan is not None:
        from .passes.fuse import LoopKernel
        node_by_id = {n.id: n for n in prog.nodes}
        ident = _source_names(plan)
        for step in plan.steps:
            if isinstance(step, LoopKernel):
                rep["kernels"].append({
                    "name": step.name, "space": _sym_text(step.sym, node_by_id),
                    "members": [{"name": ident(n), "node": n.name, "op": n.op.name} for n in step.members],
                    "sinks": [{"name": ident(n), "node": n.name, "op": n.op.name} for n in step.sinks],
                    "stored": [ident(n) for n in step.stored],
                    "ops": [n.op.name for n in step.nodes()]})
                rep["steps"].append(step.name)
            else:
                rep["library_steps"].append({"name": ident(step), "node": step.name, "op": step.op.name,
                                             "shape": _format_shape(step.shape), "dtype": str(step.dtype)})
                rep["steps"].append(ident(step))
    else:
        rep["steps"] = [n.name for n in prog.nodes if n.inputs or n.op.name == "full"]
    return rep


def _source_names(plan):
    """node -> the name the generated source (and the profiler) gives it (e.g. ``matmul_3``);
    the graph's own name where the code generator is not available."""
    try:
        from .backends.numba_codegen import NumbaCodegen
        cg = NumbaCodegen(plan)
        cg.generate()
        names = dict(cg.idents)
    except Exception:
        names = {}
    return lambda node: names.get(node, node.name)


def format_compile_report(rep: dict) -> str:
    lines = []
    head = [("function", f"{rep['function']}  (backend {rep['backend']})"),
            ("inputs", ", ".join(f"{i['name']} {i['shape']} {i['dtype']}" for i in rep["inputs"]) or "(none)"),
            ("outputs", ", ".join(f"{o['name']} {o['shape']} {o['dtype']}" for o in rep["outputs"]) or "(none)"),
            ("updates", ", ".join(rep["updates"]) or "(none)"),
            ("nodes", f"{rep['nodes_declared']} declared -> {rep['nodes_after_passes']} after passes"),
            ("compile", f"{rep['compile_seconds']:.3f} s, cache {'hit' if rep['cache_hit'] else 'miss'}")]
    if rep.get("target"):
        head.insert(0, ("target", rep["target"]))
    w = max(len(k) for k, _ in head)
    lines += [f"{k:<{w}}  {v}" for k, v in head]
    lines.append("")
    if rep["passes"]:
        lines.append("passes")
        lines.append(f"  {'pass':<34}{'before':>8}{'after':>8}{'removed':>9}")
        for p in rep["passes"]:
            lines.append(f"  {p['name']:<34}{p['nodes_before']:>8}{p['nodes_after']:>8}{p['removed']:>9}")
    else:
        lines.append(f"passes: none (the {rep['backend']} backend runs the graph as declared)")
    lines.append("")
    if rep["kernels"] or rep["library_steps"]:
        lines.append(f"steps: {len(rep['kernels'])} loop kernel(s), {len(rep['library_steps'])} library step(s), "
                     f"{rep['fused_ops']} op(s) fused, in execution order")
        kernels = {k["name"]: k for k in rep["kernels"]}
        libs = {s["name"]: s for s in rep["library_steps"]}
        nw = max(len(n) for n in rep["steps"])
        for name in rep["steps"]:
            if name in kernels:
                k = kernels[name]
                text = ", ".join(m["op"] for m in k["members"])
                if k["sinks"]:
                    text += (" -> " if text else "") + "reduces " + ", ".join(s["op"] for s in k["sinks"])
                lines.append(f"  {name:<{nw}}  kernel   over {k['space']}: {text}")
            else:
                s = libs[name]
                lines.append(f"  {name:<{nw}}  library  {s['op']} -> {s['shape']} {s['dtype']}")
    else:
        lines.append(f"steps: {len(rep['steps'])} node(s) interpreted one by one (no fusion on this backend)")
    return "\n".join(lines) + "\n"


def _write_text(path: str, text: str, what: str):
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CompileError(f"cannot write {what} to {path}: {exc.strerror or exc}") from exc


def _cmd_compile(args) -> int:
    import time
    import traceback

    from . import backends as _backends
    if args.backend is not None and args.backend not in _backends.available():
        return _usage_error("compile", f"unknown backend {args.backend!r} (choose from: "
                                       f"{', '.join(_backends.available())})")
    if args.json and "-" in (args.emit_source, args.dot):
        return _usage_error("compile", "--json prints to stdout: give --emit-source/--dot a file path, not '-'")
    label = args.target.rpartition(":")[2] or args.target
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            t0 = time.perf_counter()
            target = load_target(args.target)
            f, _ = build_function(target, label, args.backend)
            wall = time.perf_counter() - t0
            rep = compile_report(f, args.target, wall)
            if args.emit_source:
                _write_text(args.emit_source, f.source, "the source")
                rep["source_path"] = args.emit_source
            if args.dot:
                from .dot import to_dot
                try:
                    dot = to_dot(f)
                except Exception as exc:
                    raise CompileError(f"drawing the graph failed: {_one_line(exc)}") from exc
                _write_text(args.dot, dot, "the DOT graph")
                rep["dot_path"] = args.dot
        except (CompileError, Exception) as exc:
            if args.traceback:
                traceback.print_exc()
            if not isinstance(exc, CompileError):  # a bug of staticad itself
                exc = CompileError(f"internal error: {_one_line(exc)} (--traceback shows where)")
            print(f"staticad compile: error: {exc}", file=sys.stderr)  # warnings dropped: one line
            return exc.status
    seen = []
    for w in caught:  # after a success, each distinct warning once, one line each
        text = f"staticad compile: warning: {w.category.__name__}: {str(w.message).strip().splitlines()[0] if str(w.message).strip() else ''}"
        if text not in seen:
            seen.append(text)
            print(text, file=sys.stderr)
    rep["warnings"] = [t.split("warning: ", 1)[1] for t in seen]
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        sys.stdout.write(format_compile_report(rep))
        for key, what in (("source_path", "source"), ("dot_path", "DOT graph")):
            if rep.get(key) and rep[key] != "-":
                print(f"{what} written to {rep[key]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

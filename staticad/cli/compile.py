"""``staticad compile MODULE:FUNCTION``: compile a function from a model file and print what the
compiler did (node counts per pass, kernels and the ops fused into each, compile time, cache)."""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
import warnings
from pathlib import Path

from .common import one_line, usage_error
from .target import CompileError, build_function, load_target


def add_parser(sub) -> None:
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
    comp.add_argument("--backend", "-b", metavar="numpy|numba|cuda",
                      help="backend to compile (inputs, outputs) with, or to recompile a returned "
                           "function with (default: numba, or the returned function's own backend)")
    comp.add_argument("--emit-source", metavar="PATH", help="write the generated code to PATH ('-': stdout)")
    comp.add_argument("--dot", metavar="PATH", help="write the compiled graph as Graphviz DOT to PATH ('-': stdout)")
    comp.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    comp.add_argument("--traceback", action="store_true", help="on an error, print the full traceback")


def _sym_text(sym, node_by_id) -> str:
    from ..passes.symshape import is_symbol

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
    from ..graph import _format_shape

    ex = f._exec
    plan = ex.plan
    prog = plan.program
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
        "cache_hit": ex.stats.cache_hit,
    }
    if wall_seconds is not None:
        rep["build_and_compile_seconds"] = wall_seconds
    if f.backend.OPTIMIZES:
        from ..passes.fuse import LoopKernel
        node_by_id = {n.id: n for n in prog.nodes}
        names = ex.step_names()  # node -> its name in the generated source (and in profiles)

        def ident(node):
            return names.get(node, node.name)

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


def format_compile_report(rep: dict) -> str:
    lines = []
    head = [("function", f"{rep['function']}  (backend {rep['backend']})"),
            ("inputs", ", ".join(f"{i['name']} {i['shape']} {i['dtype']}" for i in rep["inputs"]) or "(none)"),
            ("outputs", ", ".join(f"{o['name']} {o['shape']} {o['dtype']}" for o in rep["outputs"]) or "(none)"),
            ("updates", ", ".join(rep["updates"]) or "(none)"),
            ("nodes", f"{rep['nodes_declared']} declared -> {rep['nodes_after_passes']} after passes"),
            ("compile", f"{rep['compile_seconds']:.3f} s, " + _cache_text(rep["cache_hit"], rep["backend"]))]
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


def _cache_text(hit, backend) -> str:
    if hit is None:
        return f"no disk cache (the {backend} backend generates no code)"
    return "disk cache hit (loaded, not compiled)" if hit else "disk cache miss (compiled and stored)"


def _write_text(path: str, text: str, what: str):
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CompileError(f"cannot write {what} to {path}: {exc.strerror or exc}") from exc


def run(args) -> int:
    """Print the report (text or ``--json``); one line on stderr and exit 1 (2: usage) on failure."""
    from .. import backends as _backends
    if args.backend is not None and args.backend not in _backends.available():
        return usage_error("compile", f"unknown backend {args.backend!r} (choose from: "
                                       f"{', '.join(_backends.available())})")
    if args.json and "-" in (args.emit_source, args.dot):
        return usage_error("compile", "--json prints to stdout: give --emit-source/--dot a file path, not '-'")
    label = args.target.rpartition(":")[2] or args.target
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
                from ..dot import to_dot
                try:
                    dot = to_dot(f)
                except Exception as exc:
                    raise CompileError(f"drawing the graph failed: {one_line(exc)}") from exc
                _write_text(args.dot, dot, "the DOT graph")
                rep["dot_path"] = args.dot
        except Exception as exc:
            if args.traceback:
                traceback.print_exc()
            if not isinstance(exc, CompileError):  # a bug of staticad itself
                exc = CompileError(f"internal error: {one_line(exc)} (--traceback shows where)")
            print(f"staticad compile: error: {exc}", file=sys.stderr)  # warnings dropped: one line
            return exc.status
    rep["warnings"] = []
    for w in caught:  # after a success, each distinct warning once, one line each
        lines = str(w.message).strip().splitlines()
        text = f"{w.category.__name__}: {lines[0] if lines else ''}"
        if text not in rep["warnings"]:
            rep["warnings"].append(text)
            print(f"staticad compile: warning: {text}", file=sys.stderr)
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        sys.stdout.write(format_compile_report(rep))
        for key, what in (("source_path", "source"), ("dot_path", "DOT graph")):
            if rep.get(key) and rep[key] != "-":
                print(f"{what} written to {rep[key]}")
    return 0

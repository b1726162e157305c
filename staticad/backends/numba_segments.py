"""Very long generated functions split into segments: ``entry`` calls ``entry__seg0``, ``entry__seg1``...

Why: numba stores every variable of a function in its own stack slot and LLVM's SROA and
mem2reg promote them one by one over the whole control-flow graph, whose blocks grow with the
number of calls (each call checks for an exception): the cost grows faster than the function.
But each segment is a numba function of its own, with its own LLVM module that links and
compiles every helper it calls again, and the values it hands on travel as tuples: a segment
costs ~0.25 s. Measured (cold, 2-core Xeon, numba 0.68): an MLP of 8 layers + Adam (an 863-line
entry point) compiles in 4.8 s whole and 7.1 s in 60-line segments; 2 layers, 1.5 s against
2.4 s; 32 layers (2296 lines), about 31 s either way once fuse.MAX_KERNEL_INPUTS bounds its
loops. So only functions far longer than any of these are split, in long segments.

A segment is a run of top-level statements. It takes the names it reads or rebinds that were
bound before it (arguments, earlier segments) and returns the names it binds that a later
statement reads, as a tuple the caller unpacks. Segments with the same text (the serial and
threaded variants of an entry point share most of theirs) are one function.
"""
from __future__ import annotations

import ast

from .numba_source import VECTOR_HINT

SEGMENT_LINES = 600    # top-level statements' lines per segment
SPLIT_ABOVE = 2500     # functions with fewer body lines stay whole
# names a segment may hand on to later ones: numba's cost for a returned tuple of arrays grows
# faster than linearly, but less than what SROA saves: an 8-layer MLP with Adam compiled in 27.6 s
# unsplit, 20.7 s with at most 32 and 17.0 s with no limit (up to ~90 names at a cut)
MAX_RESULTS = 128
SEGMENT_OPTIONS = "no_cpython_wrapper=True, no_cfunc_wrapper=True"  # called from native code only


def _names(stmt):
    """(names read, names bound) by ``stmt`` (an augmented assignment both reads and binds)."""
    reads, binds = [], []
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            (reads if isinstance(node.ctx, ast.Load) else binds).append(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            reads.append(node.target.id)
    return reads, binds


def _unique(names):
    return list(dict.fromkeys(names))


def split(lines: list, registry: dict) -> list:
    """``lines`` of one generated function (decorator, ``def``, body) -> the lines of its segment
    functions (new ones only: ``registry`` maps a segment's text to its name across the module)
    followed by the function calling them. Short functions come back unchanged."""
    decorator, text = lines[0], "\n".join(lines[1:])
    if len(lines) - 2 <= SPLIT_ABOVE or not decorator.startswith("@njit("):
        return lines
    fn = ast.parse(text).body[0]
    body, tail = fn.body[:-1], fn.body[-1]
    # a first statement that only marks the function for the compiler (numba_source.VECTOR_HINT)
    # marks each segment, and stays in the caller
    prologue = []
    if body and lines[2].strip() == VECTOR_HINT.strip():
        prologue, body = [lines[2]], body[1:]
    if not isinstance(tail, ast.Return) or len(body) < 2:
        return lines
    src = text.splitlines()
    # each statement with the comments and blank lines before it (the step comments)
    starts = [2 + len(prologue)] + [s.end_lineno + 1 for s in body[:-1]]
    stmt_text = [src[a - 1:s.end_lineno] for a, s in zip(starts, body)]
    info = [_names(s) for s in body]
    tail_reads, _ = _names(tail)
    # names read at or after each statement (and by the return)
    read_from = [set() for _ in range(len(body) + 1)]
    read_from[-1] = set(tail_reads)
    for i in range(len(body) - 1, -1, -1):
        read_from[i] = read_from[i + 1] | set(info[i][0])
    # cut where the segment so far binds at most MAX_RESULTS names that later statements read
    # (a segment returns them as a tuple)
    groups, size, binds = [[]], 0, set()
    for i, s in enumerate(body):
        groups[-1].append(i)
        size += s.end_lineno - s.lineno + 1
        binds.update(info[i][1])
        if size >= SEGMENT_LINES and i + 1 < len(body) and len(binds & read_from[i + 1]) <= MAX_RESULTS:
            groups.append([])
            size, binds = 0, set()
    if not groups[-1]:
        groups.pop()
    if len(groups) < 2:
        return lines
    bound = {a.arg for a in fn.args.args}
    later_reads = [read_from[idx[-1] + 1] for idx in groups]  # names read after each group
    out, calls = [], []
    extra = ", ".join(o for o in SEGMENT_OPTIONS.split(", ") if o.split("=")[0] not in decorator)
    head = decorator[:-1] + (", " if decorator[-2] != "(" and extra else "") + extra + ")"
    for g, idx in enumerate(groups):
        reads = _unique(n for i in idx for n in info[i][0] + info[i][1])
        binds = _unique(n for i in idx for n in info[i][1])
        params = [n for n in reads if n in bound]
        results = [n for n in binds if n in later_reads[g]]
        seg_body = prologue + [l for i in idx for l in stmt_text[i]]
        ret = "    return (" + ", ".join(results) + ("," if len(results) == 1 else "") + ")"
        key = "\n".join([head, "def SEG(" + ", ".join(params) + "):"] + seg_body + [ret])
        name = registry.get(key)
        if name is None:
            name = f"{fn.name}__seg{g}"
            while name in registry.values():
                name += "_"
            registry[key] = name
            out += key.replace("def SEG(", f"def {name}(", 1).split("\n") + ["", ""]
        call = f"{name}({', '.join(params)})"
        calls.append(f"    {', '.join(results)}{',' if len(results) == 1 else ''} = {call}" if results else f"    {call}")
        bound.update(binds)
    ret_text = src[tail.lineno - 1:tail.end_lineno]
    return out + [decorator, src[0]] + prologue + calls + ret_text

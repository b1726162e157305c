"""Replaying the backward graph of a recorded tape that has the same structure as a previous one.

A training loop records the same tape step after step: the same ops, shapes, dtypes, attributes
and constants, with new values. The VJP rules are graph code whose structure depends only on
those (never on non-constant values: in graph mode those are placeholders), so the backward graph
built for one tape serves every tape with the same key. It is kept as a flat program: slots for
the values it reads from the tape, numpy steps, and the values it folded once (rule constants,
``full``...). ``backward`` evaluates the graph the first time it meets a key, compiles it the second time
(:func:`compile`, with the compiler's passes) and replays it after.
"""
from __future__ import annotations

import numpy as np

from ..graph import CONSTANT, walk

_CACHE: dict = {}
_CACHE_MAX = 256
_SMALL = 16  # constants up to this many elements are part of the key; larger ones: no replay


class Uncacheable(Exception):
    pass


def tape_key(path, seed):
    """A hashable description of the tape (``None`` when some part cannot be keyed)."""
    index = {id(n): i for i, n in enumerate(path)}
    parts = [seed.shape, seed.dtype]
    try:
        for node in path:
            if node._saved is None:
                parts.append((node.shape, node.dtype, node._retain))
                continue
            refs = []
            for inp in node.inputs:
                k = index.get(id(inp))
                if k is not None:
                    refs.append(k)
                elif inp._eager:
                    refs.append((inp.shape, inp.dtype))
                elif inp.op is CONSTANT and inp.attrs["value"].size <= _SMALL:
                    v = inp.attrs["value"]
                    refs.append((v.dtype, v.shape, v.tobytes()))
                else:
                    return None
            attrs = tuple([(k, v.__class__, v) for k, v in node.attrs.items()]) if node.attrs else ()
            parts.append((node.op, attrs, node.shape, node.dtype, node._retain, *refs))
        key = tuple(parts)
        hash(key)
    except TypeError:  # an unhashable attribute
        return None
    return key


class Program:
    """Slots (where each read value comes from in the tape), steps, and the output slots."""

    def __init__(self, sources, n, steps, outputs):
        self.sources, self.n, self.outputs = sources, n, outputs
        # drop each intermediate after its last reader: freed buffers are reused by the next
        # allocations instead of fresh pages (page faults cost more than the arithmetic)
        last = {}
        for k, (_, _, args, _, _) in enumerate(steps):
            for a in args:
                last[a] = k
        keep = set(outputs)
        frees = [[] for _ in steps]
        for a, k in last.items():
            if a not in keep:
                frees[k].append(a)
        self.steps = [step + (tuple(f),) for step, f in zip(steps, frees)]

    def run(self, path, seed) -> list:
        env = [None] * self.n
        for slot, (kind, i, j) in self.sources:
            if kind == 0:
                env[slot] = path[i]._value
            elif kind == 1:
                env[slot] = path[i].inputs[j]._value
            elif kind == 2:
                env[slot] = seed._value
            else:
                env[slot] = i  # a folded value
        for impl, attrs, args, dtype, out, free in self.steps:
            v = impl(*[env[a] for a in args], **attrs)
            if v.__class__ is not np.ndarray:
                v = np.asarray(v)
            if v.dtype != dtype:
                v = v.astype(dtype)
            env[out] = v
            for a in free:
                env[a] = None
        return [env[o] for o in self.outputs]


def compile(path, seed, roots) -> Program:
    """The program computing ``roots`` (graph nodes over the tape's values) from a tape like ``path``.

    The backward graph is rebuilt over placeholders (one per tape value it reads) and optimized by
    the compiler's own passes (:func:`staticad.passes.optimize`: prune, constant folding,
    algebraic simplification, CSE), then flattened into numpy steps."""
    from ..graph import Tensor, placeholder
    from ..passes import optimize
    from ..program import Program as GraphProgram

    where = {id(seed): (2, 0, 0)}
    for i, node in enumerate(path):
        where.setdefault(id(node), (0, i, 0))
        for j, inp in enumerate(node.inputs):
            if inp._eager:
                where.setdefault(id(inp), (1, i, j))
    clone: dict = {}
    inputs, locations = [], []
    # inputs before users; tape values, eager values and constants are where the walk stops
    order = walk(roots, is_leaf=lambda n: id(n) in where or n._eager or n.op is CONSTANT)
    for node in order:
        loc = where.get(id(node))
        if loc is not None:
            p = placeholder(node.shape, node.dtype, name=f"tape{len(inputs)}")
            inputs.append(p)
            locations.append(loc)
            clone[id(node)] = p
        elif node._eager:
            raise Uncacheable(f"an eager value outside the tape ({node.name})")
        elif node.op is CONSTANT or not node.inputs:
            clone[id(node)] = node
        elif node.op.extra.get("multi_output") or node.op.extra.get("projection"):
            raise Uncacheable("control flow")
        else:
            clone[id(node)] = Tensor(node.op, tuple(clone[id(i)] for i in node.inputs), node.attrs,
                                     node.shape, node.dtype)
    graph, _ = optimize(GraphProgram.build("eager_backward", inputs, [clone[id(r)] for r in roots], []))

    slot_of: dict = {}
    sources, steps = [], []
    loc_of = {id(p): loc for p, loc in zip(inputs, locations)}
    for node in graph.nodes:
        slot_of[id(node)] = len(slot_of)
        if id(node) in loc_of:
            sources.append((slot_of[id(node)], loc_of[id(node)]))
        elif node.op is CONSTANT:
            sources.append((slot_of[id(node)], (3, node.attrs["value"], 0)))
        elif node.op.name in ("placeholder", "variable"):
            raise Uncacheable(f"an unexpected source {node.name}")
        else:
            steps.append((node.op.impl, node.attrs, tuple(slot_of[id(i)] for i in node.inputs), node.dtype,
                          slot_of[id(node)]))
    return Program(sources, len(slot_of), steps, [slot_of[id(o)] for o in graph.outputs])


_SEEN: dict = {}  # keys met once: a tape seen a second time gets a program


def lookup(key):
    return _CACHE.get(key)


def seen_before(key) -> bool:
    """Whether this key was met before (then it is worth compiling); records it otherwise."""
    if key in _SEEN:
        return True
    if len(_SEEN) >= 4 * _CACHE_MAX:
        _SEEN.clear()
    _SEEN[key] = True
    return False


def store(key, program) -> None:
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = program

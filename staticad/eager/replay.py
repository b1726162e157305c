"""Replaying the backward graph of a recorded tape that has the same structure as a previous one.

A training loop records the same tape step after step: the same ops, shapes, dtypes, attributes
and constants, with new values. The VJP rules are graph code whose structure depends only on
those (never on non-constant values: in graph mode those are placeholders), so the backward graph
built for one tape serves every tape with the same key. It is kept as a flat program: slots for
the values it reads from the tape, numpy steps, and the values it folded once (rule constants,
``full``...). ``backward`` builds the graph on a miss (:func:`compile`) and replays it on a hit.
"""
from __future__ import annotations

import numpy as np

from ..graph import CONSTANT

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
        self.sources, self.n, self.steps, self.outputs = sources, n, steps, outputs

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
        for impl, attrs, args, dtype, out in self.steps:
            v = impl(*[env[a] for a in args], **attrs)
            if v.__class__ is not np.ndarray:
                v = np.asarray(v)
            if v.dtype != dtype:
                v = v.astype(dtype)
            env[out] = v
        return [env[o] for o in self.outputs]


def compile(path, seed, roots) -> Program:
    """The program computing ``roots`` (graph nodes over the tape's values) from a tape like ``path``."""
    where = {id(seed): (2, 0, 0)}
    for i, node in enumerate(path):
        where.setdefault(id(node), (0, i, 0))
        for j, inp in enumerate(node.inputs):
            if inp._eager:
                where.setdefault(id(inp), (1, i, j))
    slot_of: dict = {}
    folded: dict = {}  # id(node) -> value known when compiling
    sources, steps = [], []

    def slot(node):
        return slot_of[id(node)]

    order, seen = [], set()
    for root in roots:  # inputs before users
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if id(node) in where or node._eager or node.op is CONSTANT:
                continue
            for inp in node.inputs:
                stack.append((inp, False))
    for node in order:
        loc = where.get(id(node))
        if loc is not None:
            slot_of[id(node)] = len(slot_of)
            sources.append((slot_of[id(node)], loc))
            continue
        if node._eager:
            raise Uncacheable(f"an eager value outside the tape ({node.name})")
        if node.op is CONSTANT:
            folded[id(node)] = node.attrs["value"]
        elif node.op.extra.get("multi_output") or node.op.extra.get("projection"):
            raise Uncacheable("control flow")
        elif all(id(i) in folded for i in node.inputs):  # rule constants: computed once
            v = np.asarray(node.op.impl(*[folded[id(i)] for i in node.inputs], **node.attrs))
            folded[id(node)] = v if v.dtype == node.dtype else v.astype(node.dtype)
        else:
            for i in node.inputs:
                if id(i) in folded and id(i) not in slot_of:
                    slot_of[id(i)] = len(slot_of)
                    sources.append((slot_of[id(i)], (3, folded[id(i)], 0)))
            slot_of[id(node)] = len(slot_of)
            steps.append((node.op.impl, node.attrs, tuple(slot(i) for i in node.inputs), node.dtype,
                          slot_of[id(node)]))
            continue
    outputs = []
    for r in roots:
        if id(r) not in slot_of:  # a folded root (e.g. a constant gradient)
            slot_of[id(r)] = len(slot_of)
            sources.append((slot_of[id(r)], (3, folded[id(r)], 0)))
        outputs.append(slot(r))
    return Program(sources, len(slot_of), steps, outputs)


def lookup(key):
    return _CACHE.get(key)


def store(key, program) -> None:
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = program

"""Writing the graph document (see :mod:`staticad.serialize` for the format)."""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os

import numpy as np

from ..control.subgraph import SubGraph
from ..graph import Tensor, walk
from .format import FORMAT, VERSION


def dumps(fn_or_outputs, inputs=None, updates=None, name=None) -> str:
    """The document of a ``sad.Function`` or of outputs (tensor / nested list, tuple, dict) as text.

    For outputs, ``inputs`` defaults to the placeholders they reach (in graph order) and
    ``updates`` to none.
    """
    return encode(fn_or_outputs, inputs, updates, name)[0]


def encode(fn_or_outputs, inputs=None, updates=None, name=None) -> tuple:
    """``(text, variables)``: :func:`dumps`'s text and the Variables it holds in document order
    (the order of :attr:`LoadedGraph.variables` after loading it)."""
    from ..function import Function, _check_updates

    if isinstance(fn_or_outputs, Function):
        fn = fn_or_outputs
        if inputs is not None or updates is not None:
            raise TypeError("save: inputs/updates come from the Function; pass them only with outputs")
        structure, ins, ups, name = fn._structure, fn.inputs, fn.updates, name or fn.name
    else:
        from ..function import _check_inputs, _flatten_outputs
        structure = fn_or_outputs
        _, flat = _flatten_outputs(structure)
        ups = _check_updates(updates)
        if inputs is None:
            roots = flat + [v for _, v in ups]
            inputs = [n for n in walk(roots) if n.op.name == "placeholder"]
        ins = _check_inputs(inputs)
        name = name or "function"
    writer = _Writer()
    doc = writer.document(name, ins, structure, ups)
    return json.dumps(doc, allow_nan=False, separators=(",", ":")), writer.variables


def save(path, fn_or_outputs, inputs=None, updates=None, name=None) -> None:
    """Write the JSON document of ``fn_or_outputs`` (see :func:`dumps`) to ``path``."""
    text = dumps(fn_or_outputs, inputs=inputs, updates=updates, name=name)
    with open(os.fspath(path), "w", encoding="utf-8") as fh:
        fh.write(text)


def document_hash(text: str) -> str:
    """SHA-256 of a document's text (workers key their compiled functions by it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Writer:
    def __init__(self):
        self.entries: list = []
        self.index: dict = {}  # id(node or SubGraph) -> entry index
        self.variables: list = []

    def document(self, name, inputs, structure, updates) -> dict:
        roots = list(inputs) + _flat_tensors(structure) + [t for pair in updates for t in pair]
        self._add_all(roots)
        return {
            "format": FORMAT, "version": VERSION, "name": str(name),
            "nodes": self.entries,
            "inputs": [self.index[id(p)] for p in inputs],
            "outputs": self._structure(structure),
            "updates": [[self.index[id(v)], self.index[id(t)]] for v, t in updates],
        }

    def _add_all(self, roots):
        """Post-order over nodes and sub-graphs (a node after its inputs and sub-graphs, a sub-graph
        after its params and outputs), with an explicit stack: no recursion over graph size."""
        def deps(item):
            if isinstance(item, SubGraph):
                return list(item.params) + list(item.outputs)
            return list(item.inputs) + [v for v in _attr_leaves(item.attrs) if isinstance(v, SubGraph)]

        for root in roots:
            stack = [(root, False)]
            while stack:
                item, expanded = stack.pop()
                if id(item) in self.index:
                    continue
                if expanded:
                    self.index[id(item)] = len(self.entries)
                    self.entries.append(self._entry(item))
                    continue
                stack.append((item, True))
                stack.extend((d, False) for d in reversed(deps(item)) if id(d) not in self.index)

    def _entry(self, item) -> dict:
        if isinstance(item, SubGraph):
            return {"subgraph": item.name, "params": [self.index[id(p)] for p in item.params],
                    "outputs": [self.index[id(o)] for o in item.outputs]}
        node = item
        e = {"op": node.op.name, "name": node.name, "shape": list(node.shape), "dtype": node.dtype.name}
        if node.op.name == "constant":
            e["data"] = _b64(node.attrs["value"])
        elif node.op.name == "variable":
            e["data"] = _b64(node._storage)
            e["trainable"] = bool(node.trainable)
            self.variables.append(node)
        elif node.op.name != "placeholder":
            e["inputs"] = [self.index[id(i)] for i in node.inputs]
            try:
                e["attrs"] = {str(k): self._attr(v) for k, v in node.attrs.items()}
            except TypeError as exc:
                raise ValueError(f"save: node {node.name!r} (op {node.op.name}): {exc}") from None
        return e

    def _attr(self, v):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, (float, np.floating)):
            return float(v) if math.isfinite(v) else {"float": repr(float(v))}
        if isinstance(v, tuple):
            return {"tuple": [self._attr(x) for x in v]}
        if isinstance(v, list):
            return [self._attr(x) for x in v]
        if isinstance(v, np.dtype):
            return {"dtype": v.name}
        if isinstance(v, SubGraph):
            return {"subgraph": self.index[id(v)]}
        raise TypeError(f"attribute value of type {type(v).__name__} has no JSON encoding")

    def _structure(self, obj):
        """Nested outputs (small, user-written structures: recursion is fine here)."""
        if obj is None:
            return None
        if isinstance(obj, Tensor):
            return {"tensor": self.index[id(obj)]}
        if isinstance(obj, dict):
            for k in obj:
                if not isinstance(k, str):
                    raise ValueError(f"save: output dict keys must be strings, got {k!r}")
            return {"dict": [[k, self._structure(v)] for k, v in obj.items()]}
        kind = "list" if type(obj) is list else "tuple"  # namedtuples are saved as tuples
        return {kind: [self._structure(v) for v in obj]}


def _attr_leaves(attrs: dict):
    stack = list(attrs.values())
    while stack:
        v = stack.pop()
        if isinstance(v, (tuple, list)):
            stack.extend(v)
        else:
            yield v


def _flat_tensors(obj) -> list:
    from ..function import _flatten_outputs
    return [] if obj is None else _flatten_outputs(obj)[1]


def _b64(arr) -> str:
    arr = np.ascontiguousarray(arr)
    return base64.b64encode(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()).decode("ascii")



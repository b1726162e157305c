"""``sad.save`` / ``sad.load``: graphs as a versioned JSON document (API.md §10); never pickle.

The document (``format`` ``"staticad.graph"``, ``version`` 1)::

    {"format": "staticad.graph", "version": 1, "name": "...",
     "nodes":   [entry, ...],           # each entry's references point to earlier entries only
     "inputs":  [i, ...],               # placeholders, in call order
     "outputs": structure,              # {"tensor": i} | {"list": [..]} | {"tuple": [..]} | {"dict": [[key, ..], ..]} | null
     "updates": [[variable i, value i], ...]}

An entry is a node ``{"op", "name", "shape", "dtype", "inputs", "attrs"}`` (sources carry
``"data"``: base64 of the little-endian bytes, and Variables ``"trainable"``) or a control-flow
sub-graph ``{"subgraph": name, "params": [i..], "outputs": [i..]}``. One table holds the outer
graph and every (nested) sub-graph, so nodes they share (constants) stay shared.

Attribute values are JSON data with explicit tags for what JSON lacks: ``{"tuple": [..]}``,
``{"dtype": "float32"}``, ``{"float": "inf"}`` (non-finite floats), ``{"subgraph": i}``.

Loading resolves op names against the registry only, rebuilds each node with the op's shape
inference and checks it against the recorded shape/dtype; nothing of the graph is run. Any
defect (truncation, unknown op or tag, wrong input count, shape mismatch, bad base64 length, a
newer version) is a ``ValueError`` naming the entry and what is wrong.
"""
from .format import FORMAT, VERSION  # noqa: F401
from .reader import LoadedGraph, load, loads  # noqa: F401
from .writer import document_hash, dumps, encode, save  # noqa: F401

__all__ = ["FORMAT", "VERSION", "LoadedGraph", "load", "loads", "document_hash", "dumps", "encode", "save"]

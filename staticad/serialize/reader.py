"""Reading the graph document back: validated entry by entry, nothing run (see
:mod:`staticad.serialize`)."""
from __future__ import annotations

import base64
import inspect
import json
import math
import os

import numpy as np

from ..control.subgraph import SubGraph
from ..graph import Tensor, Variable
from ..registry import REGISTRY
from .format import _NODE_KEYS, FORMAT, SOURCES, VERSION


class LoadedGraph:
    """What :func:`load` returns: the rebuilt graph, not compiled.

    ``inputs`` (placeholders in call order), ``outputs`` (the saved structure of tensors; a
    namedtuple comes back as a tuple), ``updates`` (``(Variable, tensor)`` pairs), ``variables``
    (every Variable, in document order, holding the saved values), ``name``.
    ``function(backend="numba")`` compiles it with ``sad.function``.
    """

    def __init__(self, name, inputs, outputs, updates, variables):
        self.name, self.inputs, self.outputs, self.updates, self.variables = name, inputs, outputs, updates, variables

    def variable(self, name: str) -> Variable:
        """The Variable saved under ``name`` (``KeyError`` if none or several have it)."""
        found = [v for v in self.variables if v.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} Variables are named {name!r}")
        return found[0]

    def function(self, backend="numba", name=None):
        from ..function import function
        return function(self.inputs, self.outputs, updates=self.updates or None, backend=backend,
                        name=name or self.name)

    def __repr__(self):
        return (f"<staticad.LoadedGraph {self.name!r}: {len(self.inputs)} inputs, "
                f"{len(self.updates)} updates, {len(self.variables)} Variables>")


def loads(text) -> LoadedGraph:
    """Rebuild the graph of a document given as text (or bytes)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not a staticad graph document: not UTF-8 ({exc})") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a staticad graph document (truncated or not JSON): {exc}") from None
    except RecursionError:
        raise ValueError("graph document: JSON nested too deeply") from None
    try:
        return _Reader(doc).graph()
    except RecursionError:  # attribute values and output structures nest only a few levels
        raise ValueError("graph document: an attribute or the outputs nest too deeply") from None


def load(path) -> LoadedGraph:
    """Read the document at ``path`` (see :class:`LoadedGraph` for what comes back)."""
    with open(os.fspath(path), "rb") as fh:
        return loads(fh.read())


def _control_types(opname, inputs, attrs):
    """The ``types`` a control node must carry (its outputs' static types are read from it, so a
    tampered one would slip past inference); ``None`` for other ops."""
    from ..control.ops import COUNT_DTYPE

    if opname == "cond":
        outs = [(o.shape, o.dtype) for o in attrs["true"].outputs]
        if outs != [(o.shape, o.dtype) for o in attrs["false"].outputs]:
            return ()  # branches disagree: matches no recorded types
        return tuple(outs)
    if opname == "while_loop":
        n, record = attrs["n_vars"], attrs["record"]
        if not isinstance(n, int) or not isinstance(record, tuple) or not all(
                isinstance(r, int) and 0 <= r < n <= len(inputs) for r in record):
            return ()
        return (tuple((t.shape, t.dtype) for t in inputs[:n]) + (((), COUNT_DTYPE),)
                + tuple(((None,) + tuple(inputs[r].shape), inputs[r].dtype) for r in record))
    return None


def _reject_constant(name):
    raise ValueError(f"not a staticad graph document: bare {name} is not JSON (non-finite floats are tagged)")


class _Reader:
    def __init__(self, doc):
        self.doc = doc
        self.items: list = []  # Tensor or SubGraph per entry

    def fail(self, msg):
        raise ValueError(msg)

    def graph(self) -> LoadedGraph:
        doc = self.doc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            self.fail(f"not a staticad graph document: 'format' must be {FORMAT!r}")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.fail(f"graph document: invalid version {version!r}")
        if version > VERSION:
            self.fail(f"graph document version {version} is newer than this staticad reads (up to {VERSION})")
        extra = set(doc) - {"format", "version", "name", "nodes", "inputs", "outputs", "updates"}
        if extra:
            self.fail(f"graph document: unknown keys {sorted(extra)}")
        for key in ("nodes", "inputs", "updates"):
            if not isinstance(doc.get(key), list):
                self.fail(f"graph document: {key!r} must be a list")
        if "outputs" not in doc:
            self.fail("graph document: 'outputs' is missing")
        for k, entry in enumerate(doc["nodes"]):
            if not isinstance(entry, dict):
                self.fail(f"graph document: entry {k} is not an object")
            self.items.append(self._subgraph(k, entry) if "subgraph" in entry else self._node(k, entry))
        inputs = [self._ref(i, "inputs", kinds=("placeholder",)) for i in doc["inputs"]]
        if len(set(inputs)) != len(inputs):
            self.fail("graph document: a placeholder is listed twice in 'inputs'")
        outputs = self._outputs(doc["outputs"])
        updates = []
        for pair in doc["updates"]:
            if not isinstance(pair, list) or len(pair) != 2:
                self.fail(f"graph document: update {pair!r} is not a [variable, value] pair")
            updates.append((self._ref(pair[0], "updates", kinds=("variable",)), self._ref(pair[1], "updates")))
        variables = [t for t in self.items if isinstance(t, Variable)]
        name = doc.get("name", "function")
        if not isinstance(name, str):
            self.fail("graph document: 'name' must be a string")
        return LoadedGraph(name, inputs, outputs, updates, variables)

    # --- entries ------------------------------------------------------------------------------
    def _ref(self, i, where, kinds=None):
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(self.items):
            self.fail(f"graph document: {where} refers to entry {i!r}, which is not an earlier entry")
        t = self.items[i]
        if isinstance(t, SubGraph):
            self.fail(f"graph document: {where} refers to entry {i}, a sub-graph, where a node is needed")
        if kinds is not None and t.op.name not in kinds:
            self.fail(f"graph document: {where} refers to entry {i} ({t.name!r}, op {t.op.name}); "
                      f"expected {' or '.join(kinds)}")
        return t

    def _subgraph(self, k, e):
        if set(e) != {"subgraph", "params", "outputs"} or not isinstance(e["subgraph"], str) \
                or not isinstance(e["params"], list) or not isinstance(e["outputs"], list):
            self.fail(f"graph document: entry {k} is a malformed sub-graph")
        where = f"sub-graph entry {k} ({e['subgraph']!r})"
        params = [self._ref(i, where, kinds=("placeholder",)) for i in e["params"]]
        outputs = [self._ref(i, where) for i in e["outputs"]]
        return SubGraph(e["subgraph"], params, outputs)

    def _node(self, k, e):
        extra = set(e) - _NODE_KEYS
        if extra:
            self.fail(f"graph document: entry {k} has unknown keys {sorted(extra)}")
        opname, name = e.get("op"), e.get("name")
        if not isinstance(opname, str) or not isinstance(name, str):
            self.fail(f"graph document: entry {k} needs string 'op' and 'name'")
        where = f"node {k} ({name!r}, op {opname})"
        op = REGISTRY.get(opname)
        if op is None:
            self.fail(f"graph document: {where}: unknown op {opname!r} (not in the op registry)")
        shape = self._shape(e.get("shape"), where)
        dtype = self._dtype(e.get("dtype"), where)
        if opname in SOURCES:
            if "inputs" in e or "attrs" in e:
                self.fail(f"graph document: {where}: a source node has no inputs or attrs")
            if opname == "placeholder":
                if "data" in e or "trainable" in e:
                    self.fail(f"graph document: {where}: a placeholder carries no data")
                return Tensor(op, (), {}, shape, dtype, name)
            if None in shape:
                self.fail(f"graph document: {where}: a {opname} needs a fully known shape, got {shape}")
            arr = self._array(e.get("data"), shape, dtype, where)
            if opname == "constant":
                if "trainable" in e:
                    self.fail(f"graph document: {where}: a constant has no 'trainable'")
                arr.setflags(write=False)
                return Tensor(op, (), {"value": arr}, shape, dtype, name)
            trainable = e.get("trainable", True)
            if not isinstance(trainable, bool):
                self.fail(f"graph document: {where}: 'trainable' must be true or false")
            return Variable(arr, name=name, trainable=trainable)
        if "data" in e or "trainable" in e:
            self.fail(f"graph document: {where}: only sources carry data")
        ins, attrs = e.get("inputs"), e.get("attrs", {})
        if not isinstance(ins, list) or not isinstance(attrs, dict):
            self.fail(f"graph document: {where}: 'inputs' must be a list and 'attrs' an object")
        inputs = [self._ref(i, where) for i in ins]
        attrs = {key: self._attr(v, f"{where} attr {key!r}") for key, v in attrs.items()}
        try:
            inspect.signature(op.infer).bind(*inputs, **attrs)
        except TypeError as exc:
            self.fail(f"graph document: {where}: {len(inputs)} inputs and attrs {sorted(attrs)} do not "
                      f"fit op {opname} ({exc})")
        try:
            got_shape, got_dtype = op.infer(*inputs, **attrs)
        except Exception as exc:  # the op's own check of its operands (shapes, dtypes, attrs)
            self.fail(f"graph document: {where}: shape inference rejects it: {exc}")
        if tuple(got_shape) != shape or np.dtype(got_dtype) != dtype:
            self.fail(f"graph document: {where}: recorded shape {shape} {dtype} but inference gives "
                      f"{tuple(got_shape)} {np.dtype(got_dtype)}")
        want_types = _control_types(opname, inputs, attrs)
        if want_types is not None and attrs.get("types") != want_types:
            self.fail(f"graph document: {where}: attr 'types' does not match its sub-graphs and inputs")
        return Tensor(op, inputs, attrs, shape, dtype, name)

    # --- values -------------------------------------------------------------------------------
    def _shape(self, s, where):
        if not isinstance(s, list) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in s):
            self.fail(f"graph document: {where}: 'shape' must be a list of non-negative ints or null, got {s!r}")
        return tuple(s)

    def _dtype(self, name, where):
        try:
            dt = np.dtype(name) if isinstance(name, str) else None
        except TypeError:
            dt = None
        if dt is None or dt.kind not in "biuf" or dt.name != name:
            self.fail(f"graph document: {where}: unsupported dtype {name!r}")
        return dt

    def _array(self, data, shape, dtype, where):
        if not isinstance(data, str):
            self.fail(f"graph document: {where}: 'data' must be a base64 string")
        try:
            raw = base64.b64decode(data.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError) as exc:
            self.fail(f"graph document: {where}: 'data' is not valid base64 ({exc})")
        want = dtype.itemsize * math.prod(shape)
        if len(raw) != want:
            self.fail(f"graph document: {where}: 'data' holds {len(raw)} bytes; shape {shape} of {dtype} "
                      f"needs {want}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)

    def _attr(self, v, where):
        """Decode a tagged attribute value (nesting is the attribute's own, a few levels)."""
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self._attr(x, where) for x in v]
        if isinstance(v, dict) and len(v) == 1:
            (tag, x), = v.items()
            if tag == "tuple" and isinstance(x, list):
                return tuple(self._attr(y, where) for y in x)
            if tag == "dtype":
                return self._dtype(x, where)
            if tag == "float" and x in ("inf", "-inf", "nan"):
                return float(x)
            if tag == "subgraph":
                if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < len(self.items) \
                        or not isinstance(self.items[x], SubGraph):
                    self.fail(f"graph document: {where}: {x!r} is not an earlier sub-graph entry")
                return self.items[x]
        self.fail(f"graph document: {where}: unknown attribute encoding {json.dumps(v)[:80]}")

    def _outputs(self, s):
        if s is None:
            return None
        if isinstance(s, dict) and len(s) == 1:
            (tag, x), = s.items()
            if tag == "tensor":
                return self._ref(x, "outputs")
            if tag in ("list", "tuple") and isinstance(x, list):
                items = [self._outputs(y) for y in x]
                return items if tag == "list" else tuple(items)
            if tag == "dict" and isinstance(x, list) and all(
                    isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in x):
                return {key: self._outputs(y) for key, y in x}
        self.fail(f"graph document: 'outputs' has an unknown structure {json.dumps(s)[:80]}")


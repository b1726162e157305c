"""The graph IR: every value is a :class:`Tensor` node (op, inputs, attrs, shape, dtype).

Nodes are immutable once built. Source nodes are placeholders (fed per call), constants
(baked into the graph) and :class:`Variable` s (state shared by every function using them).
"""
from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any, Iterable, Optional

import numpy as np

from . import dtypes as _dt
from .registry import REGISTRY, Op, defop

_ids = itertools.count()

Shape = tuple  # of int or None


def _format_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Tensor:
    """A node of the computation graph. Build with ops; evaluate with :func:`staticad.function`."""

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "name", "id", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators
    _eager = False  # staticad.eager.EagerTensor (a node that holds its value) sets it

    def __init__(self, op: Op, inputs: tuple, attrs: dict, shape: Shape, dtype, name: Optional[str] = None):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.id = next(_ids)
        self.name = name if name is not None else f"{op.name}_{self.id}"

    # --- basic properties -------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def static_size(self) -> Optional[int]:
        """Number of elements if every dim is known, else ``None``."""
        if any(d is None for d in self.shape):
            return None
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self):
        return f"<Tensor {self.name} op={self.op.name} shape={_format_shape(self.shape)} dtype={self.dtype}>"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise TypeError(
            f"the truth value of symbolic tensor {self.name!r} is not known while the graph is built; "
            "use sad.cond(pred, true_fn, false_fn, ...) for `if` and sad.while_loop(cond_fn, body_fn, vals) "
            "for `while` on tensor values"
        )

    def __len__(self):
        if not self.shape:
            raise TypeError(f"len() of 0-d tensor {self.name!r}")
        if self.shape[0] is None:
            raise TypeError(f"len() of tensor {self.name!r} whose first dim is only known at run time")
        return self.shape[0]

    def __iter__(self):
        raise TypeError(f"tensor {self.name!r} is not iterable while the graph is built; index it instead")

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"symbolic tensor {self.name!r} has no value yet: compile it with sad.function(...) and call that"
        )

    def _no_value(self, what):
        raise TypeError(
            f"{what} of symbolic tensor {self.name!r} is not known while the graph is built: compile it "
            "with sad.function(...) and call that (use sad.cond / sad.while_loop for control flow on values)"
        )

    def __float__(self): self._no_value("float()")
    def __int__(self): self._no_value("int()")
    def __complex__(self): self._no_value("complex()")
    def __index__(self): self._no_value("the integer value")

    def __setitem__(self, index, value):
        raise TypeError(
            f"tensor {self.name!r} is immutable: build a new tensor instead of assigning into it "
            "(e.g. sad.where(mask, new, old) or sad.concatenate of slices)"
        )

    # --- operators: the op library (staticad.ops, a layer above) fills ``_OPS`` when imported -
    def __add__(self, o): return _OPS.add(self, o)
    def __radd__(self, o): return _OPS.add(o, self)
    def __sub__(self, o): return _OPS.subtract(self, o)
    def __rsub__(self, o): return _OPS.subtract(o, self)
    def __mul__(self, o): return _OPS.multiply(self, o)
    def __rmul__(self, o): return _OPS.multiply(o, self)
    def __truediv__(self, o): return _OPS.divide(self, o)
    def __rtruediv__(self, o): return _OPS.divide(o, self)
    def __pow__(self, o): return _OPS.power(self, o)
    def __rpow__(self, o): return _OPS.power(o, self)
    def __matmul__(self, o): return _OPS.matmul(self, o)
    def __rmatmul__(self, o): return _OPS.matmul(o, self)
    def __neg__(self): return _OPS.negative(self)
    def __pos__(self): return self
    def __abs__(self): return _OPS.abs(self)
    def __lt__(self, o): return _OPS.less(self, o)
    def __le__(self, o): return _OPS.less_equal(self, o)
    def __gt__(self, o): return _OPS.greater(self, o)
    def __ge__(self, o): return _OPS.greater_equal(self, o)
    def __getitem__(self, index): return _OPS.getitem(self, index)

    @property
    def T(self):
        return _OPS.transpose(self)

    def sum(self, axis=None, keepdims=False): return _OPS.sum(self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return _OPS.mean(self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _OPS.max(self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _OPS.min(self, axis=axis, keepdims=keepdims)
    def prod(self, axis=None, keepdims=False): return _OPS.prod(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _OPS.reshape(self, shape)

    def astype(self, dtype): return _OPS.astype(self, dtype)
    def transpose(self, *axes): return _OPS.transpose(self, axes or None)
    def norm(self): return _OPS.norm(self)
    def exp(self): return _OPS.exp(self)
    def log(self): return _OPS.log(self)
    def sin(self): return _OPS.sin(self)
    def cos(self): return _OPS.cos(self)
    def tanh(self): return _OPS.tanh(self)
    def sqrt(self): return _OPS.sqrt(self)
    def abs(self): return _OPS.abs(self)
    def relu(self): return _OPS.relu(self)
    def sigmoid(self): return _OPS.sigmoid(self)
    def square(self): return _OPS.square(self)
    def dot(self, o): return _OPS.dot(self, o)
    def detach(self): return _OPS.stop_gradient(self)


_OPS = None  # the module staticad.ops, set by it: the IR does not import the op library


def bind_ops(module) -> None:
    """Called by :mod:`staticad.ops` once imported: Tensor operators call its ops."""
    global _OPS
    _OPS = module


# --- source nodes ------------------------------------------------------------------------
def _no_infer(*a, **k):  # source nodes are built directly, never inferred
    raise RuntimeError("source nodes have no inference rule")


def _no_impl(*a, **k):
    raise RuntimeError("source nodes are bound by the backend, not evaluated")


def _input_dims(node, ins):
    # an unknown dim of an input is a symbol of its own, known at call time
    return tuple(d if d is not None else ("in", node.id, i) for i, d in enumerate(node.shape))


def _static_dims(node, ins):
    return tuple(node.shape)


PLACEHOLDER = defop("placeholder", _no_infer, _no_impl, source=True, symshape=_input_dims,
                    doc="symbolic input fed at call time")
CONSTANT = defop("constant", _no_infer, _no_impl, source=True, symshape=_static_dims, doc="value baked into the graph")
VARIABLE = defop("variable", _no_infer, _no_impl, source=True, symshape=_static_dims, doc="stateful parameter")


def _check_shape_spec(shape) -> Shape:
    if shape is None:
        raise TypeError("placeholder shape must be a tuple (use () for a scalar and None for a dim known at call time)")
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    out = []
    for d in shape:
        if d is None:
            out.append(None)
        elif isinstance(d, (int, np.integer)) and d >= 0:
            out.append(int(d))
        else:
            raise ValueError(f"invalid dimension {d!r} in shape {shape!r}: use non-negative ints or None")
    return tuple(out)


def placeholder(shape, dtype="float32", name=None) -> Tensor:
    """Symbolic input; a ``None`` dim is fixed only at call time."""
    return Tensor(PLACEHOLDER, (), {}, _check_shape_spec(shape), _dt.as_dtype(dtype), name)


def constant(value, dtype=None, name=None) -> Tensor:
    """Constant node holding ``value`` (anything numpy can convert)."""
    if isinstance(value, Tensor):
        raise TypeError(f"sad.constant needs a concrete value, got symbolic tensor {value.name!r}")
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.default_dtype_for_python(value)
    arr = np.array(value, dtype=dt)  # a private copy: later edits of `value` do not leak in
    arr.setflags(write=False)
    return Tensor(CONSTANT, (), {"value": arr}, arr.shape, arr.dtype, name)


#: id -> weak reference of every Variable that has a device copy. Empty unless a device backend
#: ran: host backends check it once per call instead of every Variable's ``_host``.
DEVICE_COPIES: dict = {}


class Variable(Tensor):
    """Stateful parameter shared by every function that uses it.

    ``.value`` returns a copy; ``.assign(array)`` writes (shape and dtype checked). Calls of
    compiled functions that read or update a Variable hold its lock (like TF1's ``use_locking``):
    concurrent calls touching the same Variables run one at a time, so no update is lost and
    no call reads a half-written value.

    Storage (the one owner of a Variable's value): ``_host`` is the value as a numpy array, or
    ``None`` while a device copy holds a newer value; ``_device`` is that device copy (any object
    with ``copy_to_host()``, e.g. a numba device array, kept by the cuda backend) or ``None``.
    ``_storage`` reads the host array (fetching a newer device value first) and, assigned, makes
    an array the value and drops the device copy. Per-call paths read ``_host`` directly while
    :data:`DEVICE_COPIES` is empty.
    """

    __slots__ = ("_host", "_device", "trainable", "_lock")

    def __init__(self, value, name=None, dtype=None, trainable=True):
        if isinstance(value, Tensor):
            raise TypeError("sad.Variable needs a concrete initial value, not a symbolic tensor")
        dt = _dt.as_dtype(dtype) if dtype is not None else _dt.default_dtype_for_python(value)
        arr = np.array(value, dtype=dt)
        super().__init__(VARIABLE, (), {}, arr.shape, arr.dtype, name)
        if name is None:
            self.name = f"Variable_{self.id}"
        self._host = arr
        self._device = None
        self.trainable = bool(trainable)
        self._lock = threading.Lock()

    @property
    def _storage(self) -> np.ndarray:
        """The value (the host array itself, not a copy)."""
        host = self._host
        if host is None:  # the device copy is newer
            host = self._host = self._device.copy_to_host().reshape(self.shape)
        return host

    @_storage.setter
    def _storage(self, arr) -> None:
        self._host = arr
        if self._device is not None:  # stale now: a device backend uploads the value on its next call
            self._device = None
            DEVICE_COPIES.pop(id(self), None)

    def _set_device(self, buf, newer: bool) -> None:
        """Record a device copy of the value; ``newer``: it replaces the host value (fetched when
        a host reader asks)."""
        if newer:
            self._host = None
        self._device = buf
        key = id(self)
        if key not in DEVICE_COPIES:
            DEVICE_COPIES[key] = weakref.ref(self, lambda _, key=key: DEVICE_COPIES.pop(key, None))

    @property
    def value(self) -> np.ndarray:
        with self._lock:
            return self._storage.copy()

    def assign(self, array) -> None:
        arr = np.asarray(array)
        if arr.shape != self.shape:
            raise ValueError(
                f"Variable {self.name!r}: cannot assign shape {_format_shape(arr.shape)}; "
                f"expected {_format_shape(self.shape)}"
            )
        if not np.can_cast(arr.dtype, self.dtype, casting="same_kind"):
            raise TypeError(f"Variable {self.name!r}: cannot assign dtype {arr.dtype} to dtype {self.dtype}")
        new = np.array(arr, dtype=self.dtype)
        with self._lock:
            self._storage = new

    def __repr__(self):
        return f"<Variable {self.name} shape={_format_shape(self.shape)} dtype={self.dtype}>"


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def lift(value, dtype=None) -> Tensor:
    """Turn an operand into a tensor; Python scalars become constants of ``dtype``."""
    if isinstance(value, Tensor):
        return value
    return constant(value, dtype=dtype)


_eager_apply = None  # staticad.eager.tensor.eager_apply, set when that module is imported


def apply(op: Op, inputs: Iterable[Tensor], **attrs) -> Tensor:
    """Build a node of ``op`` after inferring its static shape and dtype.

    With an eager input (:mod:`staticad.eager`) the op runs at once instead (same rules)."""
    inputs = tuple(inputs)
    eager = False
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op.name}: expected tensors, got {type(t).__name__}")
        eager = eager or t._eager
    if eager:  # only EagerTensors set _eager, and importing staticad.eager sets the hook
        return _eager_apply(op, inputs, attrs)
    return build_node(op, inputs, attrs)


def build_node(op: Op, inputs: tuple, attrs: dict) -> Tensor:
    """A graph node of ``op`` (inputs already tensors), its shape and dtype inferred."""
    shape, dtype = op.infer(*inputs, **attrs)
    return Tensor(op, inputs, attrs, shape, dtype)


def broadcast_shapes(*shapes, op_name="broadcast") -> Shape:
    """numpy broadcasting of static shapes with ``None`` (unknown) dims; errors name both shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        dims = [s[i] for s in shapes if len(s) >= -i]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(
                f"{op_name}: shapes " + " and ".join(_format_shape(s) for s in shapes) + " cannot be broadcast together"
            )
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def walk(outputs: Iterable[Tensor], is_leaf=None, follow=None) -> list[Tensor]:
    """All nodes the outputs reach (inputs before users), each once, deterministic order.
    ``is_leaf(node)``: the walk does not go past such nodes (they are included).
    ``follow(inp)``: only inputs for which it is true are walked (default: all)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    for root in outputs:
        if id(root) in seen:
            continue
        stack: list[tuple[Tensor, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if is_leaf is not None and is_leaf(node):
                continue
            for inp in reversed(node.inputs):
                if id(inp) not in seen and (follow is None or follow(inp)):
                    stack.append((inp, False))
    return order


def to_networkx(outputs: Iterable[Tensor]):
    """The graph the outputs reach as a ``networkx.DiGraph`` (edge input -> user)."""
    import networkx as nx

    g = nx.DiGraph()
    for node in walk(outputs):
        g.add_node(node)
        for inp in node.inputs:
            g.add_edge(inp, node)
    return g


__all__ = [
    "Tensor", "Variable", "placeholder", "constant", "lift", "apply", "broadcast_shapes", "walk",
    "to_networkx", "is_tensor", "Any",
]

"""``EagerTensor``: a graph node that also holds its numpy value (define-by-run).

Eager ops are the graph ops themselves: :func:`staticad.graph.apply` hands a node with an eager
input to :func:`eager_apply`, which runs the op's registry entry (its shape/dtype inference,
cached per input shapes/dtypes and attributes, and its numpy ``impl``) at once. When recording
is on and an input requires grad, the result keeps its inputs, so the tensors the user holds
*are* the recorded graph; ``backward`` (:mod:`.tape`) runs the reverse walk of
:mod:`staticad.autodiff` over it, with the same VJP rules, evaluated eagerly.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import dtypes as _dt
from .. import graph as _graph
from ..graph import CONSTANT, Tensor, _format_shape, constant
from ..registry import Op
from ..control import api as _control_api
from . import grad_mode

_ids = itertools.count()


def _no_rule(*a, **k):
    raise RuntimeError("an eager leaf holds its value; it is never inferred or evaluated")


# The op of every eager tensor without recorded history (not registered: it is no computation).
LEAF = Op(name="eager_leaf", infer=_no_rule, impl=_no_rule, doc="an eager tensor without history")

_INFER_CACHE: dict = {}
_INFER_CACHE_MAX = 4096


class EagerTensor(Tensor):
    """A tensor with a value: ops on it compute at once (PyTorch style). Build with
    :func:`staticad.eager.tensor`; differentiate with :meth:`backward`."""

    __slots__ = ("_value", "_requires_grad", "grad", "_version", "_saved", "_freed", "_fn", "_retain")
    _eager = True

    def __init__(self, value: np.ndarray, requires_grad: bool = False):
        # A leaf. Results of ops are made by eager_apply without this (faster) path.
        self.op = LEAF
        self.inputs = ()
        self.attrs = {}
        self._value = value
        self.shape = value.shape
        self.dtype = value.dtype
        self.id = next(_ids)
        self._requires_grad = False
        self.grad = None
        self._version = [0]  # shared with detach()ed aliases of the same array
        self._saved = None   # input versions at record time; None: no recorded history (a leaf)
        self._freed = False
        self._fn = None
        self._retain = False
        if requires_grad:
            self.requires_grad_(True)

    # --- identity and value ---------------------------------------------------------------------
    @property
    def name(self):
        return f"{self.op.name}_{self.id}" if self._saved is not None else f"tensor_{self.id}"

    def numpy(self) -> np.ndarray:
        """A copy of the value."""
        return np.array(self._value, copy=True)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._value.size != 1:
            raise ValueError(f"item(): only one-element tensors have an item, this one has shape "
                             f"{_format_shape(self.shape)}")
        return self._value.item()

    @property
    def data(self) -> "EagerTensor":
        """The value without history (sharing the array, like :meth:`detach`)."""
        return self.detach()

    @property
    def size(self) -> int:
        return int(self._value.size)

    def numel(self) -> int:
        return int(self._value.size)

    def dim(self) -> int:
        return self._value.ndim

    def __array__(self, dtype=None, copy=None):
        v = self._value
        if dtype is not None and np.dtype(dtype) != v.dtype:
            return v.astype(dtype)
        return v.copy() if copy else v

    def __bool__(self):
        if self._value.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {_format_shape(self.shape)} is ambiguous: "
                               "reduce it first (e.g. (t > 0).all() as .sum() > 0, t.max(), t.norm())")
        return bool(self._value)

    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())
    def __index__(self):
        if self._value.ndim or self._value.dtype.kind not in "iub":
            raise TypeError("only integer 0-d tensors can be used as an index")
        return int(self._value)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __format__(self, spec):
        if self._value.ndim == 0 and spec:
            return format(self._value.item(), spec)
        return format(str(self), spec)

    def __repr__(self):
        body = np.array2string(self._value, separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extra += f", dtype={self.dtype}"
        if self._saved is not None:
            extra += f", grad_fn=<{self.grad_fn.name}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __str__ = __repr__

    # --- autograd state -----------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> "EagerTensor":
        """Make this leaf record the ops that use it (in place); returns ``self``."""
        flag = bool(requires_grad)
        if self._saved is not None:
            if not flag:
                raise RuntimeError("requires_grad can only be turned off on a leaf tensor; use t.detach() "
                                   "for a tensor without history")
            return self
        if flag and not _dt.is_float(self.dtype):
            raise RuntimeError(f"only float tensors can require grad, this one has dtype {self.dtype}; "
                               "create it with a float dtype (e.g. dtype='float32')")
        self._requires_grad = flag
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors without recorded history (created by the user, or by ops that did not record)."""
        return self._saved is None

    @property
    def grad_fn(self):
        """The recorded op (``.name`` like ``"SinBackward"``, ``.next_functions``), ``None`` for leaves."""
        if self._saved is None:
            return None
        if self._fn is None:
            self._fn = _TAPE.GradFn(self)
        return self._fn

    def retain_grad(self) -> None:
        """Have backward also fill ``.grad`` of this non-leaf."""
        if self._requires_grad:
            self._retain = True

    def detach(self) -> "EagerTensor":
        """The same value (the same array) without history; never requires grad."""
        t = EagerTensor(self._value)
        t._version = self._version
        return t

    def detach_(self) -> "EagerTensor":
        if self._saved is not None:
            raise RuntimeError("detach_() is only for leaves here; use t = t.detach()")
        self._requires_grad = False
        return self

    def clone(self) -> "EagerTensor":
        from .. import ops
        return ops.multiply(self, 1) if self._requires_grad else EagerTensor(self._value.copy())

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) (times ``gradient`` for a non-scalar ``self``) into ``.grad`` of
        every leaf that requires grad. ``retain_graph`` keeps the recorded graph for another backward;
        ``create_graph`` records the backward itself, so ``.grad`` can be differentiated again."""
        _TAPE.backward(self, gradient, retain_graph, create_graph, inputs)

    # --- operators: put `self` first where PyTorch does (the order of next_functions) ----------------
    def __radd__(self, o): return _ops().add(self, o)
    def __rmul__(self, o): return _ops().multiply(self, o)
    def __eq__(self, o): return _ops().equal(self, o)
    def __ne__(self, o): return _ops().not_equal(self, o)
    __hash__ = Tensor.__hash__

    def all(self): return bool(np.all(self._value))  # a Python bool (PyTorch: a bool tensor)
    def any(self): return bool(np.any(self._value))
    def t(self): return _ops().transpose(self)
    def pow(self, e): return _ops().power(self, e)
    def mul(self, o): return _ops().multiply(self, o)
    def add(self, o): return _ops().add(self, o)

    # --- in-place ops -------------------------------------------------------------------------------
    def __iadd__(self, o): return _inplace(self, lambda a: _ops().add(a, o), "add_")
    def __isub__(self, o): return _inplace(self, lambda a: _ops().subtract(a, o), "sub_")
    def __imul__(self, o): return _inplace(self, lambda a: _ops().multiply(a, o), "mul_")
    def __itruediv__(self, o): return _inplace(self, lambda a: _ops().divide(a, o), "div_")
    def __ipow__(self, o): return _inplace(self, lambda a: _ops().power(a, o), "pow_")

    def add_(self, o, alpha=1):
        return _inplace(self, lambda a: _ops().add(a, o if alpha == 1 else _ops().multiply(o, alpha)), "add_")

    def sub_(self, o, alpha=1):
        return _inplace(self, lambda a: _ops().subtract(a, o if alpha == 1 else _ops().multiply(o, alpha)), "sub_")

    def mul_(self, o): return _inplace(self, lambda a: _ops().multiply(a, o), "mul_")
    def div_(self, o): return _inplace(self, lambda a: _ops().divide(a, o), "div_")

    def zero_(self):
        """Set every element to 0 in place (e.g. ``x.grad.zero_()``)."""
        return self.fill_(0)

    def fill_(self, value):
        return _inplace(self, lambda a: _ops().full_like(a, value), "fill_")

    def copy_(self, src):
        return _inplace(self, lambda a: _ops().astype(_ops().broadcast_to(src, a.shape), a.dtype), "copy_")

    def __setitem__(self, index, value):
        from ..ops import shape as shape_ops

        def assign(a):
            items = shape_ops._normalize_index(index, a.ndim)
            key = tuple(shape_ops._slice_key(it) for it in items)
            mask = np.zeros(a.shape, bool)
            mask[tuple(shape_ops._from_key(k) for k in key)] = True
            region = _ops().getitem(a, index).shape
            v = _ops().astype(_ops().broadcast_to(value, region), a.dtype)
            # the rule reads only ref's shape: a stand-in keeps t itself out of this node's inputs
            placed = _graph.apply(shape_ops.GETITEM_GRAD, (v, EagerTensor(a._value)), index=key)
            return _ops().where(constant(mask), placed, a)
        _inplace(self, assign, "setitem")


def _ops():
    return _graph._OPS  # staticad.ops (bound when it was imported)


_TAPE = None  # staticad.eager.tape, which uses this module: it binds itself when imported


def bind_tape(module) -> None:
    global _TAPE
    _TAPE = module


def _inplace(t: EagerTensor, compute, what: str) -> EagerTensor:
    """``t <- compute(t)`` in place (the array itself changes, as do aliases from detach()).

    Like PyTorch: an error on a leaf that requires grad (while recording); a recorded ``t`` is
    re-based onto the new node (its old self becomes a snapshot input); the version bump makes a
    pending backward that saved ``t`` fail, naming the op.
    """
    recording = grad_mode.is_grad_enabled()
    if recording and t._requires_grad and t._saved is None:
        raise RuntimeError(
            f"a leaf tensor that requires grad is used in an in-place operation ({what}); wrap the update "
            "in `with sad.no_grad():` (e.g. an optimizer step) or work on t.detach()")
    result = compute(t)
    if not isinstance(result, EagerTensor):
        result = to_eager(result)
    if result.shape != t.shape:
        raise RuntimeError(f"{what}: the result has shape {_format_shape(result.shape)}, which cannot be "
                           f"written into a tensor of shape {_format_shape(t.shape)}")
    if not np.can_cast(result.dtype, t.dtype, casting="same_kind"):
        raise RuntimeError(f"{what}: result dtype {result.dtype} cannot be written into dtype {t.dtype}")
    if result._saved is not None:  # recorded: t becomes the new node, over a snapshot of old t
        old = EagerTensor.__new__(EagerTensor)
        _copy_node(old, t)
        old._value = t._value.copy()
        old._version = [t._version[0]]
        result.inputs = tuple(old if i is t else i for i in result.inputs)
        _copy_node(t, result)
        t._requires_grad = True
    elif recording and t._saved is not None:  # e.g. fill_ on a recorded tensor: no gradient flows back
        version = t._version
        _copy_node(t, EagerTensor(t._value))
        t._version = version
    t._value[...] = result._value
    t._version[0] += 1
    return t


def _copy_node(dst: EagerTensor, src: EagerTensor) -> None:
    dst.op, dst.inputs, dst.attrs = src.op, src.inputs, src.attrs
    dst.shape, dst.dtype, dst.id = src.shape, src.dtype, src.id
    dst._value, dst._requires_grad, dst.grad = src._value, src._requires_grad, None
    dst._version, dst._saved, dst._freed, dst._fn, dst._retain = src._version, src._saved, src._freed, None, False


# --- the eager path of graph.apply ------------------------------------------------------------------
def _const_value(t: Tensor):
    """The value of a graph node that needs no input (constants, ``full``, ...), else ``None``."""
    if t._eager:
        return t._value
    op = t.op
    if op is CONSTANT:
        return t.attrs["value"]
    if op.name in ("placeholder", "variable") or op.extra.get("multi_output") or op.extra.get("projection"):
        return None
    args = []
    for i in t.inputs:
        v = _const_value(i)
        if v is None:
            return None
        args.append(v)
    out = np.asarray(op.impl(*args, **t.attrs))
    return out if out.dtype == t.dtype else out.astype(t.dtype)


def _infer(op: Op, inputs, attrs):
    """``op.infer`` memoized on (op, input shapes/dtypes, attributes): eager code repeats them."""
    try:
        # explicit tuples for the common arities: a comprehension costs a frame per op
        if len(inputs) == 1:
            a = inputs[0]
            key = (op, a.shape, a.dtype)
        elif len(inputs) == 2:
            a, b = inputs
            key = (op, a.shape, a.dtype, b.shape, b.dtype)
        else:
            key = (op, len(inputs), *[(t.shape, t.dtype) for t in inputs])
        if attrs:  # the value's class too: 1, 1.0 and True are equal keys
            key = (*key, *[(k, v.__class__, v) for k, v in attrs.items()])
        hit = _INFER_CACHE.get(key)
    except TypeError:  # an unhashable attribute: infer every time
        return op.infer(*inputs, **attrs)
    if hit is None:
        hit = op.infer(*inputs, **attrs)
        if len(_INFER_CACHE) >= _INFER_CACHE_MAX:
            _INFER_CACHE.clear()
        _INFER_CACHE[key] = hit
    return hit


def eager_apply(op: Op, inputs: tuple, attrs: dict):
    """Run ``op`` now on inputs of which at least one is eager; record it when it may need a gradient."""
    mode = grad_mode._state.__dict__
    if mode.get("defer"):  # inside backward: build the rule graph, evaluate later
        return _deferred_node(op, inputs, attrs)
    vals, versions, wants_grad = [], [], False
    for t in inputs:
        if t._eager:
            vals.append(t._value)
            versions.append(t._version[0])
            wants_grad = wants_grad or t._requires_grad
            continue
        v = _const_value(t)
        if v is None:  # a graph input beside an eager value: we are tracing; the value is a constant
            return _graph.build_node(op, tuple(constant(i._value) if i._eager else i for i in inputs), attrs)
        vals.append(v)
        versions.append(0)
    shape, dtype = _infer(op, inputs, attrs)
    try:
        value = op.impl(*vals, **attrs)
    except Exception as exc:
        shapes = ", ".join(_format_shape(np.shape(v)) for v in vals)
        raise ValueError(f"{op.name}({shapes}) failed: {exc}") from exc
    if value.__class__ is not np.ndarray:
        value = np.asarray(value)
    if value.dtype != dtype:
        value = value.astype(dtype)
    out = EagerTensor.__new__(EagerTensor)
    out.attrs = attrs
    out._value = value
    out.shape = value.shape
    out.dtype = dtype
    out.id = next(_ids)
    out.grad = None
    out._version = [0]
    out._freed = False
    out._fn = None
    out._retain = False
    if wants_grad and dtype.kind == "f" and not op.nondifferentiable and mode.get("enabled", True):
        out.op = op
        out.inputs = inputs
        out._saved = tuple(versions)
        out._requires_grad = True
    else:
        out.op = LEAF
        out.inputs = ()
        out._saved = None
        out._requires_grad = False
    return out


def _deferred_node(op: Op, inputs: tuple, attrs: dict) -> Tensor:
    """A plain graph node over eager inputs (backward evaluates only what the leaves need)."""
    shape, dtype = _infer(op, inputs, attrs)
    t = Tensor.__new__(Tensor)
    t.op, t.inputs, t.attrs, t.shape, t.dtype = op, inputs, attrs, shape, np.dtype(dtype)
    t.id = -1
    t.name = op.name  # no per-node f-string: these nodes live only during one backward
    return t


def evaluate(roots) -> list:
    """Values of graph nodes whose sources are eager tensors and constants (the numpy evaluator of
    the backward graph: shared subexpressions once, nothing the roots do not need)."""
    memo: dict = {}
    for root in roots:
        stack = [root]
        while stack:
            node = stack[-1]
            if id(node) in memo:
                stack.pop()
                continue
            if node._eager:
                memo[id(node)] = node._value
                stack.pop()
                continue
            if node.op is CONSTANT:
                memo[id(node)] = node.attrs["value"]
                stack.pop()
                continue
            pending = [i for i in node.inputs if id(i) not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            value = node.op.impl(*[memo[id(i)] for i in node.inputs], **node.attrs)
            if value.__class__ is not np.ndarray:
                value = np.asarray(value)
            if value.dtype != node.dtype:
                value = value.astype(node.dtype)
            memo[id(node)] = value
    return [memo[id(r)] for r in roots]


# --- conversions and creation -----------------------------------------------------------------------
def to_eager(x, dtype=None) -> EagerTensor:
    """An EagerTensor for ``x`` (an EagerTensor is returned as is; graph nodes must be input-free)."""
    if isinstance(x, EagerTensor):
        return x if dtype is None or x.dtype == np.dtype(dtype) else _ops().astype(x, dtype)
    if isinstance(x, Tensor):
        v = _const_value(x)
        if v is None:
            raise TypeError(f"symbolic tensor {x.name!r} has no value in eager mode")
        return EagerTensor(np.array(v, dtype=dtype) if dtype is not None else v)
    return tensor(x, dtype=dtype)


def tensor(value, dtype=None, requires_grad=False) -> EagerTensor:
    """An EagerTensor holding a copy of ``value`` (Python floats become float32, ints int64)."""
    if isinstance(value, Tensor):
        if isinstance(value, EagerTensor):
            value = value._value
        else:
            raise TypeError(f"sad.eager.tensor needs a concrete value, got symbolic tensor {value.name!r}")
    dt = _dt.as_dtype(dtype) if dtype is not None else _dt.default_dtype_for_python(value)
    return EagerTensor(np.array(value, dtype=dt), requires_grad=requires_grad)


def as_tensor(value, dtype=None) -> EagerTensor:
    """An EagerTensor sharing ``value``'s memory when it is already an array of the dtype (like
    ``torch.as_tensor``/``from_numpy``: later writes to the array show in the tensor); else a copy."""
    if isinstance(value, EagerTensor):
        return value if dtype is None or value.dtype == np.dtype(dtype) else tensor(value, dtype)
    if isinstance(value, np.ndarray) and (dtype is None or value.dtype == np.dtype(dtype)) \
            and value.dtype.kind in "biuf":
        return EagerTensor(value)
    return tensor(value, dtype=dtype)


def _made(t: Tensor, requires_grad: bool) -> EagerTensor:
    return EagerTensor(np.array(_const_value(t)), requires_grad=requires_grad)


def zeros(shape, dtype="float32", requires_grad=False) -> EagerTensor:
    return _made(_ops().zeros(shape, dtype), requires_grad)


def ones(shape, dtype="float32", requires_grad=False) -> EagerTensor:
    return _made(_ops().ones(shape, dtype), requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False) -> EagerTensor:
    return _made(_ops().full(shape, fill_value, dtype), requires_grad)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False) -> EagerTensor:
    return _made(_ops().arange(start, stop, step, dtype), requires_grad)


def linspace(start, stop, num=50, endpoint=True, dtype="float32", requires_grad=False) -> EagerTensor:
    return _made(_ops().linspace(start, stop, num, endpoint, dtype), requires_grad)


def randn(*shape, dtype="float32", requires_grad=False, rng=None) -> EagerTensor:
    """Standard normal samples (``rng``: a ``numpy.random.Generator``; the global numpy one by default)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    draw = rng.standard_normal(shape) if rng is not None else np.random.standard_normal(shape)
    return EagerTensor(np.asarray(draw, dtype=_dt.as_dtype(dtype)), requires_grad=requires_grad)


_graph._eager_apply = eager_apply


_control_api.bind_eager(to_eager)  # fori_loop over eager bounds runs as a Python loop of eager tensors

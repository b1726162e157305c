"""The op registry: every op is one :class:`Op` record, defined once.

An op bundles what every part of staticad needs to know about it:

* ``infer(*inputs, **attrs) -> (shape, dtype)``: static shape/dtype at build time;
  raises ``ValueError``/``TypeError`` naming the offending shapes.
* ``impl(*arrays, **attrs) -> ndarray``: NumPy evaluation (the reference backend).
* ``vjp(g, out, *inputs) -> [cotangent or None per input]``: reverse-mode rule, written
  with graph ops so derivatives are graphs and can be differentiated again.
  Cotangents may have a broadcast shape: the autodiff walker reduces them.
* ``jvp(tangents, out, *inputs) -> tangent or None``: forward-mode rule; ``tangents`` holds
  ``None`` for inputs whose tangent is zero.
* ``expr``: for loop ops that are a plain operator expression, a template (``"({0} + {1})"``)
  that code generators fill: ``{k}`` the value of input k, ``{value}`` the literal of
  ``attrs["value"]`` (fills);
* ``scalar``: for the other elementwise ops, ONE plain Python function of scalars that every
  compiled backend compiles: ``numba.njit`` on CPU, ``numba.cuda.jit(device=True)`` on GPU. It
  may use ``math``, operators and builtins, never a plain Python helper (neither compiler can
  call one; mind a module-level name that shadows a builtin, like ``ops.elementwise.abs``).

and the facts passes and backends read instead of name lists (see the fields below).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

REGISTRY: dict[str, "Op"] = {}


@dataclass(frozen=True)
class Reduction:
    """How a reduction accumulates, for every backend.

    ``combine``: how two partial results combine ("sum", "prod", "max", "min"); ``squares``:
    elements are squared before the sum and the total is square-rooted (norm); ``over``: which
    axes are reduced: "axes" (``attrs["axes"]``), "all", or "like" (down to input 1's shape).
    """
    combine: str
    squares: bool = False
    over: str = "axes"

    @property
    def needs_elements(self) -> bool:
        """max and min have no identity: numpy raises on an empty reduction."""
        return self.combine in ("max", "min")

    def acc_dtype(self, x_dtype) -> np.dtype:
        """The accumulator's dtype for input dtype ``x_dtype``: max/min select an element, so
        they stay in its dtype (exact, also for uint64); sums and products widen to float64/int64."""
        x = np.dtype(x_dtype)
        if self.combine in ("max", "min"):
            return x
        return np.dtype("float64") if x.kind == "f" else np.dtype("int64")

    def identity(self, acc_dtype):
        """The accumulator's initial value (a Python scalar) in ``acc_dtype``."""
        dt = np.dtype(acc_dtype)
        if self.combine in ("sum", "prod"):
            return 0 if self.combine == "sum" else 1
        low = self.combine == "max"
        if dt.kind == "f":
            return -np.inf if low else np.inf
        if dt.kind == "b":
            return not low
        info = np.iinfo(dt)
        return int(info.min if low else info.max)


@dataclass(frozen=True, eq=False)
class Op:
    name: str
    infer: Callable
    impl: Callable
    vjp: Optional[Callable] = None
    jvp: Optional[Callable] = None
    expr: Optional[str] = None
    elementwise: bool = False
    doc: str = ""
    # Ops whose output never carries a derivative (comparisons, sign, ...).
    nondifferentiable: bool = False
    scalar: Optional[Callable] = None
    # Facts the passes and backends read:
    source: bool = False         # a placeholder, constant or Variable: bound by the backend
    loop: bool = False           # a member of fused loop kernels (elementwise, fills, broadcasts)
    reduction: Optional[Reduction] = None  # a sink of fused loop kernels
    # inputs read for their shape only (their values never are); a callable (node) -> indices
    # when it depends on the node
    shape_only_inputs: object = ()
    cheap: bool = False          # recomputing it is cheaper than a store and a load (no libm call)
    commutative: bool = False    # swapping its two operands changes no bit of the result
    aliases_input: bool = False  # a library step whose result may share memory with input 0
    control: bool = False        # a control-flow node (sub-graphs), lowered by the control codegens
    # batching rule (node, values, batched flags, size) -> (value, batched); None: not batchable
    # (elementwise ops without one use the generic elementwise rule)
    batch: Optional[Callable] = None
    # symbolic-shape rule (node, input symbolic shapes) -> symbolic shape (see passes.symshape);
    # None: elementwise ops broadcast their inputs, other ops get dims of their own
    symshape: Optional[Callable] = None
    extra: dict = field(default_factory=dict)

    def shape_only(self, node) -> tuple:
        """Indices of ``node``'s inputs read for their shape only."""
        s = self.shape_only_inputs
        if not callable(s):
            return s
        s = s(node)
        # a range stays one: ``k in`` it is O(1) (a concatenate's gradient part has every part as
        # an input read for its shape: a tuple made per input was cubic in the number of parts)
        return s if isinstance(s, range) else tuple(s)

    def __repr__(self):
        return f"Op({self.name})"


def defop(name, infer, impl, vjp=None, jvp=None, **kw) -> Op:
    """Create and register an op; registering a name twice is a bug."""
    if name in REGISTRY:
        raise RuntimeError(f"op {name!r} registered twice")
    if kw.get("scalar") is not None:
        kw.setdefault("loop", True)
    if kw.get("elementwise") and kw.get("expr") is not None:
        kw.setdefault("loop", True)
    op = Op(name=name, infer=infer, impl=impl, vjp=vjp, jvp=jvp, **kw)
    REGISTRY[name] = op
    return op


def get_op(name: str) -> Op:
    return REGISTRY[name]

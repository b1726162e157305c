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
* ``expr``: for elementwise ops, a scalar expression template (``"math.sin({0})"``) that
  code generators fill with operand names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

REGISTRY: dict[str, "Op"] = {}


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
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        return f"Op({self.name})"


def defop(name, infer, impl, vjp=None, jvp=None, **kw) -> Op:
    """Create and register an op; registering a name twice is a bug."""
    if name in REGISTRY:
        raise RuntimeError(f"op {name!r} registered twice")
    op = Op(name=name, infer=infer, impl=impl, vjp=vjp, jvp=jvp, **kw)
    REGISTRY[name] = op
    return op


def get_op(name: str) -> Op:
    return REGISTRY[name]

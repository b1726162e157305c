"""The control-flow ops. Each control node is *multi-output*: its value is a tuple, read by
``tuple_get`` projections; ``attrs["types"]`` lists each output's ``(static shape, dtype)``.

* ``while_loop(*init, *captures)``: attrs ``cond`` and ``body`` (sub-graphs over loop variables
  then captures), ``n_vars``, ``max_iterations`` and ``record``: loop-variable indices whose value
  at the start of every iteration is stacked (for the backward pass). Outputs: the final loop
  variables, the trip count (int64 scalar), then one stack per recorded variable
  (shape ``(trip count,) + var shape``).
* ``cond(pred, *operands, *captures)``: attrs ``true``/``false`` (sub-graphs over operands then
  captures), ``n_operands``. Outputs: the taken branch's.
* ``stack_read(stack, k)`` = ``stack[k]`` and its gradient ``stack_scatter(g, k, ref)`` (zeros of
  ``ref``'s shape with row ``k`` = ``g``), used by the backward loops.
"""
from __future__ import annotations

import numpy as np

from ..graph import _format_shape, apply
from ..registry import defop

MARKER = ((), np.dtype(bool))  # the static type of the tuple-valued node itself
COUNT_DTYPE = np.dtype("int64")


def _check_inputs(what, subs, values):
    for sub in subs:
        for p, v in zip(sub.params, values):
            if v.dtype != p.dtype or len(v.shape) != len(p.shape):
                raise TypeError(f"{what}: input {v.name} {_format_shape(v.shape)} {v.dtype} does not fit "
                                f"{sub.name}'s parameter {p.name} {_format_shape(p.shape)} {p.dtype}")


def _infer_while(*inputs, cond, body, n_vars, record, max_iterations, types):
    _check_inputs("while_loop", (cond, body), inputs)
    return MARKER


def _infer_cond(pred, *inputs, true, false, n_operands, types):
    _check_inputs("cond", (true, false), inputs)
    return MARKER


def _run_time_check(what, k, value, like):
    if value.shape != like.shape or value.dtype != like.dtype:
        raise ValueError(f"{what}: loop variable {k} changed from shape {_format_shape(like.shape)} {like.dtype} "
                         f"to {_format_shape(value.shape)} {value.dtype} at run time")


def _while_impl(*args, cond, body, n_vars, record, max_iterations, types):
    vals, caps = list(args[:n_vars]), list(args[n_vars:])
    stacks = [[] for _ in record]   # grows by one entry per iteration
    count = 0
    while max_iterations is None or count < max_iterations:
        if not bool(cond.run(vals + caps)[0]):
            break
        for s, r in zip(stacks, record):
            s.append(vals[r])
        new = body.run(vals + caps)
        for k, (v, old) in enumerate(zip(new, vals)):
            _run_time_check("while_loop", k, v, old)
        vals = new
        count += 1
    out = [np.asarray(v) for v in vals] + [np.array(count, COUNT_DTYPE)]
    for s, r in zip(stacks, record):
        like = np.asarray(args[r])
        out.append(np.stack(s) if s else np.empty((0,) + like.shape, like.dtype))
    return tuple(out)


def _cond_impl(pred, *args, true, false, n_operands, types):
    return tuple(np.asarray(v) for v in (true if bool(pred) else false).run(list(args)))


#: The derivative rules (``while_vjp``, ...) and batching rules (``_while``, ...), defined in
#: :mod:`.rules` and :mod:`.batching` (which build on these ops and on autodiff) and registered
#: here when they are imported (by ``staticad.control``).
RULES: dict = {}


def _rule(name, module="rules"):
    """The rule ``name`` of ``staticad.control.<module>``, looked up when first called."""
    def call(*args):
        return RULES[name](*args)
    return call


WHILE_LOOP = defop(
    "while_loop", _infer_while, _while_impl, vjp=_rule("while_vjp"), jvp=_rule("while_jvp"),
    batch=_rule("_while", "batching"),
    control=True, extra={"multi_output": True, "fold": False},
    doc="data-dependent loop over sub-graphs; outputs: loop variables, trip count, recorded stacks")

COND = defop(
    "cond", _infer_cond, _cond_impl, vjp=_rule("cond_vjp"), jvp=_rule("cond_jvp"), batch=_rule("_cond", "batching"),
    control=True, extra={"multi_output": True, "fold": False},
    doc="runs only the taken branch (a sub-graph); outputs: that branch's outputs")

TUPLE_GET = defop(
    "tuple_get", lambda t, index: t.attrs["types"][index], lambda t, index: t[index],
    control=True, batch=_rule("_tuple_get", "batching"), extra={"projection": True, "fold": False},
    doc="output `index` of a multi-output node (the autodiff walkers route derivatives through it)")


def tuple_get(node, index: int):
    return apply(TUPLE_GET, (node,), index=int(index))


def _np_stack_scatter(g, k, ref):
    out = np.zeros(ref.shape, g.dtype)
    out[int(k)] = g
    return out


STACK_READ = defop(
    "stack_read", lambda stack, k: (stack.shape[1:], stack.dtype), lambda stack, k: stack[int(k)],
    vjp=lambda g, out, stack, k: [stack_scatter(g, k, stack), None],
    jvp=lambda ts, out, stack, k: None if ts[0] is None else stack_read(ts[0], k), control=True,
    batch=_rule("_stack_read", "batching"),
    doc="row k (an int64 scalar tensor) of a recorded stack")

STACK_SCATTER = defop(
    "stack_scatter", lambda g, k, ref: (ref.shape, g.dtype), _np_stack_scatter,
    vjp=lambda gg, out, g, k, ref: [stack_read(gg, k), None, None],
    jvp=lambda ts, out, g, k, ref: None if ts[0] is None else stack_scatter(ts[0], k, ref),
    control=True, shape_only_inputs=(2,), symshape=lambda node, ins: ins[2], batch=_rule("_stack_scatter", "batching"),
    doc="zeros of ref's run-time shape with row k = g (the gradient of stack_read)")


def stack_read(stack, k):
    return apply(STACK_READ, (stack, k))


def stack_scatter(g, k, ref):
    return apply(STACK_SCATTER, (g, k, ref))

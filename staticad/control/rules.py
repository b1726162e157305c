"""Derivative rules of the control ops, written with control ops (so they differentiate again).

Every rule first differentiates the sub-graph in a closed world (fresh placeholders for its
params, the ordinary walkers of :mod:`staticad.autodiff`), giving a derivative sub-graph; the
new loop or cond then inlines it on its own values. Differentiating on the real values instead
would let derivatives leak into the outer graph (a capture computed from another one).

Reverse mode through ``while_loop``: a *recording* copy of the loop also outputs the trip count
``N`` and, for the loop variables the body's VJP reads, a stack of their values at the start of
every iteration; a backward ``while_loop`` then runs ``k = N-1 .. 0`` carrying the cotangents of
the float loop variables and the gradients of the captures the VJP reaches, applying the body's
VJP to ``stack[k]``. Forward mode carries (values, tangents) through one loop or cond whose
sub-graphs compute both. ``cond``'s VJP is a ``cond`` over the branches' VJPs.
"""
from __future__ import annotations

from .. import dtypes as _dt
from .. import ops
from ..graph import apply, placeholder, walk
from .api import build_cond, build_while
from .ops import RULES, WHILE_LOOP, stack_read, tuple_get
from .subgraph import SubGraph, inline


def _ad():
    from .. import autodiff
    return autodiff


def _like(t, name):
    return placeholder(t.shape, t.dtype, name=name)


def _vjp_graph(sub, outs_idx, wrt_idx, partial):
    """``(params, cotangent params, grads)``: the VJP of ``sub``'s outputs ``outs_idx`` w.r.t. its
    params ``wrt_idx``, on fresh placeholders (``None`` grads where nothing flows, if ``partial``)."""
    ps = [_like(p, f"p{i}") for i, p in enumerate(sub.params)]
    outs = inline(sub, ps)
    cts = [_like(outs[k], f"ct{k}") for k in outs_idx]
    grads = _ad()._backprop([outs[k] for k in outs_idx], cts, [ps[i] for i in wrt_idx], partial=partial)
    return ps, cts, grads


def _jvp_graph(sub, outs_idx, wrt_idx):
    """``(params, tangent params, outputs, output tangents)`` of ``sub`` on fresh placeholders."""
    ps = [_like(p, f"p{i}") for i, p in enumerate(sub.params)]
    outs = inline(sub, ps)
    tans = [_like(ps[i], f"t{i}") for i in wrt_idx]
    touts = _ad()._forward([outs[k] for k in outs_idx], [ps[i] for i in wrt_idx], tans)
    return ps, tans, outs, touts


def _apply(name, params, outputs, values):
    return inline(SubGraph(name, params, outputs), values)


# --- while_loop: reverse mode ---------------------------------------------------------------------
def _recording(out, record):
    """``out`` itself when it records ``record`` already, else the same loop (same inputs and
    sub-graphs) recording ``record`` too: :func:`staticad.passes.merge_loop_recordings` then lets
    the primal outputs share it, so the forward loop runs once."""
    a = out.attrs
    n = a["n_vars"]
    if set(record) <= set(a["record"]):
        return out, {r: n + 1 + a["record"].index(r) for r in record}
    record = tuple(sorted(set(record) | set(a["record"])))
    types = tuple(a["types"][:n + 1]) + tuple(((None,) + tuple(out.inputs[r].shape), out.inputs[r].dtype)
                                              for r in record)
    node = apply(WHILE_LOOP, out.inputs, **dict(a, record=record, types=types))
    return node, {r: n + 1 + k for k, r in enumerate(record)}


def while_vjp(gs, out, *inputs):
    a = out.attrs
    n = a["n_vars"]
    init, caps = list(inputs[:n]), list(inputs[n:])
    fvars = [i for i in range(n) if _dt.is_float(init[i].dtype)]
    stack_cts = {r: gs[n + 1 + k] for k, r in enumerate(a["record"]) if gs[n + 1 + k] is not None}
    if not fvars or (all(gs[i] is None for i in fvars) and not stack_cts):
        return [None] * len(inputs)
    fcaps = [n + j for j, c in enumerate(caps) if _dt.is_float(c.dtype)]
    ps, cts, grads = _vjp_graph(a["body"], fvars, fvars + fcaps, partial=True)
    nf = len(fvars)
    gcaps = [j for j, g in zip(fcaps, grads[nf:]) if g is not None]   # captures that get gradients
    kept = [g for g in grads[:nf] if g is not None] + [g for g in grads[nf:] if g is not None]
    reads = set(walk(kept))
    record = tuple(i for i in range(n) if ps[i] in reads)  # what the backward pass reads per iteration
    fwd, stack_at = _recording(out, record)
    count = tuple_get(fwd, n)
    stacks = {r: tuple_get(fwd, s) for r, s in stack_at.items()}
    ct0 = [gs[i] if gs[i] is not None else _ad()._zero(init[i]) for i in fvars]
    acc0 = [_ad()._zero(inputs[j]) for j in gcaps]

    def backward_body(k, *state):
        ct, acc = list(state[:nf]), list(state[nf:])
        k1 = k - 1
        xs = [stack_read(stacks[i], k1) if i in stacks else ps[i] for i in range(n)]  # ps[i]: never read
        vals = _apply("while_body_vjp", ps + cts, kept, xs + caps + ct)
        new_ct, it = [], iter(vals)
        for p, i in enumerate(fvars):
            c = next(it) if grads[p] is not None else ops.zeros_like(ct[p])
            if i in stack_cts:  # the stacked value of this iteration has a cotangent of its own
                c = c + stack_read(stack_cts[i], k1)
            new_ct.append(c)
        return [k1] + new_ct + [s + g for s, g in zip(acc, it)]

    bwd = build_while(lambda k, *state: k > 0, backward_body, [count] + ct0 + acc0)
    result = [None] * len(inputs)
    for p, i in enumerate(fvars):
        result[i] = tuple_get(bwd, 1 + p)
    for q, j in enumerate(gcaps):
        result[j] = tuple_get(bwd, 1 + nf + q)
    return result


# --- while_loop: forward mode ---------------------------------------------------------------------
def while_jvp(ts, out, *inputs):
    a = out.attrs
    n, record = a["n_vars"], a["record"]
    init, caps = list(inputs[:n]), list(inputs[n:])
    fvars = [i for i in range(n) if _dt.is_float(init[i].dtype)]
    tcaps = [n + j for j, c in enumerate(caps) if ts[n + j] is not None and _dt.is_float(c.dtype)]
    ps, tans, outs, touts = _jvp_graph(a["body"], fvars, fvars + tcaps)
    t0 = [ts[i] if ts[i] is not None else _ad()._zero(init[i]) for i in fvars]
    nf = len(fvars)
    cond = a["cond"]

    def body_fn(*state):
        xs, tx = list(state[:n]), list(state[n:])
        return _apply("while_body_jvp", ps + tans, outs + touts, xs + caps + tx + [ts[j] for j in tcaps])

    frec = [r for r in record if r in fvars]
    new_record = tuple(record) + tuple(n + fvars.index(r) for r in frec)
    new = build_while(lambda *state: inline(cond, list(state[:n]) + caps)[0], body_fn, init + t0,
                      a["max_iterations"], record=new_record)
    base = n + nf + 1 + len(record)  # where the tangent stacks start among new's outputs
    result = [None] * len(a["types"])
    for p, i in enumerate(fvars):
        result[i] = tuple_get(new, n + p)
    for q, r in enumerate(frec):
        result[n + 1 + record.index(r)] = tuple_get(new, base + q)
    return result


# --- cond ------------------------------------------------------------------------------------------
def cond_vjp(gs, out, pred, *rest):
    a = out.attrs
    m = a["n_operands"]
    fouts = [k for k, (_, dt) in enumerate(a["types"]) if _dt.is_float(dt)]
    wrt = [i for i, t in enumerate(rest) if _dt.is_float(t.dtype)]  # float operands and captures
    none = [None] * (1 + len(rest))
    if not wrt or all(gs[k] is None for k in fouts):
        return none
    cts = [gs[k] if gs[k] is not None else _ad()._zero(tuple_get(out, k)) for k in fouts]
    operands, caps = list(rest[:m]), list(rest[m:])

    def branch(sub):
        ps, cps, grads = _vjp_graph(sub, fouts, wrt, partial=False)
        return lambda *args: _apply(f"{sub.name}_vjp", ps + cps, grads, list(args[:m]) + caps + list(args[m:]))

    node, _ = build_cond(pred, branch(a["true"]), branch(a["false"]), operands + cts)
    for p, i in enumerate(wrt):
        none[1 + i] = tuple_get(node, p)
    return none


def cond_jvp(ts, out, pred, *rest):
    a = out.attrs
    m = a["n_operands"]
    operands, caps = list(rest[:m]), list(rest[m:])
    wrt = [i for i, t in enumerate(rest) if ts[1 + i] is not None and _dt.is_float(t.dtype)]
    fouts = [k for k, (_, dt) in enumerate(a["types"]) if _dt.is_float(dt)]
    n_out = len(a["types"])
    top = [i for i in wrt if i < m]      # tangents that travel as operands
    tcap = [i for i in wrt if i >= m]    # tangents of captures (captured again)

    def branch(sub):
        ps, tans, outs, touts = _jvp_graph(sub, fouts, top + tcap)

        def fn(*args):
            xs, tx = list(args[:m]), list(args[m:])
            return _apply(f"{sub.name}_jvp", ps + tans, outs + touts, xs + caps + tx + [ts[1 + i] for i in tcap])
        return fn

    node, _ = build_cond(pred, branch(a["true"]), branch(a["false"]), operands + [ts[1 + i] for i in top])
    result = [None] * n_out
    for p, k in enumerate(fouts):
        result[k] = tuple_get(node, n_out + p)
    return result


RULES.update(while_vjp=while_vjp, while_jvp=while_jvp, cond_vjp=cond_vjp, cond_jvp=cond_jvp)

"""The implicit-construction columns of ``staticad bench --compare eager,jit``.

* ``eager``: the workload written PyTorch style with :mod:`staticad.eager` (values at once,
  ``backward``, an eager optimizer), interpreted op by op with numpy;
* ``jit``: the same computation as an implicit-style function compiled by
  ``sad.jit(fn, backend="numba")``; its first call traces and compiles (``first_call_seconds``).

Builders take a :class:`~staticad.bench.workloads.Case` and return ``(fn, args)`` whose calls
return numpy arrays, like the other columns (stateful workloads update their parameters).
"""
from __future__ import annotations

import numpy as np

import staticad as sad

E = sad.eager
KINDS = ("eager", "jit")


# --- eager ---------------------------------------------------------------------------------------
def _eager_scalar(case):
    def step(x):
        t = E.tensor(x, requires_grad=True)
        y = t ** 2 + 3 * t + 1
        y.backward()
        return t.grad.numpy()

    return step, [case.inputs["x"]]


def _eager_chain(case):
    def step(x):
        t = E.as_tensor(x).requires_grad_()
        loss = ((sad.sin(t) * 2 + 1) ** 2 * sad.exp(-t * t) + sad.tanh(t)).sum()
        loss.backward()
        return t.grad.numpy()

    return step, [case.inputs["x"]]


def _eager_mlp(case):
    params = [E.tensor(case.params[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    opt = sad.optim.SGD(lr=case.meta["lr"], params=params)

    def step(x, target):
        W1, b1, W2, b2 = params
        opt.zero_grad(set_to_none=True)
        prediction = sad.relu(E.as_tensor(x) @ W1 + b1) @ W2 + b2  # as torch.from_numpy: no copy
        loss = ((E.as_tensor(target) - prediction) ** 2).sum()
        loss.backward()
        opt.step()
        return loss.numpy()

    return step, [case.inputs["x"], case.inputs["target"]]


def _eager_linreg(case):
    w = E.tensor(case.params["w"], requires_grad=True)
    b = E.tensor(case.params["b"], requires_grad=True)

    def step(x, y):
        w.grad = b.grad = None
        loss = ((E.as_tensor(x) @ w + b - E.as_tensor(y)) ** 2).mean()
        loss.backward()
        return [loss.numpy(), w.grad.numpy(), b.grad.numpy()]

    return step, [case.inputs["x"], case.inputs["y"]]


def _hessian_f(x):
    return (sad.exp(x) * sad.sin(x)).sum() + (x @ x) ** 2


def _eager_hessian(case):
    def step(x):
        return E.functional.hessian(_hessian_f, x).numpy()

    return step, [case.inputs["x"]]


# --- jit (implicit-style functions, traced once and compiled with numba) ----------------------------
def _jit_scalar(case):
    @sad.jit
    def step(x):
        return sad.grad(x ** 2 + 3 * x + 1, x)

    return step, [case.inputs["x"]]


def _jit_chain(case):
    @sad.jit
    def step(x):
        return sad.grad(((sad.sin(x) * 2 + 1) ** 2 * sad.exp(-x * x) + sad.tanh(x)).sum(), x)

    return step, [case.inputs["x"]]


def mlp_step(x, target, W1, b1, W2, b2, lr):
    """One SGD step, functionally: the loss and the new parameters."""
    prediction = sad.relu(x @ W1 + b1) @ W2 + b2
    loss = ((target - prediction) ** 2).sum()
    grads = sad.grad(loss, [W1, b1, W2, b2])
    return [loss] + [p - g * lr for p, g in zip([W1, b1, W2, b2], grads)]


def _jit_mlp(case):
    lr = case.meta["lr"]
    params = [case.params[k].copy() for k in ("W1", "b1", "W2", "b2")]
    jitted = sad.jit(lambda x, target, W1, b1, W2, b2: mlp_step(x, target, W1, b1, W2, b2, lr))

    def step(x, target):
        loss, *params[:] = jitted(x, target, *params)
        return loss

    return step, [case.inputs["x"], case.inputs["target"]]


def _jit_linreg(case):
    w, b = case.params["w"], case.params["b"]

    @sad.jit
    def f(x, y, w, b):
        loss = ((x @ w + b - y) ** 2).mean()
        return [loss] + list(sad.grad(loss, [w, b]))

    return (lambda x, y: f(x, y, w, b)), [case.inputs["x"], case.inputs["y"]]


def _jit_hessian(case):
    f = sad.jit(lambda x: sad.hessian(_hessian_f(x), x))
    return f, [case.inputs["x"]]


BUILDERS = {
    "eager": {"scalar": _eager_scalar, "chain": _eager_chain, "mlp": _eager_mlp, "mlp-wide": _eager_mlp,
              "linreg": _eager_linreg, "hessian": _eager_hessian},
    "jit": {"scalar": _jit_scalar, "chain": _jit_chain, "mlp": _jit_mlp, "mlp-wide": _jit_mlp,
            "linreg": _jit_linreg, "hessian": _jit_hessian},
}


def supports(kind: str, workload: str) -> bool:
    return workload in BUILDERS.get(kind, {})


def build(kind: str, workload: str, case):
    return BUILDERS[kind][workload](case)

"""Optional comparison columns for ``staticad bench --compare torch,jax``.

PyTorch runs eagerly (autograd, no compilation): ``torch`` on the CPU, ``torch-cuda`` on the GPU
(the column the cuda backend's figures are compared with: parameters stay on the device, each
call copies its inputs in and its outputs back, as the cuda backend's calls do). JAX runs
``jax.jit`` of the same function on its default device (the GPU where jax has one), its compile
time reported like staticad's: jit + first call. Neither package is ever required:
:func:`availability` says why a column has to be skipped, and every import happens only when
the column is actually run.

Each builder takes a workload name and a :class:`~staticad.bench.workloads.Case` and returns
``(fn, args)`` whose calls return NumPy arrays, like the other columns.
"""
from __future__ import annotations

import importlib
import importlib.util

import numpy as np

FRAMEWORKS = ("torch", "torch-cuda", "jax", "eager", "jit")  # eager, jit: staticad's implicit side (eager_columns)


def availability(name: str):
    """``(True, version)`` when ``name`` imports, else ``(False, reason)``."""
    if name in ("eager", "jit"):
        return True, "staticad"
    if name == "torch-cuda":
        ok, info = availability("torch")
        if not ok:
            return ok, info
        import torch
        if not torch.cuda.is_available():
            return False, f"torch {info} sees no CUDA GPU (torch.cuda.is_available() is False)"
        return True, f"{info} on {torch.cuda.get_device_name()}"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:  # e.g. a module object without __spec__
        return False, f"{name} cannot be found: {type(exc).__name__}: {exc}".splitlines()[0]
    if spec is None:
        return False, f"{name} is not installed (pip install {name})"
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # a broken install must not break the benchmark
        return False, f"import {name} failed: {type(exc).__name__}: {exc}".splitlines()[0]
    if name == "jax":
        try:
            importlib.import_module("jax.numpy")
        except Exception as exc:
            return False, f"import jax.numpy failed: {type(exc).__name__}: {exc}".splitlines()[0]
    return True, getattr(mod, "__version__", "?")


def build(framework: str, workload: str, case):
    if framework in ("eager", "jit"):
        from . import eager_columns
        return eager_columns.build(framework, workload, case)
    if framework == "torch":
        return _TORCH[workload](case, _Device(None))
    if framework == "torch-cuda":
        return _TORCH[workload](case, _Device("cuda"))
    if framework == "jax":
        return _JAX[workload](case)
    raise ValueError(f"unknown comparison framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")


def supports(framework: str, workload: str) -> bool:
    if framework in ("eager", "jit"):
        from . import eager_columns
        return eager_columns.supports(framework, workload)
    return workload in {"torch": _TORCH, "torch-cuda": _TORCH, "jax": _JAX}.get(framework, {})


# --------------------------------------------------------------------------------------------
# PyTorch eager


class _Device:
    """Where a torch column runs: ``None`` the CPU (tensors share the NumPy arrays' memory), else
    a torch device (inputs copied in, outputs copied back: both synchronize, like a cuda call)."""

    def __init__(self, name):
        import torch  # once, not in the timed calls
        self.torch = torch
        self.name = name

    def tensor(self, a, requires_grad=False):
        """A fresh leaf tensor holding ``a`` (the parameters, the scalar input)."""
        return self.torch.tensor(a, requires_grad=requires_grad, device=self.name)

    def put(self, a):
        """An input of one call."""
        t = self.torch.from_numpy(a)
        return t if self.name is None else t.to(self.name)

    def get(self, t):
        """An output as a NumPy array."""
        t = t.detach()
        return (t if self.name is None else t.cpu()).numpy()


def _torch_scalar(case, dev):
    import torch

    def step(x):
        t = dev.tensor(x, requires_grad=True)
        y = t ** 2 + 3 * t + 1
        (g,) = torch.autograd.grad(y, t)
        return dev.get(g)

    return step, [case.inputs["x"]]


def _torch_chain(case, dev):
    import torch

    def step(x):
        t = dev.put(x).requires_grad_()
        loss = ((torch.sin(t) * 2 + 1) ** 2 * torch.exp(-t * t) + torch.tanh(t)).sum()
        (g,) = torch.autograd.grad(loss, t)
        return dev.get(g)

    return step, [case.inputs["x"]]


def _torch_mlp(case, dev):
    import torch

    params = [dev.tensor(case.params[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    lr = case.meta["lr"]

    def step(x, target):
        W1, b1, W2, b2 = params
        xt, tt = dev.put(x), dev.put(target)
        prediction = torch.relu(xt @ W1 + b1) @ W2 + b2
        loss = ((tt - prediction) ** 2).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(g * lr)
        return dev.get(loss)

    return step, [case.inputs["x"], case.inputs["target"]]


def _torch_linreg(case, dev):
    import torch

    w = dev.tensor(case.params["w"], requires_grad=True)
    b = dev.tensor(case.params["b"], requires_grad=True)

    def step(x, y):
        xt, yt = dev.put(x), dev.put(y)
        loss = ((xt @ w + b - yt) ** 2).mean()
        gw, gb = torch.autograd.grad(loss, [w, b])
        return [dev.get(loss), dev.get(gw), dev.get(gb)]

    return step, [case.inputs["x"], case.inputs["y"]]


def _torch_hessian(case, dev):
    import torch
    from torch.autograd.functional import hessian

    def f(x):
        return (torch.exp(x) * torch.sin(x)).sum() + (x @ x) ** 2

    def step(x):
        return dev.get(hessian(f, dev.put(x)))

    return step, [case.inputs["x"]]


_TORCH = {"scalar": _torch_scalar, "chain": _torch_chain, "mlp": _torch_mlp, "mlp-wide": _torch_mlp,
          "linreg": _torch_linreg, "hessian": _torch_hessian}


# --------------------------------------------------------------------------------------------
# JAX (jax.jit)


def _jax():
    import jax

    # float64 is needed by the hessian workload; float32 inputs stay float32 with it on.
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    return jax, jnp


def _jax_scalar(case):
    jax, jnp = _jax()
    g = jax.jit(jax.grad(lambda x: x ** 2 + 3 * x + 1))

    def step(x):
        return np.asarray(g(x))

    return step, [case.inputs["x"]]


def _jax_chain(case):
    jax, jnp = _jax()
    g = jax.jit(jax.grad(lambda x: jnp.sum((jnp.sin(x) * 2 + 1) ** 2 * jnp.exp(-x * x) + jnp.tanh(x))))

    def step(x):
        return np.asarray(g(x))

    return step, [case.inputs["x"]]


def _jax_mlp(case):
    jax, jnp = _jax()
    lr = np.float32(case.meta["lr"])

    def loss_fn(params, x, target):
        W1, b1, W2, b2 = params
        prediction = jax.nn.relu(x @ W1 + b1) @ W2 + b2
        return jnp.sum((target - prediction) ** 2)

    @jax.jit
    def train_step(params, x, target):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, target)
        return loss, tuple(p - g * lr for p, g in zip(params, grads))

    state = {"params": tuple(jnp.asarray(case.params[k]) for k in ("W1", "b1", "W2", "b2"))}

    def step(x, target):
        loss, state["params"] = train_step(state["params"], x, target)
        return np.asarray(loss)

    return step, [case.inputs["x"], case.inputs["target"]]


def _jax_linreg(case):
    jax, jnp = _jax()

    def loss_fn(w, b, x, y):
        return jnp.mean((x @ w + b - y) ** 2)

    vg = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
    w, b = jnp.asarray(case.params["w"]), jnp.asarray(case.params["b"])

    def step(x, y):
        loss, (gw, gb) = vg(w, b, x, y)
        return [np.asarray(loss), np.asarray(gw), np.asarray(gb)]

    return step, [case.inputs["x"], case.inputs["y"]]


def _jax_hessian(case):
    jax, jnp = _jax()
    h = jax.jit(jax.hessian(lambda x: jnp.sum(jnp.exp(x) * jnp.sin(x)) + (x @ x) ** 2))

    def step(x):
        return np.asarray(h(x))

    return step, [case.inputs["x"]]


_JAX = {"scalar": _jax_scalar, "chain": _jax_chain, "mlp": _jax_mlp, "mlp-wide": _jax_mlp,
        "linreg": _jax_linreg, "hessian": _jax_hessian}

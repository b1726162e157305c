"""The built-in benchmark workloads of ``staticad bench``.

Each :class:`Workload` knows how to

* make a deterministic :class:`Case` (input arrays and initial parameters) for a size,
* build its graph with the public API (``import staticad as sad``) and compile it for a
  backend (:func:`build_staticad`),
* run the same computation written by hand in NumPy, forward and backward, with no framework
  at all (:func:`build_hand`; the ``numpy-hand`` column, the baseline every ratio refers to).

Every builder returns ``(fn, args)``: the benchmark times ``fn(*args)``. Workloads with
state (the MLP training steps) change their parameters on every call, in every column alike;
each column starts from the same initial parameters, so the outputs of the first calls can be
compared column against column.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import staticad as sad

# --------------------------------------------------------------------------------------------
# data model


@dataclass
class Case:
    """Inputs of one workload at one size. ``inputs`` are fed per call; ``params`` are the
    initial values of the state (Variables in staticad, plain arrays in the hand version)."""

    workload: str
    size: Optional[int]
    label: str
    inputs: dict
    params: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


@dataclass
class Graph:
    """What a workload declares: placeholders, outputs, optional updates, and the call arrays."""

    inputs: list
    outputs: object
    updates: object = None
    args: list = field(default_factory=list)
    variables: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    make_case: Callable[[Optional[int]], Case]
    graph: Callable[[Case], Graph]
    hand: Callable[[Case], tuple]
    sizes: tuple = ()          # default sizes; () means the workload has one fixed size
    full_sizes: tuple = ()     # sizes run with --full (defaults to ``sizes``)
    size_name: str = ""        # what --size changes, e.g. "n" or "N"
    plain_size: bool = True    # a plain ``--size S`` applies (else only ``--size NAME=S``)
    rtol: float = 1e-5
    atol: float = 1e-6
    stateful: bool = False     # True when calls update parameters

    @property
    def sized(self) -> bool:
        return bool(self.sizes)

    def case(self, size: Optional[int] = None) -> Case:
        if not self.sized:
            size = None
        elif size is None:
            size = self.sizes[0]
        return self.make_case(size)


def format_size(n: int) -> str:
    """1000 -> "1e3", 2500000 -> "2.5e6", 1234 -> "1234"."""
    n = int(n)
    if n >= 1000:
        mant, exp = f"{n:e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        if float(mant) * 10 ** int(exp) == n and len(mant) <= 4:
            return f"{mant}e{int(exp)}"
    return str(n)


def _rng(name: str, size) -> np.random.Generator:
    seed = sum(ord(c) * 131 ** i for i, c in enumerate(name)) % (2 ** 31) + (int(size or 0) % 9973)
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# scalar: y = x**2 + 3x + 1, output dy/dx


def _scalar_case(size):
    return Case("scalar", None, "()", {"x": np.float32(2.5)})


def _scalar_graph(case):
    x = sad.placeholder((), "float32", name="x")
    y = x ** 2 + 3 * x + 1
    return Graph([x], sad.grad(y, x), args=[case.inputs["x"]])


def _scalar_hand(case):
    def step(x):
        # forward y = x*x + 3x + 1 (value unused), backward dy/dx = 2x + 3
        return np.float32(2) * x + np.float32(3)

    return step, [case.inputs["x"]]


# --------------------------------------------------------------------------------------------
# chain: loss = sum((sin(x)*2+1)**2 * exp(-x*x) + tanh(x)), output d loss/dx


def _chain_case(n):
    x = _rng("chain", n).standard_normal(n).astype(np.float32)
    return Case("chain", n, f"n={format_size(n)}", {"x": x})


def _chain_graph(case):
    x = sad.placeholder((None,), "float32", name="x")
    loss = sad.sum((sad.sin(x) * 2 + 1) ** 2 * sad.exp(-x * x) + sad.tanh(x))
    return Graph([x], sad.grad(loss, x), args=[case.inputs["x"]])


def _chain_hand(case):
    def step(x):
        s = np.sin(x)
        u = s * np.float32(2) + np.float32(1)
        e = np.exp(-x * x)
        t = np.tanh(x)
        # forward: loss = sum(u*u*e + t); backward of each term
        return (np.float32(4) * u * np.cos(x) * e
                - np.float32(2) * x * (u * u) * e
                + (np.float32(1) - t * t))

    return step, [case.inputs["x"]]


# --------------------------------------------------------------------------------------------
# mlp / mlp-wide: the TinyModel training step (linear-relu-linear, sum of squared errors, SGD)

_MLP_LR = 0.001


def _mlp_case_factory(name, batch, dim_in, hidden, dim_out, x_scale):
    """Cases of one model; ``size`` (when the workload is sized) is the batch, else ``batch``."""
    default = batch

    def make(size):
        batch = size or default
        rng = _rng(name, 0)
        x = (rng.standard_normal((batch, dim_in)) * x_scale).astype(np.float32)
        target = rng.standard_normal((batch, dim_out)).astype(np.float32)
        k1, k2 = 1.0 / np.sqrt(dim_in), 1.0 / np.sqrt(hidden)  # torch.nn.Linear's init
        params = {
            "W1": rng.uniform(-k1, k1, (dim_in, hidden)).astype(np.float32),
            "b1": rng.uniform(-k1, k1, (hidden,)).astype(np.float32),
            "W2": rng.uniform(-k2, k2, (hidden, dim_out)).astype(np.float32),
            "b2": rng.uniform(-k2, k2, (dim_out,)).astype(np.float32),
        }
        return Case(name, size, f"{batch}x{dim_in}-{hidden}-{dim_out}", {"x": x, "target": target}, params,
                    {"lr": _MLP_LR, "batch": batch})

    return make


def _mlp_graph(case):
    batch, dim_in = case.inputs["x"].shape
    dim_out = case.inputs["target"].shape[1]
    v = {k: sad.Variable(a, name=k) for k, a in case.params.items()}
    x = sad.placeholder((None, dim_in), "float32", name="x")
    target = sad.placeholder((None, dim_out), "float32", name="target")
    hidden = sad.relu(x @ v["W1"] + v["b1"])
    prediction = hidden @ v["W2"] + v["b2"]
    loss = ((target - prediction) ** 2).sum()
    updates = sad.optim.SGD(case.meta["lr"]).updates(loss, [v["W1"], v["b1"], v["W2"], v["b2"]])
    return Graph([x, target], loss, updates, args=[case.inputs["x"], case.inputs["target"]], variables=v)


def _mlp_hand(case):
    p = {k: a.copy() for k, a in case.params.items()}
    lr = np.float32(case.meta["lr"])

    def step(x, target):
        W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
        h = x @ W1 + b1
        a = np.maximum(h, np.float32(0))
        pred = a @ W2 + b2
        d = pred - target
        loss = np.sum(d * d)
        gp = np.float32(2) * d
        gW2 = a.T @ gp
        gb2 = gp.sum(axis=0)
        gh = (gp @ W2.T) * (h > 0)
        gW1 = x.T @ gh
        gb1 = gh.sum(axis=0)
        p["W1"] = W1 - gW1 * lr
        p["b1"] = b1 - gb1 * lr
        p["W2"] = W2 - gW2 * lr
        p["b2"] = b2 - gb2 * lr
        return loss

    step.params = p
    return step, [case.inputs["x"], case.inputs["target"]]


# --------------------------------------------------------------------------------------------
# linreg: loss = mean((x@w + b - y)**2), outputs loss and the grads of w and b


def _linreg_case(n):
    rng = _rng("linreg", n)
    x = rng.standard_normal((n, 1)).astype(np.float32)
    y = (2.0 * x + 1.0 + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)
    params = {"w": np.zeros((1, 1), np.float32), "b": np.zeros((1, 1), np.float32)}  # as in the tutorial
    return Case("linreg", n, f"N={format_size(n)}", {"x": x, "y": y}, params)


def _linreg_graph(case):
    w = sad.Variable(case.params["w"], name="w")
    b = sad.Variable(case.params["b"], name="b")
    x = sad.placeholder((None, 1), "float32", name="x")
    y = sad.placeholder((None, 1), "float32", name="y")
    loss = ((x @ w + b - y) ** 2).mean()
    gw, gb = sad.grad(loss, [w, b])
    return Graph([x, y], [loss, gw, gb], args=[case.inputs["x"], case.inputs["y"]], variables={"w": w, "b": b})


def _linreg_hand(case):
    w, b = case.params["w"], case.params["b"]

    def step(x, y):
        r = x @ w + b - y
        loss = np.mean(r * r)
        gr = r * np.float32(2.0 / r.size)
        return [loss, x.T @ gr, gr.sum(axis=0, keepdims=True)]

    return step, [case.inputs["x"], case.inputs["y"]]


# --------------------------------------------------------------------------------------------
# hessian: of sum(exp(x)*sin(x)) + (x@x)**2 w.r.t. x (float64, n = 100 by default, 20 too with --full)


def _hessian_case(n):
    x = _rng("hessian", n).uniform(-1.0, 1.0, n)
    return Case("hessian", n, f"n={n}", {"x": x})


def _hessian_graph(case):
    n = case.inputs["x"].shape[0]
    x = sad.placeholder((n,), "float64", name="x")
    y = sad.sum(sad.exp(x) * sad.sin(x)) + (x @ x) ** 2
    return Graph([x], sad.hessian(y, x), args=[case.inputs["x"]])


def _hessian_hand(case):
    def step(x):
        s = x @ x
        h = 8.0 * np.outer(x, x)
        h[np.diag_indices_from(h)] += 2.0 * np.exp(x) * np.cos(x) + 4.0 * s
        return h

    return step, [case.inputs["x"]]


# --------------------------------------------------------------------------------------------
# the registry

WORKLOADS: dict = {w.name: w for w in [
    Workload("scalar", "y = x**2 + 3x + 1, dy/dx of a float32 scalar (pure per-call overhead)",
             _scalar_case, _scalar_graph, _scalar_hand),
    Workload("chain", "d/dx sum((sin(x)*2+1)**2 * exp(-x*x) + tanh(x)), float32 elementwise chain",
             _chain_case, _chain_graph, _chain_hand, sizes=(1000, 100000), full_sizes=(1000, 100000, 10 ** 7),
             size_name="n", rtol=1e-4, atol=1e-5),
    # sized by the batch: --full adds batch 256, where the two 1000-wide GEMMs are most of the step
    Workload("mlp", "TinyModel SGD step: batch 16 (--full: 256 too), 1000-100-10, relu, sum of squared errors, "
             "lr 0.001", _mlp_case_factory("mlp", 16, 1000, 100, 10, 1.0), _mlp_graph, _mlp_hand,
             sizes=(16,), full_sizes=(16, 256), size_name="batch", plain_size=False,
             rtol=1e-4, atol=1e-5, stateful=True),
    Workload("mlp-wide", "same step at batch 64, 4096-1024-10 (inputs scaled by 0.1 so lr 0.001 is stable)",
             _mlp_case_factory("mlp-wide", 64, 4096, 1024, 10, 0.1), _mlp_graph, _mlp_hand,
             rtol=1e-4, atol=1e-5, stateful=True),
    Workload("linreg", "mean((x@w + b - y)**2) and its grads w.r.t. w, b; x (N, 1) float32",
             _linreg_case, _linreg_graph, _linreg_hand, sizes=(10 ** 6,), size_name="N", rtol=1e-3, atol=1e-6),
    # The Hessian is one batched forward-over-reverse pass (staticad.batching), so its graph does
    # not grow with n: the default run is the n=100 target; --full adds a small n=20.
    Workload("hessian", "hessian of sum(exp(x)*sin(x)) + (x@x)**2, x float64",
             _hessian_case, _hessian_graph, _hessian_hand, sizes=(100,), full_sizes=(20, 100), size_name="n",
             plain_size=False, rtol=1e-9, atol=1e-9),
]}


def get(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; choose from: {', '.join(WORKLOADS)}") from None


def _workload(w) -> Workload:
    return w if isinstance(w, Workload) else get(w)


def build_staticad(workload, case: Case, backend: str = "numpy"):
    """Declare the graph and compile it with ``sad.function`` for ``backend``: ``(f, args)``."""
    w = _workload(workload)
    g = w.graph(case)
    f = sad.function(g.inputs, g.outputs, updates=g.updates, backend=backend, name=w.name)
    return f, g.args


def build_hand(workload, case: Case):
    """The hand-written NumPy forward + backward: ``(fn, args)``."""
    return _workload(workload).hand(case)


def flatten(out) -> list:
    """An output (array, scalar, or nested list/tuple of them) as a flat list of arrays."""
    if isinstance(out, (list, tuple)):
        return [a for o in out for a in flatten(o)]
    return [np.asarray(out)]


def outputs_close(workload, a, b) -> bool:
    w = _workload(workload)
    fa, fb = flatten(a), flatten(b)
    if len(fa) != len(fb):
        return False
    return all(x.shape == y.shape and np.allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                                  rtol=w.rtol, atol=w.atol)
               for x, y in zip(fa, fb))

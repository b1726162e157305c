"""Eager backward against central finite differences and against the explicit graph, op by op.

The cases are the op catalogue of ``tests/ops/cases.py`` (every public and registry op, several
shapes, float64): ``build`` is the same code for graph tensors and EagerTensors.
"""
import numpy as np
import pytest

import staticad as sad
from tests.ops.cases import DERIVATIVE_CASES
from tests.ops.checks import rng_for

E = sad.eager


def _loss(case, arrays, w):
    """<build(*x), w> evaluated eagerly without recording."""
    with sad.no_grad():
        y = case.build(*[E.tensor(a, dtype="float64") for a in arrays])
        return float(np.sum(y.numpy() * w))


def _fd_grads(case, arrays, w, eps):
    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for k in range(a.size):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[i].flat[k] += eps
            minus[i].flat[k] -= eps
            g.flat[k] = (_loss(case, plus, w) - _loss(case, minus, w)) / (2 * eps)
        grads.append(g)
    return grads


def _eager_grads(case, arrays, w, create_graph=False):
    xs = [E.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    y = case.build(*xs)
    if y.requires_grad:
        y.backward(w, create_graph=create_graph)
    else:  # a nondifferentiable op (sign, comparisons): nothing recorded, the gradient is 0
        assert y.grad_fn is None
    return xs, y, [np.zeros_like(a) if x.grad is None else x.grad for x, a in zip(xs, arrays)]


@pytest.mark.parametrize("case", DERIVATIVE_CASES, ids=[c.label for c in DERIVATIVE_CASES])
def test_eager_backward_matches_finite_differences_and_the_graph(case):
    rng = rng_for(case.label)
    arrays = [np.asarray(a, np.float64) for a in case.make(rng)]
    with sad.no_grad():
        shape = case.build(*[E.tensor(a, dtype="float64") for a in arrays]).shape
    w = rng_for(case.label + "/w").standard_normal(shape)
    xs, y, grads = _eager_grads(case, arrays, w)
    for x, g in zip(xs, grads):
        g = g.numpy() if isinstance(g, E.EagerTensor) else g
        assert g.shape == x.shape, f"{case.label}: grad shape {g.shape} != {x.shape}"
    fd = _fd_grads(case, arrays, w, case.eps)
    for i, (g, ref) in enumerate(zip(grads, fd)):
        g = g.numpy() if isinstance(g, E.EagerTensor) else g
        np.testing.assert_allclose(g, ref, rtol=max(case.rtol, 1e-5), atol=max(case.atol, 1e-6),
                                   err_msg=f"{case.label}: d/dx{i} vs finite differences")
    # the explicit form: the same build on placeholders, sad.vjp, the numpy backend
    ps = [sad.placeholder(a.shape, "float64") for a in arrays]
    explicit = sad.function(ps, sad.vjp(case.build(*ps), ps, w), backend="numpy")(*arrays)
    for i, (g, ref) in enumerate(zip(grads, explicit)):
        g = g.numpy() if isinstance(g, E.EagerTensor) else g
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-12, err_msg=f"{case.label}: d/dx{i} vs sad.vjp")


SECOND_ORDER = [c for c in DERIVATIVE_CASES if c.order >= 2][::7]


@pytest.mark.parametrize("case", SECOND_ORDER, ids=[c.label for c in SECOND_ORDER])
def test_create_graph_second_order_matches_finite_differences(case):
    """x -> <grad_x <build(x), w>, u>, differentiated again (create_graph=True)."""
    rng = rng_for(case.label + "/2")
    arrays = [np.asarray(a, np.float64) for a in case.make(rng_for(case.label))]
    with sad.no_grad():
        shape = case.build(*[E.tensor(a, dtype="float64") for a in arrays]).shape
    w = rng.standard_normal(shape)
    us = [rng.standard_normal(a.shape) for a in arrays]

    def first_order(values):
        xs = [E.tensor(a, dtype="float64", requires_grad=True) for a in values]
        y = case.build(*xs)
        if y.requires_grad:
            y.backward(w, create_graph=True)
        s = E.tensor(0.0, dtype="float64")
        for x, u in zip(xs, us):
            if x.grad is not None:
                s = s + (x.grad * u).sum()
        return xs, s

    xs, s = first_order(arrays)
    if not s.requires_grad:
        return  # a linear op: the second derivative is 0 and nothing was recorded (checked below)
    for x in xs:
        x.grad = None
    s.backward()
    for i, a in enumerate(arrays):
        fd = np.zeros_like(a)
        for k in range(a.size):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[i].flat[k] += case.eps
            minus[i].flat[k] -= case.eps
            fd.flat[k] = (first_order(plus)[1].item() - first_order(minus)[1].item()) / (2 * case.eps)
        got = np.zeros_like(a) if xs[i].grad is None else xs[i].grad.numpy()
        np.testing.assert_allclose(got, fd, rtol=max(case.rtol, 1e-4), atol=max(case.atol, 1e-5),
                                   err_msg=f"{case.label}: second order d/dx{i}")


@pytest.mark.parametrize("case", DERIVATIVE_CASES[::3], ids=[c.label for c in DERIVATIVE_CASES[::3]])
def test_replayed_backward_matches_the_graph(case):
    """A second backward over a tape of the same structure replays the first one's program
    (staticad.eager.replay); with new values it must still match sad.vjp."""
    for trial in range(3):
        rng = rng_for(f"{case.label}/replay{trial}")
        arrays = [np.asarray(a, np.float64) for a in case.make(rng)]
        with sad.no_grad():
            shape = case.build(*[E.tensor(a, dtype="float64") for a in arrays]).shape
        w = rng.standard_normal(shape)
        xs, y, grads = _eager_grads(case, arrays, w)
        ps = [sad.placeholder(a.shape, "float64") for a in arrays]
        explicit = sad.function(ps, sad.vjp(case.build(*ps), ps, w), backend="numpy")(*arrays)
        for i, (g, ref) in enumerate(zip(grads, explicit)):
            g = g.numpy() if isinstance(g, E.EagerTensor) else g
            np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{case.label} trial {trial}: d/dx{i} vs sad.vjp")


def test_replay_keys_on_constants_and_shapes():
    """Tapes that differ only in a constant (x**2, x**3) or a shape get their own programs."""
    for exponent, n in ((2, 3), (3, 3), (2, 4), (3, 3), (2, 3)):
        x = E.tensor(np.linspace(0.5, 1.5, n), dtype="float64", requires_grad=True)
        (x ** exponent).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), exponent * x.numpy() ** (exponent - 1), rtol=1e-12)
    a = E.tensor([1.0, 2.0], requires_grad=True)
    for scale in (2.0, 5.0, 2.0):  # the same structure, another scalar constant
        a.grad = None
        (a * scale).sum().backward()
        np.testing.assert_array_equal(a.grad.numpy(), [scale, scale])

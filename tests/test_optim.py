"""Optimizers (API.md §5) against hand-written NumPy versions of PyTorch's update rules."""
import numpy as np
import pytest

import staticad as sad

RNG = np.random.default_rng(1234)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = RNG.normal(size=(8, 2)).astype(np.float32)
W0 = RNG.normal(size=(3, 2)).astype(np.float32)
B0 = RNG.normal(size=(2,)).astype(np.float32)


def _problem():
    """Least squares with a bias; returns (x, y, W, b, loss) and a NumPy gradient function."""
    x = sad.placeholder((None, 3), name="x")
    y = sad.placeholder((None, 2), name="y")
    W = sad.Variable(W0.copy(), name="W")
    b = sad.Variable(B0.copy(), name="b")
    loss = ((x @ W + b - y) ** 2).mean()
    return x, y, W, b, loss


def _np_grads(W, b, x, y):
    r = x @ W + b - y
    n = r.size
    gr = 2.0 * r / n
    return x.T @ gr, gr.sum(axis=0), float((r ** 2).mean())


def _run(opt, backend, steps=6):
    x, y, W, b, loss = _problem()
    step = sad.function([x, y], loss, updates=opt.updates(loss, [W, b]), backend=backend)
    losses = [float(step(X, Y)) for _ in range(steps)]
    return W, b, losses


@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_sgd_plain(backend, lr):
    W, b, losses = _run(sad.optim.SGD(lr), backend)
    w_np, b_np = W0.astype(np.float64), B0.astype(np.float64)
    ref_losses = []
    for _ in range(6):
        gw, gb, l = _np_grads(w_np, b_np, X, Y)
        ref_losses.append(l)
        w_np, b_np = w_np - lr * gw, b_np - lr * gb
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(W.value, w_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.value, b_np, rtol=1e-5, atol=1e-6)
    assert W.value.dtype == np.float32 and b.value.dtype == np.float32
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("momentum", [0.9, 0.5])
def test_sgd_momentum(backend, momentum):
    lr = 0.05
    opt = sad.optim.SGD(lr, momentum=momentum)
    W, b, losses = _run(opt, backend)
    w_np, b_np = W0.astype(np.float64), B0.astype(np.float64)
    vw, vb = np.zeros_like(w_np), np.zeros_like(b_np)
    ref_losses = []
    for _ in range(6):
        gw, gb, l = _np_grads(w_np, b_np, X, Y)
        ref_losses.append(l)
        vw = momentum * vw + gw  # PyTorch: buf = momentum * buf + g (buf = g on the first step)
        vb = momentum * vb + gb
        w_np, b_np = w_np - lr * vw, b_np - lr * vb
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(W.value, w_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.value, b_np, rtol=1e-5, atol=1e-6)
    # the momentum buffers are Variables holding the last v
    state_vars = [v for v in opt.state.values()]
    assert all(isinstance(v, sad.Variable) for v in state_vars)
    bufs = sorted((v.value for v in state_vars), key=lambda a: a.size)
    np.testing.assert_allclose(bufs[0], vb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bufs[1], vw, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("betas,eps", [((0.9, 0.999), 1e-8), ((0.8, 0.99), 1e-3)])
def test_adam(backend, betas, eps):
    lr = 0.05
    opt = sad.optim.Adam(lr=lr, betas=betas, eps=eps)
    W, b, losses = _run(opt, backend, steps=8)
    b1, b2 = betas
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    ref_losses = []
    for t in range(1, 9):
        gw, gb, l = _np_grads(params[0], params[1], X, Y)
        ref_losses.append(l)
        for k, g in enumerate((gw, gb)):
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            m_hat = m[k] / (1 - b1 ** t)
            v_hat = v[k] / (1 - b2 ** t)
            params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps)  # eps after the sqrt
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    np.testing.assert_allclose(W.value, params[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b.value, params[1], rtol=1e-4, atol=1e-5)
    assert W.value.dtype == np.float32
    # state in Variables: the step count and the moments
    (mw, vw, tw), (mb, vb, tb) = opt.state[W], opt.state[b]
    for var in (mw, vw, tw, mb, vb, tb):
        assert isinstance(var, sad.Variable)
    assert float(tw.value) == 8 and float(tb.value) == 8
    np.testing.assert_allclose(mw.value, m[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(vw.value, v[0], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(mb.value, m[1], rtol=1e-4, atol=1e-6)


def test_adam_defaults():
    opt = sad.optim.Adam()
    assert opt.lr == 1e-3 and (opt.b1, opt.b2) == (0.9, 0.999) and opt.eps == 1e-8


def test_updates_are_pairs_for_function(backend):
    x, y, W, b, loss = _problem()
    pairs = sad.optim.SGD(0.1).updates(loss, [W, b])
    assert all(isinstance(p, tuple) and len(p) == 2 for p in pairs)
    assert {id(v) for v, _ in pairs} == {id(W), id(b)}
    f = sad.function([x, y], loss, updates=dict(pairs), backend=backend)
    f(X, Y)
    assert not np.allclose(W.value, W0)


def test_state_persists_and_is_shared(backend):
    """Two functions built from one optimizer's updates share its state Variables."""
    lr, mom = 0.05, 0.9
    x, y, W, b, loss = _problem()
    opt = sad.optim.SGD(lr, momentum=mom)
    pairs = opt.updates(loss, [W, b])
    f1 = sad.function([x, y], loss, updates=pairs, backend=backend)
    f2 = sad.function([x, y], [], updates=pairs, backend=backend)
    f1(X, Y)
    f2(X, Y)
    f1(X, Y)
    w_np, b_np = W0.astype(np.float64), B0.astype(np.float64)
    vw, vb = np.zeros_like(w_np), np.zeros_like(b_np)
    for _ in range(3):
        gw, gb, _l = _np_grads(w_np, b_np, X, Y)
        vw, vb = mom * vw + gw, mom * vb + gb
        w_np, b_np = w_np - lr * vw, b_np - lr * vb
    np.testing.assert_allclose(W.value, w_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.value, b_np, rtol=1e-5, atol=1e-6)


def test_adam_param_groups_in_separate_functions(backend):
    """Each parameter keeps its own step count (PyTorch's per-parameter state)."""
    lr = 0.05
    x, y, W, b, loss = _problem()
    opt = sad.optim.Adam(lr=lr)
    step_w = sad.function([x, y], [], updates=opt.updates(loss, [W]), backend=backend)
    step_b = sad.function([x, y], [], updates=opt.updates(loss, [b]), backend=backend)
    step_w(X, Y)
    step_w(X, Y)
    step_b(X, Y)
    assert float(opt.state[W][2].value) == 2 and float(opt.state[b][2].value) == 1
    w_np, b_np = W0.astype(np.float64), B0.astype(np.float64)
    mw = vw = np.zeros_like(w_np)
    for t in (1, 2):
        gw, _, _ = _np_grads(w_np, b_np, X, Y)
        mw, vw = 0.9 * mw + 0.1 * gw, 0.999 * vw + 0.001 * gw * gw
        w_np = w_np - lr * (mw / (1 - 0.9 ** t)) / (np.sqrt(vw / (1 - 0.999 ** t)) + 1e-8)
    _, gb, _ = _np_grads(w_np, b_np, X, Y)
    b_np = b_np - lr * (0.1 * gb / 0.1) / (np.sqrt(0.001 * gb * gb / 0.001) + 1e-8)
    np.testing.assert_allclose(W.value, w_np, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b.value, b_np, rtol=1e-4, atol=1e-5)


def test_optimizer_step_in_a_training_loop_decreases_loss(backend):
    x, y, W, b, loss = _problem()
    opt = sad.optim.Adam(lr=0.1)
    step = sad.function([x, y], loss, updates=opt.updates(loss, [W, b]), backend=backend)
    losses = [float(step(X, Y)) for _ in range(100)]
    assert losses[-1] < 0.5 * losses[0]


def test_param_without_gradient_is_unchanged(backend):
    x, y, W, b, loss = _problem()
    other = sad.Variable(np.ones(2, np.float32), name="other")
    f = sad.function([x, y], loss, updates=sad.optim.SGD(0.1, momentum=0.9).updates(loss, [W, b, other]),
                     backend=backend)
    f(X, Y)
    np.testing.assert_allclose(other.value, np.ones(2))


def test_invalid_arguments():
    x, y, W, b, loss = _problem()
    with pytest.raises(ValueError):
        sad.optim.SGD(0.0)
    with pytest.raises(ValueError):
        sad.optim.SGD(0.1, momentum=-1)
    with pytest.raises(ValueError):
        sad.optim.Adam(betas=(1.0, 0.9))
    with pytest.raises(TypeError):
        sad.optim.SGD(0.1).updates(loss, [x])  # not a Variable
    with pytest.raises(ValueError, match="grad_ys"):
        sad.optim.SGD(0.1).updates(x @ W, [W])  # non-scalar loss

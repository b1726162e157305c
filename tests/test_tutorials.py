"""The seed tutorials' examples (shared/seeds/*.txt), rewritten define-then-run (API.md §7).

The tutorials are PyTorch blog posts: each ``x.requires_grad_()`` ... ``y.backward()`` ...
``x.grad`` becomes a graph, a ``sad.grad``/``sad.vjp`` node, and one ``sad.function`` call.
staticad has no gradient accumulation: every gradient output is fresh, so the tutorials'
``x.grad.zero_()`` calls have no counterpart (where a tutorial shows accumulated numbers,
the test adds the fresh gradients explicitly).

The ``while b.norm() < 1000`` / ``if b.sum() > 0`` examples use ``sad.while_loop``/``sad.cond``
(data-dependent control flow in the graph); ``do_some_doubling`` appears both unrolled with the
trip count the tutorial's printed input needed (10 doublings in all) and as a real loop.
"""
import math

import numpy as np
import pytest

import staticad as sad

F32 = dict(rtol=1e-6, atol=1e-6)


# --- 000 / 001 / 004: y = 2 x.x, x.sum(), x*x, detach ---------------------------------------------
def test_two_dot_x_x(backend):
    x = sad.placeholder((4,), name="x")
    y = 2 * sad.dot(x, x)
    f = sad.function([x], [y, sad.grad(y, x)], backend=backend)
    xv = np.arange(4.0, dtype=np.float32)
    yv, gx = f(xv)
    assert yv.shape == () and float(yv) == 28.0  # tensor(28., grad_fn=<MulBackward0>)
    np.testing.assert_array_equal(gx, [0.0, 4.0, 8.0, 12.0])
    np.testing.assert_array_equal(gx == 4 * xv, [True] * 4)  # x.grad == 4 * x


def test_dot_x_x(backend):
    """004: y = torch.dot(x, x) -> 14, grad 2x."""
    x = sad.placeholder((4,), name="x")
    y = sad.dot(x, x)
    yv, gx = sad.function([x], [y, sad.grad(y, x)], backend=backend)(np.arange(4.0))
    assert float(yv) == 14.0
    np.testing.assert_array_equal(gx, [0.0, 2.0, 4.0, 6.0])


def test_sum_gradient_is_ones(backend):
    x = sad.placeholder((4,), name="x")
    y = x.sum()
    gx = sad.function([x], sad.grad(y, x), backend=backend)(np.arange(4.0))
    np.testing.assert_array_equal(gx, [1.0, 1.0, 1.0, 1.0])


def test_accumulated_gradients_without_zeroing(backend):
    """001: without zero_(), PyTorch prints [1, 5, 9, 13]: the sum of the two fresh gradients."""
    x = sad.placeholder((4,), name="x")
    g1 = sad.grad(2 * sad.dot(x, x), x)
    g2 = sad.grad(x.sum(), x)
    f = sad.function([x], [g1, g2, g1 + g2], backend=backend)
    a, b, acc = f(np.arange(4.0))
    np.testing.assert_array_equal(a, [0.0, 4.0, 8.0, 12.0])
    np.testing.assert_array_equal(b, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(acc, [1.0, 5.0, 9.0, 13.0])


def test_non_scalar_backward(backend):
    """y = x * x; y.backward(torch.ones(len(x))) == y.sum().backward() -> 2x."""
    x = sad.placeholder((4,), name="x")
    y = x * x
    ones = np.ones(4, np.float32)
    f = sad.function([x], [sad.grad(y, x, grad_ys=ones), sad.grad(y.sum(), x), sad.vjp(y, x, ones)],
                     backend=backend)
    for g in f(np.arange(4.0)):
        np.testing.assert_array_equal(g, [0.0, 2.0, 4.0, 6.0])
    # the explanation's example: x = [1, 2, 3] -> y = [1, 4, 9], grad [2, 4, 6]
    x3 = sad.placeholder((3,), name="x3")
    y3 = x3 * x3
    yv, gv = sad.function([x3], [y3, sad.grad(y3, x3, grad_ys=np.ones(3))], backend=backend)([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(yv, [1.0, 4.0, 9.0])
    np.testing.assert_array_equal(gv, [2.0, 4.0, 6.0])


def test_non_scalar_grad_needs_grad_ys():
    x = sad.placeholder((4,), name="x")
    with pytest.raises(ValueError, match="grad_ys"):
        sad.grad(x * x, x)  # "grad can be implicitly created only for scalar outputs"


def test_detach(backend):
    x = sad.placeholder((4,), name="x")
    y = x * x
    u = sad.stop_gradient(y)
    z = u * x
    f = sad.function([x], [u, sad.grad(z.sum(), x), sad.grad(y.sum(), x)], backend=backend)
    xv = np.arange(4.0, dtype=np.float32)
    uv, gz, gy = f(xv)
    np.testing.assert_array_equal(uv, [0.0, 1.0, 4.0, 9.0])
    np.testing.assert_array_equal(gz == uv, [True] * 4)  # x.grad == u
    np.testing.assert_array_equal(gy == 2 * xv, [True] * 4)  # x.grad == 2 * x
    # the alias and the method
    assert sad.detach is sad.stop_gradient
    g2 = sad.function([x], sad.grad((y.detach() * x).sum(), x), backend=backend)(xv)
    np.testing.assert_array_equal(g2, uv)


def test_detach_output3_output4(backend):
    """001: output3 = 0.5 x^2 + 0.5 detach(y^2); output4 = 0.5 detach(x^2) + 0.5 y^2, x = y = 2."""
    x = sad.placeholder((), name="x")
    y = sad.placeholder((), name="y")
    output1 = x ** 2
    output2 = y ** 2
    output3 = 0.5 * output1 + 0.5 * sad.detach(output2)
    output4 = 0.5 * sad.detach(output1) + 0.5 * output2
    f = sad.function([x, y], [output3, output4, sad.grad(output3, [x, y]), sad.grad(output4, [x, y])],
                     backend=backend)
    o3, o4, (gx3, gy3), (gx4, gy4) = f(2.0, 2.0)
    assert float(o3) == 4.0 and float(o4) == 4.0
    assert float(gx3) == 2.0 and float(gy3) == 0.0  # tensor(2.) / tensor(0.)
    assert float(gx4) == 0.0 and float(gy4) == 2.0  # fresh gradients: no accumulation
    # PyTorch accumulates, so the tutorial's second pair prints 2.0 and 2.0
    assert float(gx3 + gx4) == 2.0 and float(gy3 + gy4) == 2.0


def test_detach_deeper_understanding(backend):
    """001 '加深理解': y.sum() grad 2x = [0, 2, 4, 6], then z = u * x grad u = [0, 1, 4, 9]."""
    x = sad.placeholder((4,), name="x")
    y = x * x
    u = sad.detach(y)
    ys = sad.sum(y)
    z = u * x
    gy, gz = sad.function([x], [sad.grad(ys, x), sad.grad(z.sum(), x)], backend=backend)(np.arange(4.0))
    np.testing.assert_array_equal(gy, [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_array_equal(gz, [0.0, 1.0, 4.0, 9.0])


def test_retain_graph_twice(backend):
    """001: backward twice with retain_graph accumulates [2, 4] + [2, 4]; a compiled function reruns freely."""
    x = sad.placeholder((2,), name="x")
    y = sad.dot(x, x)
    f = sad.function([x], sad.grad(y, x), backend=backend)
    first, second = f([1.0, 2.0]), f([1.0, 2.0])
    np.testing.assert_array_equal(first, [2.0, 4.0])
    np.testing.assert_array_equal(first + second, [4.0, 8.0])


def test_detach_copy_has_same_values(backend):
    """003: y = x.detach() holds the same values."""
    x = sad.placeholder((5,), name="x")
    xv = np.random.default_rng(0).random(5).astype(np.float32)
    xo, yo = sad.function([x], [x, x.detach()], backend=backend)(xv)
    np.testing.assert_array_equal(xo, yo)


# --- 000: the derivative examples of the theory part ------------------------------------------------
def test_gradient_of_x1_squared_plus_2_x2_squared(backend):
    x = sad.placeholder((2,), name="x")
    y = x[0] ** 2 + 2 * x[1] ** 2
    g = sad.function([x], sad.grad(y, x), backend=backend)([1.0, 1.0])
    np.testing.assert_allclose(g, [2.0, 4.0])  # [2 x1, 4 x2] -> the [2, 4] direction


def test_vector_of_scalar_and_identity_jacobian(backend):
    t = sad.placeholder((), name="t")
    y = sad.stack([sad.sin(t), sad.cos(t)])
    v = sad.placeholder((2,), name="v")
    f = sad.function([t, v], [sad.jacobian(y, t), sad.jacobian(v * 1, v)], backend=backend)
    dy, eye = f(0.3, [1.0, 2.0])
    np.testing.assert_allclose(dy, [math.cos(0.3), -math.sin(0.3)], rtol=1e-6)  # [cos x, -sin x]^T
    np.testing.assert_array_equal(eye, [[1.0, 0.0], [0.0, 1.0]])


def test_linear_regression_loss_forward_and_reverse_mode(backend):
    """000 §2.2/2.3: z = (x w - y)^2 with a = x w, b = a - y: dz/dw = 2 b x, dz/dx = 2 b w."""
    x = sad.placeholder((), name="x")
    w = sad.placeholder((), name="w")
    y = sad.placeholder((), name="y")
    a = x * w
    b = a - y
    z = b ** 2
    gx_rev, gw_rev = sad.grad(z, [x, w])
    gx_fwd = sad.jvp(z, x, 1.0)  # forward mode: one input at a time
    gw_fwd = sad.jvp(z, w, 1.0)
    f = sad.function([x, w, y], [z, gx_rev, gw_rev, gx_fwd, gw_fwd], backend=backend)
    zv, gxr, gwr, gxf, gwf = f(3.0, 2.0, 1.0)
    bv = 3.0 * 2.0 - 1.0
    assert float(zv) == bv ** 2
    assert float(gxr) == float(gxf) == 2 * bv * 2.0
    assert float(gwr) == float(gwf) == 2 * bv * 3.0


def test_vector_linear_regression_gradient(backend):
    """000 §1.4: z = (x^T w - y)^2 -> dz/dw = 2 b x^T."""
    x = sad.placeholder((3,), name="x")
    w = sad.placeholder((3,), name="w")
    y = sad.placeholder((), name="y")
    z = (sad.dot(x, w) - y) ** 2
    xv, wv = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    g = sad.function([x, w, y], sad.grad(z, w), backend=backend)(xv, wv, 1.0)
    np.testing.assert_allclose(g, 2 * (xv @ wv - 1.0) * xv, rtol=1e-6)


# --- 002: scalar rules, several parameters, SGD, no_grad -----------------------------------------
def test_scalar_polynomial(backend):
    x = sad.placeholder((), name="x")
    y = x ** 2 + 3 * x + 1
    yv, gx = sad.function([x], [y, sad.grad(y, x)], backend=backend)(2.0)
    assert float(yv) == 11.0
    assert float(gx) == 7.0  # 2*2 + 3


def test_two_parameters(backend):
    a = sad.placeholder((), name="a")
    b = sad.placeholder((), name="b")
    z = a ** 2 + 3 * b + a * b
    zv, (ga, gb) = sad.function([a, b], [z, sad.grad(z, [a, b])], backend=backend)(2.0, 3.0)
    assert float(zv) == 4.0 + 9.0 + 6.0
    assert float(ga) == 7.0  # dz/da = 2a + b
    assert float(gb) == 5.0  # dz/db = 3 + a


def test_two_parameters_sgd_step(backend):
    """002 §6: optimizer = SGD([a, b], lr=0.01); z.backward(); optimizer.step()."""
    a = sad.Variable(np.float32(2.0), name="a")
    b = sad.Variable(np.float32(3.0), name="b")
    z = a ** 2 + 3 * b + a * b
    step = sad.function([], z, updates=sad.optim.SGD(0.01).updates(z, [a, b]), backend=backend)
    assert float(step()) == 19.0
    np.testing.assert_allclose(a.value, 2.0 - 0.01 * 7.0, rtol=1e-6)
    np.testing.assert_allclose(b.value, 3.0 - 0.01 * 5.0, rtol=1e-6)


def test_no_grad_forward_only(backend):
    """002 §7 / 003: with no_grad the forward values are the same (a graph without grad nodes)."""
    a = sad.Variable(np.float32(2.0), name="a")
    b = sad.Variable(np.float32(3.0), name="b")
    assert float(sad.function([], a * b, backend=backend)()) == 6.0
    ones = sad.ones((2, 3))
    a2, b2 = ones * 2, ones * 3
    c1, c3, b1 = sad.function([], [a2 + b2, a2 * b2, 2 * ones], backend=backend)()
    np.testing.assert_array_equal(c1, np.full((2, 3), 5.0))
    np.testing.assert_array_equal(c3, np.full((2, 3), 6.0))
    np.testing.assert_array_equal(b1, np.full((2, 3), 2.0))


def _np_linreg(epochs=100, lr=np.float32(0.01)):
    x = np.array([[1.0], [2.0], [3.0]], np.float32)
    y = np.array([[2.0], [3.0], [4.0]], np.float32)
    w = np.zeros((1, 1), np.float32)
    b = np.zeros((1, 1), np.float32)
    losses = []
    for _ in range(epochs):
        r = x @ w + b - y
        losses.append(np.mean(r ** 2, dtype=np.float32))
        gr = np.float32(2.0) * r / np.float32(r.size)
        gw, gb = x.T @ gr, gr.sum(axis=0, keepdims=True)
        w, b = w - lr * gw, b - lr * gb
    return w, b, np.array(losses, np.float32)


def test_linear_regression(backend):
    x_train = np.array([[1.0], [2.0], [3.0]], np.float32)
    y_train = np.array([[2.0], [3.0], [4.0]], np.float32)
    x = sad.placeholder((None, 1), name="x")
    y = sad.placeholder((None, 1), name="y")
    w = sad.Variable(np.zeros((1, 1), np.float32), name="w")
    b = sad.Variable(np.zeros((1, 1), np.float32), name="b")
    lr = 0.01
    y_pred = x @ w + b
    loss = ((y_pred - y) ** 2).mean()
    gw, gb = sad.grad(loss, [w, b])
    train = sad.function([x, y], loss, updates=[(w, w - lr * gw), (b, b - lr * gb)], backend=backend)
    losses = np.array([train(x_train, y_train) for _ in range(100)])
    w_ref, b_ref, loss_ref = _np_linreg()
    assert losses.dtype == np.float32
    assert float(losses[0]) == pytest.approx((4 + 9 + 16) / 3, rel=1e-6)  # w = b = 0
    np.testing.assert_allclose(losses[::10], loss_ref[::10], rtol=1e-5)  # "Epoch {epoch}, Loss: ..."
    np.testing.assert_allclose(losses, loss_ref, rtol=1e-5)
    np.testing.assert_allclose(w.value, w_ref, rtol=1e-5)
    np.testing.assert_allclose(b.value, b_ref, rtol=1e-5)
    assert losses[-1] < losses[0]
    # "学习后的权重": the loss keeps decreasing towards y = x + 1
    assert 0.0 < w.value.item() < 2.0 and 0.0 < b.value.item() < 1.0


def test_linear_regression_with_optimizer(backend):
    """The same loop with sad.optim.SGD instead of hand-written updates gives the same numbers."""
    x = sad.placeholder((3, 1), name="x")
    y = sad.placeholder((3, 1), name="y")
    w = sad.Variable(np.zeros((1, 1), np.float32), name="w")
    b = sad.Variable(np.zeros((1, 1), np.float32), name="b")
    loss = ((sad.matmul(x, w) + b - y) ** 2).mean()
    train = sad.function([x, y], loss, updates=sad.optim.SGD(0.01).updates(loss, [w, b]), backend=backend)
    for _ in range(100):
        train([[1.0], [2.0], [3.0]], [[2.0], [3.0], [4.0]])
    w_ref, b_ref, _ = _np_linreg()
    np.testing.assert_allclose(w.value, w_ref, rtol=1e-5)
    np.testing.assert_allclose(b.value, b_ref, rtol=1e-5)


# --- 003: the sin plot ------------------------------------------------------------------------------
SIN_B = [0.0000e+00, 2.5882e-01, 5.0000e-01, 7.0711e-01, 8.6603e-01, 9.6593e-01, 1.0000e+00, 9.6593e-01,
         8.6603e-01, 7.0711e-01, 5.0000e-01, 2.5882e-01, -8.7423e-08, -2.5882e-01, -5.0000e-01, -7.0711e-01,
         -8.6603e-01, -9.6593e-01, -1.0000e+00, -9.6593e-01, -8.6603e-01, -7.0711e-01, -5.0000e-01,
         -2.5882e-01, 1.7485e-07]
SIN_C = [0.0000e+00, 5.1764e-01, 1.0000e+00, 1.4142e+00, 1.7321e+00, 1.9319e+00, 2.0000e+00, 1.9319e+00,
         1.7321e+00, 1.4142e+00, 1.0000e+00, 5.1764e-01, -1.7485e-07, -5.1764e-01, -1.0000e+00, -1.4142e+00,
         -1.7321e+00, -1.9319e+00, -2.0000e+00, -1.9319e+00, -1.7321e+00, -1.4142e+00, -1.0000e+00,
         -5.1764e-01, 3.4969e-07]
SIN_D = [1.0000e+00, 1.5176e+00, 2.0000e+00, 2.4142e+00, 2.7321e+00, 2.9319e+00, 3.0000e+00, 2.9319e+00,
         2.7321e+00, 2.4142e+00, 2.0000e+00, 1.5176e+00, 1.0000e+00, 4.8236e-01, -3.5763e-07, -4.1421e-01,
         -7.3205e-01, -9.3185e-01, -1.0000e+00, -9.3185e-01, -7.3205e-01, -4.1421e-01, 4.7684e-07, 4.8236e-01,
         1.0000e+00]
SIN_GRAD = [2.0000e+00, 1.9319e+00, 1.7321e+00, 1.4142e+00, 1.0000e+00, 5.1764e-01, -8.7423e-08, -5.1764e-01,
            -1.0000e+00, -1.4142e+00, -1.7321e+00, -1.9319e+00, -2.0000e+00, -1.9319e+00, -1.7321e+00,
            -1.4142e+00, -1.0000e+00, -5.1764e-01, 2.3850e-08, 5.1764e-01, 1.0000e+00, 1.4142e+00, 1.7321e+00,
            1.9319e+00, 2.0000e+00]
SIN_A = [0.0000, 0.2618, 0.5236, 0.7854, 1.0472, 1.3090, 1.5708, 1.8326, 2.0944, 2.3562, 2.6180, 2.8798,
         3.1416, 3.4034, 3.6652, 3.9270, 4.1888, 4.4506, 4.7124, 4.9742, 5.2360, 5.4978, 5.7596, 6.0214, 6.2832]


def _sin_graph(a):
    b = sad.sin(a)
    c = 2 * b
    d = c + 1
    out = d.sum()
    return [a, b, c, d, out, sad.grad(out, a)]


def test_sin_plot_with_linspace(backend):
    a = sad.linspace(0.0, 2.0 * math.pi, 25)
    assert a.dtype == np.float32 and a.shape == (25,)
    av, bv, cv, dv, out, ga = sad.function([], _sin_graph(a), backend=backend)()
    for v in (av, bv, cv, dv, out, ga):
        assert v.dtype == np.float32
    assert float(out) == pytest.approx(25.0, abs=1e-5)  # tensor(25.)
    np.testing.assert_allclose(av, SIN_A, atol=5e-5)
    # float32 tolerance: the printed values near 0 are rounding noise of sin(float32(pi)) etc.
    np.testing.assert_allclose(bv, SIN_B, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cv, SIN_C, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dv, SIN_D, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ga, SIN_GRAD, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ga, 2 * np.cos(av), rtol=1e-6, atol=1e-7)  # a.grad = 2 cos(a)
    assert bv[12] == pytest.approx(-8.7423e-08, rel=1e-4)  # sin(float32(pi))
    assert bv[24] == pytest.approx(1.7485e-07, rel=1e-4)


def test_sin_plot_exact_printed_values(backend):
    """Fed torch.linspace's float32 values, every printed number matches to its 5 digits."""
    f32 = np.float32
    end, step = f32(2 * math.pi), f32(2 * math.pi) / f32(24)
    a_torch = np.array([step * f32(i) if i < 12 else end - step * f32(24 - i) for i in range(25)], f32)
    a = sad.placeholder((25,), name="a")
    _, bv, cv, dv, out, ga = sad.function([a], _sin_graph(a), backend=backend)(a_torch)
    np.testing.assert_allclose(bv, SIN_B, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(cv, SIN_C, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(dv, SIN_D, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(ga, SIN_GRAD, rtol=1e-4, atol=1e-12)
    assert float(out) == pytest.approx(25.0, rel=1e-6)  # float32 sums may round either way


def test_sin_derivative_plot(backend):
    """004 exercise 5: x = arange(-20, 20, 0.1) float32, y = sin(x); y.sum().backward() -> cos(x)."""
    x = sad.arange(-20, 20, 0.1, dtype="float32")
    y = sad.sin(x)
    xv, yv, gv = sad.function([], [x, y, sad.grad(y.sum(), x)], backend=backend)()
    assert xv.shape == (400,) and xv.dtype == np.float32
    np.testing.assert_allclose(yv, np.sin(xv), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gv, np.cos(xv), rtol=1e-6, atol=1e-6)


# --- 003: TinyModel and one SGD step --------------------------------------------------------------
BATCH_SIZE, DIM_IN, HIDDEN_SIZE, DIM_OUT = 16, 1000, 100, 10


def _linear_init(rng, fan_in, fan_out):
    bound = 1.0 / math.sqrt(fan_in)  # torch.nn.Linear's default init
    W = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return W, b


def _tiny_model_data():
    rng = np.random.default_rng(2025)
    W1, b1 = _linear_init(rng, DIM_IN, HIDDEN_SIZE)
    W2, b2 = _linear_init(rng, HIDDEN_SIZE, DIM_OUT)
    some_input = rng.standard_normal((BATCH_SIZE, DIM_IN)).astype(np.float32)
    ideal_output = rng.standard_normal((BATCH_SIZE, DIM_OUT)).astype(np.float32)
    return (W1, b1, W2, b2), some_input, ideal_output


def _np_tiny_model_backprop(params, x, ideal):
    W1, b1, W2, b2 = [p.astype(np.float64) for p in params]
    x, ideal = x.astype(np.float64), ideal.astype(np.float64)
    h_pre = x @ W1.T + b1
    h = np.maximum(h_pre, 0)
    pred = h @ W2.T + b2
    loss = ((ideal - pred) ** 2).sum()
    g_pred = -2.0 * (ideal - pred)
    gW2 = g_pred.T @ h
    gb2 = g_pred.sum(axis=0)
    g_h = g_pred @ W2
    g_hpre = g_h * (h_pre > 0)
    gW1 = g_hpre.T @ x
    gb1 = g_hpre.sum(axis=0)
    return loss, pred, (gW1, gb1, gW2, gb2)


class TinyModel:
    """layer1 = Linear(DIM_IN, HIDDEN_SIZE); relu; layer2 = Linear(HIDDEN_SIZE, DIM_OUT)."""

    def __init__(self, params):
        W1, b1, W2, b2 = params
        self.W1 = sad.Variable(W1, name="layer1.weight")
        self.b1 = sad.Variable(b1, name="layer1.bias")
        self.W2 = sad.Variable(W2, name="layer2.weight")
        self.b2 = sad.Variable(b2, name="layer2.bias")

    def parameters(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def __call__(self, x):
        x = x @ self.W1.T + self.b1
        x = sad.relu(x)
        return x @ self.W2.T + self.b2


def test_tiny_model_gradients_and_sgd_step(backend):
    params, some_input, ideal_output = _tiny_model_data()
    model = TinyModel(params)
    x = sad.placeholder((BATCH_SIZE, DIM_IN), name="some_input")
    ideal = sad.placeholder((BATCH_SIZE, DIM_OUT), name="ideal_output")
    prediction = model(x)
    assert prediction.shape == (BATCH_SIZE, DIM_OUT)
    loss = ((ideal - prediction) ** 2).sum()
    grads = sad.grad(loss, model.parameters())
    forward = sad.function([x, ideal], [loss, prediction, grads], backend=backend)
    loss_v, pred_v, grads_v = forward(some_input, ideal_output)
    loss_ref, pred_ref, grads_ref = _np_tiny_model_backprop(params, some_input, ideal_output)
    assert loss_v.dtype == np.float32
    np.testing.assert_allclose(loss_v, loss_ref, rtol=1e-4)
    np.testing.assert_allclose(pred_v, pred_ref, rtol=1e-4, atol=1e-5)
    for g, ref, p in zip(grads_v, grads_ref, params):
        assert g.shape == p.shape and g.dtype == np.float32
        np.testing.assert_allclose(g, ref, rtol=2e-4, atol=2e-5)
    # nothing changed: the gradients were computed, the weights were not
    np.testing.assert_array_equal(model.W2.value, params[2])

    # optimizer = SGD(model.parameters(), lr=0.001); optimizer.step()
    opt = sad.optim.SGD(0.001)
    step = sad.function([x, ideal], loss, updates=opt.updates(loss, model.parameters()), backend=backend)
    loss_step = step(some_input, ideal_output)
    np.testing.assert_allclose(loss_step, loss_ref, rtol=1e-4)  # the pre-update loss
    for var, p, ref in zip(model.parameters(), params, grads_ref):
        np.testing.assert_allclose(var.value, p - 0.001 * ref, rtol=1e-4, atol=1e-6)
    print(model.W2.value[0][0:10])  # the tutorial's "layer2.weight[0][0:10]" after the step
    # the layer2 weights changed; a fresh gradient at the new weights differs from the old one
    assert not np.allclose(model.W2.value, params[2])
    loss_after, _, grads_after = forward(some_input, ideal_output)
    assert loss_after < loss_v
    assert not np.allclose(grads_after[2], grads_v[2])


def test_tiny_model_gradients_are_not_accumulated(backend):
    """003: PyTorch needs zero_grad(); a compiled gradient is fresh on every call."""
    params, some_input, ideal_output = _tiny_model_data()
    model = TinyModel(params)
    x = sad.placeholder((BATCH_SIZE, DIM_IN), name="some_input")
    ideal = sad.placeholder((BATCH_SIZE, DIM_OUT), name="ideal_output")
    loss = ((ideal - model(x)) ** 2).sum()
    g = sad.function([x, ideal], sad.grad(loss, model.W2), backend=backend)
    first = g(some_input, ideal_output)
    for _ in range(5):
        np.testing.assert_array_equal(g(some_input, ideal_output), first)


# --- 003: repeated doubling with a cotangent ---------------------------------------------------------
Y_PRINTED = np.array([299.4868, 425.4009, -1082.9885], np.float32)
V = np.array([0.1, 1.0, 0.0001], np.float32)


def _do_some_doubling(x, doublings=10):
    """``y = x * 2; while y.norm() < 1000: y = y * 2`` unrolled: 10 doublings for the tutorial's x."""
    y = x * 2
    for _ in range(doublings - 1):
        y = y * 2
    return y


def test_doubling_with_cotangent(backend):
    x_value = Y_PRINTED / np.float32(1024)  # the tutorial's (random) x, recovered from its printed y
    x = sad.placeholder((3,), name="x")
    y = _do_some_doubling(x)
    f = sad.function([x], [y, sad.grad(y, x, grad_ys=V), y.norm(), (y / 2).norm()], backend=backend)
    yv, gx, norm, half_norm = f(x_value)
    np.testing.assert_allclose(yv, Y_PRINTED, rtol=1e-6)
    assert norm >= 1000 > half_norm  # the while loop would have stopped after exactly 10 doublings
    np.testing.assert_allclose(gx, [102.4, 1024.0, 0.1024], rtol=1e-6)  # tensor([1.0240e+02, 1.0240e+03, 1.0240e-01])


# --- 003: the high-level API: jacobian / hessian / vjp / jvp / hvp / vhp -----------------------------------
def exp_adder(x, y):
    return 2 * x.exp() + 3 * y


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_exp_adder_jacobian_one_element(backend, mode):
    x = sad.placeholder((1,), name="x")
    y = sad.placeholder((1,), name="y")
    out = exp_adder(x, y)
    jx, jy = sad.jacobian(out, [x, y], mode=mode)
    assert jx.shape == (1, 1) and jy.shape == (1, 1)
    f = sad.function([x, y], [jx, jy], backend=backend)
    jxv, jyv = f([0.7212], [0.2079])  # (tensor([0.7212]), tensor([0.2079]))
    np.testing.assert_allclose(jxv, [[4.1137]], rtol=1e-4)  # (tensor([[4.1137]]), tensor([[3.]]))
    np.testing.assert_allclose(jyv, [[3.0]], rtol=1e-6)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_exp_adder_jacobian_three_elements(backend, mode):
    x = sad.placeholder((3,), name="x")
    y = sad.placeholder((3,), name="y")
    jx, jy = sad.jacobian(exp_adder(x, y), [x, y], mode=mode)
    xv = np.array([0.2080, 0.2604, 0.4415], np.float32)
    yv = np.array([0.5220, 0.9867, 0.4288], np.float32)
    jxv, jyv = sad.function([x, y], [jx, jy], backend=backend)(xv, yv)
    np.testing.assert_allclose(jxv, np.diag([2.4623, 2.5950, 3.1102]), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(jxv, np.diag(2 * np.exp(xv)), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(jyv, 3 * np.eye(3))


def test_exp_adder_hessian(backend):
    x = sad.placeholder((3,), name="x")
    y = sad.placeholder((3,), name="y")
    s = exp_adder(x, y).sum()
    (hxx, hxy), (hyx, hyy) = sad.hessian(s, [x, y])
    h_only = sad.hessian(s, x)
    xv = np.array([0.2080, 0.2604, 0.4415], np.float32)
    yv = np.array([0.5220, 0.9867, 0.4288], np.float32)
    outs = sad.function([x, y], [hxx, hxy, hyx, hyy, h_only], backend=backend)(xv, yv)
    np.testing.assert_allclose(outs[0], np.diag(2 * np.exp(xv)), rtol=1e-6, atol=1e-7)
    for zero in outs[1:4]:
        np.testing.assert_array_equal(zero, np.zeros((3, 3)))
    np.testing.assert_allclose(outs[4], outs[0], rtol=1e-6)


def test_exp_adder_products_hvp_vhp(backend):
    """A scalar exp_adder-like function with cross terms so H is not diagonal."""
    x = sad.placeholder((3,), name="x")
    y = sad.placeholder((3,), name="y")
    s = (2 * x.exp() + 3 * y * x).sum() + (x * x).sum() * y.sum()
    v = np.array([1.0, -2.0, 0.5], np.float32)
    hvp = sad.hvp(s, x, v)
    vhp = sad.vhp(s, x, v)
    H = sad.hessian(s, x)
    xv = np.array([0.2080, 0.2604, 0.4415], np.float32)
    yv = np.array([0.5220, 0.9867, 0.4288], np.float32)
    hv, vh, Hv = sad.function([x, y], [hvp, vhp, H], backend=backend)(xv, yv)
    H_ref = np.diag(2 * np.exp(xv)) + 2 * yv.sum() * np.eye(3)
    np.testing.assert_allclose(Hv, H_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hv, H_ref @ v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vh, v @ H_ref, rtol=1e-5, atol=1e-6)


def test_exp_adder_second_order_of_one_element(backend):
    """torch.autograd.functional.hessian on a 1-element exp_adder(x, y).sum(): [[2 e^x]]."""
    x = sad.placeholder((1,), name="x")
    y = sad.placeholder((1,), name="y")
    h = sad.hessian(exp_adder(x, y).sum(), x)
    hv = sad.function([x, y], h, backend=backend)([0.7212], [0.2079])
    np.testing.assert_allclose(hv, [[4.1137]], rtol=1e-4)


Y_VJP_PRINTED = np.array([-665.7186, -866.7054, -58.4194], np.float32)


def test_do_some_doubling_vjp(backend):
    x = sad.placeholder((3,), name="inputs")
    y = _do_some_doubling(x)
    vjp = sad.vjp(y, x, V)
    yv, gv = sad.function([x], [y, vjp], backend=backend)(Y_VJP_PRINTED / np.float32(1024))
    np.testing.assert_allclose(yv, Y_VJP_PRINTED, rtol=1e-6)  # tensor([-665.7186, -866.7054, -58.4194])
    assert np.linalg.norm(yv) >= 1000 > np.linalg.norm(yv / 2)  # 10 doublings for this input
    np.testing.assert_allclose(gv, [102.4, 1024.0, 0.1024], rtol=1e-6)


def test_do_some_doubling_jvp(backend):
    x = sad.placeholder((3,), name="inputs")
    y = _do_some_doubling(x)
    jvp = sad.jvp(y, x, V)  # J v with J = 1024 I
    yv, tv = sad.function([x], [y, jvp], backend=backend)(Y_VJP_PRINTED / np.float32(1024))
    np.testing.assert_allclose(yv, Y_VJP_PRINTED, rtol=1e-6)
    np.testing.assert_allclose(tv, [102.4, 1024.0, 0.1024], rtol=1e-6)
    jac = sad.function([x], sad.jacobian(y, x), backend=backend)(np.zeros(3))
    np.testing.assert_array_equal(jac, 1024 * np.eye(3))


# --- 000 / 004 / 003: data-dependent control flow (sad.while_loop / sad.cond) ---------------------------------
def _control_flow_f(a):
    """``b = a * 2; while b.norm() < 1000: b = b * 2; c = b if b.sum() > 0 else 100 * b``."""
    b = sad.while_loop(lambda b: b.norm() < 1000, lambda b: b * 2, a * 2)
    return sad.cond(b.sum() > 0, lambda b: b, lambda b: 100 * b, b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_control_flow_grad_is_d_over_a(backend, seed):
    """000/004: a = torch.randn(size=()); d = f(a); d.backward(); a.grad == d / a."""
    a = sad.placeholder((), name="a")
    d = _control_flow_f(a)
    f = sad.function([a], [d, sad.grad(d, a)], backend=backend)
    av = np.float32(np.random.default_rng(seed).standard_normal())
    for value in (av, -av):
        dv, gv = f(value)
        assert gv == dv / value


def test_control_flow_vector_sum(backend):
    """004 exercise 3: a = torch.randn(10); f(a).sum().backward(): every entry the same factor."""
    a = sad.placeholder((10,), name="a")
    d = _control_flow_f(a)
    av = np.random.default_rng(7).standard_normal(10).astype(np.float32)
    dv, gv = sad.function([a], [d, sad.grad(d.sum(), a)], backend=backend)(av)
    np.testing.assert_allclose(gv, np.full(10, gv[0]))
    np.testing.assert_allclose(dv / av, gv, rtol=1e-5)
    b = av * 2
    while np.linalg.norm(b) < 1000:
        b = b * 2
    factor = np.float32(b[0] / av[0]) * (1 if b.sum() > 0 else 100)  # 2^k, or 100 * 2^k
    np.testing.assert_array_equal(gv, np.full(10, factor))


def do_some_doubling(x):
    """003: ``y = x * 2; while y.norm() < 1000: y = y * 2``, as a loop in the graph."""
    return sad.while_loop(lambda y: y.norm() < 1000, lambda y: y * 2, x * 2)


def test_do_some_doubling_loop_with_cotangent(backend):
    x = sad.placeholder((3,), name="x")
    y = do_some_doubling(x)
    f = sad.function([x], [y, sad.grad(y, x, grad_ys=V)], backend=backend)
    yv, gx = f(Y_PRINTED / np.float32(1024))
    np.testing.assert_allclose(yv, Y_PRINTED, rtol=1e-6)
    np.testing.assert_allclose(gx, [102.4, 1024.0, 0.1024], rtol=1e-6)


def test_do_some_doubling_loop_vjp_jvp_jacobian(backend):
    x = sad.placeholder((3,), name="inputs")
    y = do_some_doubling(x)
    f = sad.function([x], [y, sad.vjp(y, x, V), sad.jvp(y, x, V), sad.jacobian(y, x),
                           sad.jacobian(y, x, mode="fwd")], backend=backend)
    yv, vj, jv, jr, jf = f(Y_VJP_PRINTED / np.float32(1024))
    np.testing.assert_allclose(yv, Y_VJP_PRINTED, rtol=1e-6)  # tensor([-665.7186, -866.7054, -58.4194])
    np.testing.assert_allclose(vj, [102.4, 1024.0, 0.1024], rtol=1e-6)  # tensor([1.0240e+02, 1.0240e+03, 1.0240e-01])
    np.testing.assert_allclose(jv, [102.4, 1024.0, 0.1024], rtol=1e-6)
    np.testing.assert_array_equal(jr, 1024 * np.eye(3))
    np.testing.assert_array_equal(jf, 1024 * np.eye(3))


# --- 003: the profiler -------------------------------------------------------------------------------
def test_profiler(backend):
    x = sad.placeholder((2, 3), name="x")
    y = sad.placeholder((2, 3), name="y")
    z = sad.ones((2, 3))
    for _ in range(100):
        z = (z / x) * y
    f = sad.function([x, y], z, backend=backend)
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((2, 3)).astype(np.float32)
    xv[np.abs(xv) < 0.5] = 1.0
    yv = rng.random((2, 3)).astype(np.float32)
    report = f.profile(xv, yv, repeat=3)
    table = str(report)
    assert len(report.rows) >= 1
    assert "calls" in table and len(table.splitlines()) >= 3
    ops_seen = " ".join(r.ops for r in report.rows)
    assert "divide" in ops_seen or "multiply" in ops_seen or "fused" in ops_seen
    assert all(r.calls == 3 for r in report.rows)
    ref = np.ones((2, 3), np.float32)
    for _ in range(100):
        ref = (ref / xv) * yv
    np.testing.assert_allclose(f(xv, yv), ref, rtol=1e-4)

"""The seed tutorials' examples (shared/seeds/*.txt) written implicitly, PyTorch style (API.md §8).

Each example checks the tutorial's printed numbers and the explicit form of the same
computation (placeholders, ``sad.grad``/``sad.vjp``..., ``sad.function`` on the numpy backend).
"""
import math

import numpy as np
import pytest

import staticad as sad
from staticad.eager import functional as F

E = sad.eager


def explicit(fn, *arrays, grad=True, grad_ys=None):
    """``fn`` (the same code the eager test runs) on placeholders: its value and gradients."""
    xs = [sad.placeholder(np.shape(a), np.asarray(a).dtype, name=f"x{i}") for i, a in enumerate(arrays)]
    y = fn(*xs)
    outs = [y, sad.grad(y, xs, grad_ys=grad_ys)] if grad else [y]
    return sad.function(xs, outs, backend="numpy")(*arrays)


def f32(*v):
    return np.array(v, np.float32)


# --- 002 / 001 / 004: accumulation, zeroing, detach, retain_graph -----------------------------------
def test_two_dot_x_x_then_accumulate_then_zero():
    """002: y = 2 x.x -> grad 4x; without zero_() x.sum() adds ones -> [1, 5, 9, 13]; zero_() resets."""
    x = E.arange(4.0, requires_grad=True)
    assert x.grad is None and x.is_leaf and x.requires_grad
    y = 2 * sad.dot(x, x)
    assert y.item() == 28.0 and y.grad_fn.name == "MulBackward"
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 4.0, 8.0, 12.0])
    assert (x.grad == 4 * x).all()
    _, (ref,) = explicit(lambda x: 2 * sad.dot(x, x), np.arange(4.0, dtype=np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), ref)
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 5.0, 9.0, 13.0])  # accumulated
    x.grad.zero_()
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0, 1.0])


def test_non_scalar_backward_with_gradient():
    """y = x * x; y.backward(torch.ones(len(x))) == y.sum().backward() -> 2x."""
    x = E.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    np.testing.assert_array_equal(y.numpy(), [1.0, 4.0, 9.0])
    y.backward(np.ones(3, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    _, (ref,) = explicit(lambda x: x * x, f32(1, 2, 3), grad_ys=np.ones(3, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), ref)


def test_detach_output3_output4_accumulates():
    """001: output3 = 0.5 x^2 + 0.5 detach(y^2), output4 = 0.5 detach(x^2) + 0.5 y^2 at x = y = 2:
    x.grad 2 and y.grad 0 after the first backward; 2 and 2 after the second (accumulation)."""
    x = E.tensor(2.0, requires_grad=True)
    y = E.tensor(2.0, requires_grad=True)
    output1, output2 = x ** 2, y ** 2
    output3 = 0.5 * output1 + 0.5 * output2.detach()
    output4 = 0.5 * output1.detach() + 0.5 * output2
    output3.backward()
    assert x.grad.item() == 2.0 and y.grad is None  # no gradient reached y at all
    output4.backward()
    assert x.grad.item() == 2.0 and y.grad.item() == 2.0
    out3, (gx, gy) = explicit(lambda x, y: 0.5 * x ** 2 + 0.5 * sad.detach(y ** 2), f32(2)[0], f32(2)[0])
    assert float(out3) == output3.item() == 4.0 and float(gx) == 2.0 and float(gy) == 0.0


def test_detach_shares_values_and_stops_gradient():
    """001/003: u = y.detach(); z = u * x; z.sum().backward() -> x.grad == u; y.sum() -> 2x."""
    x = E.arange(4.0, requires_grad=True)
    y = x * x
    u = y.detach()
    assert not u.requires_grad and u.grad_fn is None and u.is_leaf
    np.testing.assert_array_equal(u.numpy(), y.numpy())
    z = u * x
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), u.numpy())
    x.grad.zero_()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())


def test_retain_graph():
    """002: y = dot(x, x); y.backward(retain_graph=True); y.backward() -> x.grad = [4, 8]."""
    x = E.tensor([1.0, 2.0], requires_grad=True)
    y = sad.dot(x, x)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])
    _, (ref,) = explicit(lambda x: sad.dot(x, x), f32(1, 2))
    np.testing.assert_array_equal(x.grad.numpy(), 2 * ref)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()  # the first two freed nothing; the second one did


# --- 000 / 001 / 002: scalar rules, several parameters, linear regression --------------------------
def test_scalar_rules():
    """002: y = x^2 + 3x + 1 at 2 -> 11, dy/dx 7; z = a^2 + 3b + ab at (2, 3) -> 19, (7, 5)."""
    x = E.tensor(2.0, requires_grad=True)
    y = x ** 2 + 3 * x + 1
    y.backward()
    assert y.item() == 11.0 and x.grad.item() == 7.0
    a = E.tensor(2.0, requires_grad=True)
    b = E.tensor(3.0, requires_grad=True)
    z = a ** 2 + 3 * b + a * b
    z.backward()
    assert z.item() == 19.0 and a.grad.item() == 7.0 and b.grad.item() == 5.0
    zv, (ga, gb) = explicit(lambda a, b: a ** 2 + 3 * b + a * b, np.float32(2), np.float32(3))
    assert (float(zv), float(ga), float(gb)) == (19.0, 7.0, 5.0)


def test_gradient_of_x1_squared_plus_2_x2_squared():
    x = E.tensor([1.0, 1.0], requires_grad=True)
    (x[0] ** 2 + 2 * x[1] ** 2).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert (x[0] ** 2).grad_fn.next_functions[0][0].name == "SliceBackward"


def test_linear_regression_loss_scalar_rules():
    """000: z = (x w - y)^2 at x=3, w=2, y=1: dz/dx = 2 b w = 20, dz/dw = 2 b x = 30."""
    x, w = E.tensor(3.0, requires_grad=True), E.tensor(2.0, requires_grad=True)
    z = (x * w - 1.0) ** 2
    z.backward()
    assert z.item() == 25.0 and x.grad.item() == 20.0 and w.grad.item() == 30.0


def _linreg_eager(epochs=100, lr=0.01, optimizer=False):
    x = E.tensor([[1.0], [2.0], [3.0]])
    y = E.tensor([[2.0], [3.0], [4.0]])
    w = E.zeros((1, 1), requires_grad=True)
    b = E.zeros((1, 1), requires_grad=True)
    opt = sad.optim.SGD(lr=lr, params=[w, b]) if optimizer else None
    losses = []
    for _ in range(epochs):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        if opt:
            opt.step()
            opt.zero_grad()
        else:
            with sad.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
            w.grad.zero_()
            b.grad.zero_()
        losses.append(loss.item())
    return w, b, np.array(losses, np.float32)


def test_linear_regression_100_epochs_matches_the_explicit_loop():
    """001: 100 epochs of y = w x + b on 3 points, SGD lr 0.01 (by hand and with the optimizer)."""
    w, b, losses = _linreg_eager()
    assert losses[0] == pytest.approx((4 + 9 + 16) / 3, rel=1e-6) and losses[-1] < losses[0]
    xs = sad.placeholder((None, 1), name="x")
    ys = sad.placeholder((None, 1), name="y")
    wv = sad.Variable(np.zeros((1, 1), np.float32))
    bv = sad.Variable(np.zeros((1, 1), np.float32))
    loss = ((xs @ wv + bv - ys) ** 2).mean()
    train = sad.function([xs, ys], loss, updates=sad.optim.SGD(0.01).updates(loss, [wv, bv]), backend="numpy")
    ref = np.array([train(f32(1, 2, 3)[:, None], f32(2, 3, 4)[:, None]) for _ in range(100)])
    np.testing.assert_allclose(losses, ref, rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), wv.value, rtol=1e-5)
    np.testing.assert_allclose(b.numpy(), bv.value, rtol=1e-5)
    w2, b2, losses2 = _linreg_eager(optimizer=True)
    np.testing.assert_array_equal(losses2, losses)
    np.testing.assert_array_equal(w2.numpy(), w.numpy())


# --- 003: the sin plot, grad_fn chain, leaves ----------------------------------------------------------
SIN_B = [0.0000e+00, 2.5882e-01, 5.0000e-01, 7.0711e-01, 8.6603e-01, 9.6593e-01, 1.0000e+00, 9.6593e-01,
         8.6603e-01, 7.0711e-01, 5.0000e-01, 2.5882e-01, -8.7423e-08, -2.5882e-01, -5.0000e-01, -7.0711e-01,
         -8.6603e-01, -9.6593e-01, -1.0000e+00, -9.6593e-01, -8.6603e-01, -7.0711e-01, -5.0000e-01,
         -2.5882e-01, 1.7485e-07]
SIN_GRAD = [2.0000e+00, 1.9319e+00, 1.7321e+00, 1.4142e+00, 1.0000e+00, 5.1764e-01, -8.7423e-08, -5.1764e-01,
            -1.0000e+00, -1.4142e+00, -1.7321e+00, -1.9319e+00, -2.0000e+00, -1.9319e+00, -1.7321e+00,
            -1.4142e+00, -1.0000e+00, -5.1764e-01, 2.3850e-08, 5.1764e-01, 1.0000e+00, 1.4142e+00, 1.7321e+00,
            1.9319e+00, 2.0000e+00]


def test_sin_plot_values_grad_fn_chain_and_leaves():
    a = E.linspace(0.0, 2.0 * math.pi, 25, requires_grad=True)
    b = sad.sin(a)
    c = 2 * b
    d = c + 1
    out = d.sum()
    assert "grad_fn=<SinBackward>" in repr(b) and "grad_fn=<SumBackward>" in repr(out)
    np.testing.assert_allclose(b.numpy(), SIN_B, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d.numpy(), 2 * np.array(SIN_B) + 1, rtol=1e-4, atol=1e-6)
    assert out.item() == pytest.approx(25.0, abs=1e-5)
    # d.grad_fn.next_functions ... down to the leaf, as the tutorial prints them
    assert d.grad_fn.name == "AddBackward"
    (mul, _), (const, _) = d.grad_fn.next_functions
    assert mul.name == "MulBackward" and const is None
    (sin, _), (two, _) = mul.next_functions
    assert sin.name == "SinBackward" and two is None
    ((acc, _),) = sin.next_functions
    assert acc.name == "AccumulateGrad" and acc.variable is a and acc.next_functions == ()
    assert a.grad_fn is None and a.is_leaf and not b.is_leaf
    out.backward()
    np.testing.assert_allclose(a.grad.numpy(), SIN_GRAD, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), 2 * np.cos(a.numpy()), rtol=1e-6, atol=1e-7)
    assert c.grad is None  # only leaves get .grad
    _, (ref,) = explicit(lambda a: (2 * sad.sin(a) + 1).sum(), a.numpy())
    np.testing.assert_array_equal(a.grad.numpy(), ref)


def test_requires_grad_toggles_and_no_grad():
    """003: requires_grad off/on, detach, no_grad (context manager and decorator), enable_grad."""
    a = E.ones((2, 3), requires_grad=True)
    b1 = 2 * a
    assert b1.requires_grad and b1.grad_fn is not None
    a.requires_grad = False
    b2 = 2 * a
    assert not b2.requires_grad and b2.grad_fn is None
    a.requires_grad_()
    with sad.no_grad():
        c = a * 3
    assert not c.requires_grad and c.grad_fn is None
    np.testing.assert_array_equal(c.numpy(), np.full((2, 3), 3.0))

    @sad.no_grad()
    def add_tensors(x, y):
        return x + y

    assert not add_tensors(a, a).requires_grad
    with sad.no_grad():
        with sad.enable_grad():
            assert (a * a).requires_grad
        assert not (a * a).requires_grad
    assert (a * a).requires_grad


def test_inplace_on_a_leaf_that_requires_grad_is_an_error():
    """003: a = torch.linspace(..., requires_grad=True); torch.sin_(a) -> RuntimeError."""
    a = E.linspace(0.0, 2.0 * math.pi, 25, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*in-place.*no_grad"):
        a += 1
    with sad.no_grad():
        a += 1  # allowed: an update outside recording (what an optimizer step does)
    np.testing.assert_allclose(a.numpy()[0], 1.0)


# --- 003: TinyModel and one SGD step -----------------------------------------------------------------
BATCH_SIZE, DIM_IN, HIDDEN_SIZE, DIM_OUT = 16, 1000, 100, 10


class TinyModel:
    """layer1 = Linear(DIM_IN, HIDDEN); relu; layer2 = Linear(HIDDEN, DIM_OUT) — written once, used
    eagerly (parameters are EagerTensors) and explicitly (Variables)."""

    def __init__(self, params, make):
        self.W1, self.b1, self.W2, self.b2 = [make(p) for p in params]

    def parameters(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def __call__(self, x):
        x = sad.relu(x @ self.W1.T + self.b1)
        return x @ self.W2.T + self.b2


def _tiny_data():
    rng = np.random.default_rng(2025)
    k1, k2 = 1 / math.sqrt(DIM_IN), 1 / math.sqrt(HIDDEN_SIZE)
    params = [rng.uniform(-k1, k1, (HIDDEN_SIZE, DIM_IN)), rng.uniform(-k1, k1, (HIDDEN_SIZE,)),
              rng.uniform(-k2, k2, (DIM_OUT, HIDDEN_SIZE)), rng.uniform(-k2, k2, (DIM_OUT,))]
    params = [p.astype(np.float32) for p in params]
    return params, rng.standard_normal((BATCH_SIZE, DIM_IN)).astype(np.float32), \
        rng.standard_normal((BATCH_SIZE, DIM_OUT)).astype(np.float32)


def test_tiny_model_sgd_step_matches_the_explicit_step():
    params, some_input, ideal_output = _tiny_data()
    model = TinyModel(params, lambda p: E.tensor(p, requires_grad=True))
    opt = sad.optim.SGD(lr=0.001, params=model.parameters())
    prediction = model(E.tensor(some_input))
    loss = ((E.tensor(ideal_output) - prediction) ** 2).sum()
    assert model.W2.grad is None
    loss.backward()
    grads = [p.grad.numpy() for p in model.parameters()]
    opt.step()
    # the explicit form of the same model and step
    vmodel = TinyModel(params, sad.Variable)
    x = sad.placeholder((BATCH_SIZE, DIM_IN))
    ideal = sad.placeholder((BATCH_SIZE, DIM_OUT))
    vloss = ((ideal - vmodel(x)) ** 2).sum()
    vgrads = sad.function([x, ideal], sad.grad(vloss, vmodel.parameters()), backend="numpy")(some_input, ideal_output)
    for g, ref in zip(grads, vgrads):
        np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-6)
    step = sad.function([x, ideal], vloss, updates=sad.optim.SGD(0.001).updates(vloss, vmodel.parameters()),
                        backend="numpy")
    np.testing.assert_allclose(step(some_input, ideal_output), loss.item(), rtol=1e-6)
    for p, v in zip(model.parameters(), vmodel.parameters()):
        np.testing.assert_allclose(p.numpy(), v.value, rtol=1e-5, atol=1e-7)
    assert not np.allclose(model.W2.numpy(), params[2])
    # zero_grad: the tutorial prints zeros after optimizer.zero_grad()
    opt.zero_grad()
    np.testing.assert_array_equal(model.W2.grad.numpy()[0][0:10], np.zeros(10))


# --- 003: the functional API on exp_adder / do_some_doubling ----------------------------------------
def exp_adder(x, y):
    return 2 * x.exp() + 3 * y


XV = f32(0.2080, 0.2604, 0.4415)
YV = f32(0.5220, 0.9867, 0.4288)


def test_exp_adder_jacobian_hessian():
    jx, jy = F.jacobian(exp_adder, (E.tensor([0.7212]), E.tensor([0.2079])))
    np.testing.assert_allclose(jx.numpy(), [[4.1137]], rtol=1e-4)  # (tensor([[4.1137]]), tensor([[3.]]))
    np.testing.assert_allclose(jy.numpy(), [[3.0]])
    jx, jy = F.jacobian(exp_adder, (XV, YV))
    x, y = sad.placeholder((3,)), sad.placeholder((3,))
    rx, ry = sad.function([x, y], sad.jacobian(exp_adder(x, y), [x, y]), backend="numpy")(XV, YV)
    np.testing.assert_allclose(jx.numpy(), np.diag([2.4623, 2.5950, 3.1102]), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(jx.numpy(), rx, rtol=1e-6)
    np.testing.assert_array_equal(jy.numpy(), ry)
    fx, _ = F.jacobian(exp_adder, (XV, YV), strategy="forward-mode")
    np.testing.assert_allclose(fx.numpy(), rx, rtol=1e-6)
    (hxx, hxy), (hyx, hyy) = F.hessian(lambda x, y: exp_adder(x, y).sum(), (XV, YV))
    np.testing.assert_allclose(hxx.numpy(), np.diag(2 * np.exp(XV)), rtol=1e-6)
    for zero in (hxy, hyx, hyy):
        np.testing.assert_array_equal(zero.numpy(), np.zeros((3, 3)))


def test_exp_adder_hvp_vhp_against_section_2():
    def s(x, y):
        return (2 * x.exp() + 3 * y * x).sum() + (x * x).sum() * y.sum()

    v = f32(1.0, -2.0, 0.5)
    _, hv = F.hvp(lambda x: s(x, E.tensor(YV)), XV, v)
    _, vh = F.vhp(lambda x: s(x, E.tensor(YV)), XV, v)
    x, y = sad.placeholder((3,)), sad.placeholder((3,))
    ref_hv, ref_vh = sad.function([x, y], [sad.hvp(s(x, y), x, v), sad.vhp(s(x, y), x, v)], backend="numpy")(XV, YV)
    np.testing.assert_allclose(hv.numpy(), ref_hv, rtol=1e-6)
    np.testing.assert_allclose(vh.numpy(), ref_vh, rtol=1e-6)


Y_PRINTED = f32(299.4868, 425.4009, -1082.9885)
Y_VJP_PRINTED = f32(-665.7186, -866.7054, -58.4194)
V = f32(0.1, 1.0, 0.0001)


def do_some_doubling(x):
    """003, as written: ``y = x * 2; while y.data.norm() < 1000: y = y * 2``."""
    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2
    return y


def test_do_some_doubling_with_cotangent():
    x = E.tensor(Y_PRINTED / np.float32(1024), requires_grad=True)
    y = do_some_doubling(x)
    np.testing.assert_allclose(y.numpy(), Y_PRINTED, rtol=1e-6)
    y.backward(V)
    np.testing.assert_allclose(x.grad.numpy(), [102.4, 1024.0, 0.1024], rtol=1e-6)  # tensor([1.0240e+02, ...])


def test_do_some_doubling_vjp_jvp_jacobian():
    inputs = Y_VJP_PRINTED / np.float32(1024)
    out, vj = F.vjp(do_some_doubling, inputs, V)
    np.testing.assert_allclose(out.numpy(), Y_VJP_PRINTED, rtol=1e-6)
    np.testing.assert_allclose(vj.numpy(), [102.4, 1024.0, 0.1024], rtol=1e-6)
    _, jv = F.jvp(do_some_doubling, inputs, V)
    np.testing.assert_allclose(jv.numpy(), [102.4, 1024.0, 0.1024], rtol=1e-6)
    np.testing.assert_array_equal(F.jacobian(do_some_doubling, inputs).numpy(), 1024 * np.eye(3))
    # the explicit form with the trip count this input needed (10 doublings)
    x = sad.placeholder((3,))
    y = x * 1024
    ref = sad.function([x], [sad.vjp(y, x, V), sad.jvp(y, x, V)], backend="numpy")(inputs)
    np.testing.assert_allclose(vj.numpy(), ref[0], rtol=1e-6)
    np.testing.assert_allclose(jv.numpy(), ref[1], rtol=1e-6)


# --- 000 / 004: data-dependent while / if, run as written -----------------------------------------
def f(a):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def f_explicit(a):
    b = sad.while_loop(lambda b: b.norm() < 1000, lambda b: b * 2, a * 2)
    return sad.cond(b.sum() > 0, lambda b: b, lambda b: 100 * b, b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_control_flow_grad_is_d_over_a(seed):
    """000/004: a = torch.randn(size=()); d = f(a); d.backward(); a.grad == d / a."""
    av = np.float32(np.random.default_rng(seed).standard_normal())
    for value in (av, -av):
        a = E.tensor(value, requires_grad=True)
        d = f(a)
        d.backward()
        assert a.grad.item() == (d / a).item()
        dv, (gv,) = explicit(f_explicit, np.float32(value))
        assert d.item() == float(dv) and a.grad.item() == float(gv)


def test_control_flow_vector_sum():
    """004: a = torch.randn(10); f(a).sum().backward(): every entry the same factor."""
    av = np.random.default_rng(7).standard_normal(10).astype(np.float32)
    a = E.tensor(av, requires_grad=True)
    f(a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(10, a.grad.numpy()[0]))
    _, (gv,) = explicit(lambda a: f_explicit(a).sum(), av)
    np.testing.assert_array_equal(a.grad.numpy(), gv)

"""``sad.trace`` and ``sad.jit`` (API.md §9): one implicit-style function, run eagerly, traced, compiled."""
import numpy as np
import pytest

import staticad as sad

E = sad.eager


def model(x, w):
    """Implicit style: plain ops and operators, no placeholders in sight."""
    h = sad.tanh(x @ w)
    return (h * h).sum(), h


def loss_and_grad(x, w):
    loss, _ = model(x, w)
    return loss, sad.grad(loss, w)


XV = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
WV = np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32)


@pytest.fixture(scope="module")
def jitted_numba():
    """One numba-jitted function shared by the tests below (each compile costs seconds)."""
    return sad.jit(model, backend="numba")


def test_trace_gives_graph_tensors_for_sad_function():
    inputs, (loss, h) = sad.trace(model, XV, ((3, 2), "float32"))
    assert [p.name for p in inputs] == ["x", "w"] and inputs[1].shape == (3, 2)
    assert loss.shape == () and h.shape == (4, 2) and not loss._eager
    f = sad.function(inputs, [loss, h], backend="numpy")
    ref_loss, ref_h = model(E.tensor(XV), E.tensor(WV))  # the same function, eagerly
    got_loss, got_h = f(XV, WV)
    np.testing.assert_allclose(got_loss, ref_loss.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got_h, ref_h.numpy(), rtol=1e-6)
    assert "tanh" in sad.to_dot(loss)


def test_trace_with_unknown_dims():
    inputs, (loss, _) = sad.trace(model, ((None, 3), "float32"), WV)
    f = sad.function(inputs, loss, backend="numpy")
    for n in (1, 5):
        xv = np.ones((n, 3), np.float32)
        np.testing.assert_allclose(f(xv, WV), model(E.tensor(xv), E.tensor(WV))[0].numpy(), rtol=1e-6)


def test_python_branching_on_a_traced_value_names_cond_and_while_loop():
    def branchy(a):
        b = a * 2
        while b.norm() < 1000:
            b = b * 2
        return b

    with pytest.raises(TypeError, match="sad.cond.*sad.while_loop"):
        sad.trace(branchy, np.ones(3, np.float32))
    assert branchy(E.tensor([1.0, 1.0, 1.0])).numpy()[0] == 1024.0  # eagerly it runs as written


def test_traced_gradients_equal_eager_backward():
    inputs, (loss, gw) = sad.trace(loss_and_grad, XV, WV)
    got_loss, got_gw = sad.function(inputs, [loss, gw], backend="numpy")(XV, WV)
    w = E.tensor(WV, requires_grad=True)
    eager_loss, _ = model(E.tensor(XV), w)
    eager_loss.backward()
    np.testing.assert_allclose(got_gw, w.grad.numpy(), rtol=1e-6)


def test_captured_eager_values_become_constants():
    w = E.tensor(WV)
    inputs, out = sad.trace(lambda x: (x @ w).sum(), XV)
    assert len(inputs) == 1
    np.testing.assert_allclose(sad.function(inputs, out, backend="numpy")(XV), (XV @ WV).sum(), rtol=1e-6)


def test_jit_compiles_once_per_signature_numpy_backend():
    jitted = sad.jit(model, backend="numpy")
    a = jitted(XV, WV)
    b = jitted(XV * 2, WV)
    assert jitted.cache_size == 1
    np.testing.assert_allclose(b[0], model(E.tensor(XV * 2), E.tensor(WV))[0].numpy(), rtol=1e-6)
    jitted(np.ones((7, 3), np.float32), WV)  # a new shape: traced and compiled again
    assert jitted.cache_size == 2
    jitted(XV.astype(np.float64), WV)  # a new dtype too
    assert jitted.cache_size == 3
    f = jitted.lower(XV, WV)
    assert isinstance(f, sad.Function) and jitted.cache_size == 3 and "tanh" in f.source
    eager_out = jitted(E.tensor(XV), E.tensor(WV))  # eager in, eager out
    assert isinstance(eager_out[0], E.EagerTensor)
    np.testing.assert_allclose(eager_out[0].numpy(), a[0])


def test_jit_decorator_forms():
    @sad.jit(backend="numpy")
    def double(x):
        return x * 2

    @sad.jit
    def triple(x):
        return x * 3

    np.testing.assert_array_equal(double(np.ones(2, np.float32)), [2.0, 2.0])
    assert triple.backend == "numba" and double.__name__ == "double"
    with pytest.raises(TypeError, match="callable"):
        sad.jit(3)


def test_jit_numba_matches_eager_and_exposes_the_function(jitted_numba):
    loss, h = jitted_numba(XV, WV)
    ref_loss, ref_h = model(E.tensor(XV), E.tensor(WV))
    np.testing.assert_allclose(loss, ref_loss.numpy(), rtol=1e-5)
    np.testing.assert_allclose(h, ref_h.numpy(), rtol=1e-5, atol=1e-6)
    f = jitted_numba.lower(XV, WV)
    assert f.stats["backend"] == "numba" and f.stats["kernels"] >= 1
    assert "def " in f.source
    report = f.profile(XV, WV, repeat=2)
    assert len(report.rows) >= 1
    jitted_numba(XV + 1, WV)
    assert jitted_numba.cache_size == 1  # same shapes and dtypes: reused


def test_jit_numba_of_a_gradient_function():
    step = sad.jit(loss_and_grad, backend="numba")
    loss, gw = step(XV, WV)
    w = E.tensor(WV, requires_grad=True)
    model(E.tensor(XV), w)[0].backward()
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-5, atol=1e-6)

"""EagerTensor semantics (API.md §8): values, dtypes, autograd state, and every error it raises."""
import threading

import numpy as np
import pytest

import staticad as sad

E = sad.eager


def test_values_dtypes_and_weak_python_scalars():
    t = E.tensor([1.0, 2.0])
    assert t.dtype == np.float32 and t.shape == (2,) and isinstance(t, sad.Tensor)
    assert (t * 2).dtype == np.float32  # Python scalars are weak, as in §1
    assert E.tensor([1, 2]).dtype == np.int64
    assert (np.ones(2, np.float32) + t).dtype == np.float32
    np.testing.assert_array_equal(np.ones(2) * t, [1.0, 2.0])  # an array on the left defers to the tensor
    n = t.numpy()
    n[0] = 100  # numpy() is a copy
    assert t.numpy()[0] == 1.0
    assert E.tensor(3.5).item() == 3.5 and float(E.tensor(2.0)) == 2.0
    with pytest.raises(ValueError, match="one-element"):
        t.item()


def test_every_section_1_op_accepts_eager_tensors():
    x = E.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype="float64")
    v = x.numpy()
    checks = {
        "exp": (sad.exp(x), np.exp(v)), "tanh": (sad.tanh(x), np.tanh(v)), "relu": (sad.relu(x), np.maximum(v, 0)),
        "matmul": (x @ x.T, v @ v.T), "sum": (x.sum(axis=0), v.sum(0)), "max": (x.max(axis=1), v.max(1)),
        "getitem": (x[:, 1:3], v[:, 1:3]), "reshape": (x.reshape(3, 2), v.reshape(3, 2)),
        "concatenate": (sad.concatenate([x, x], axis=0), np.concatenate([v, v])),
        "where": (sad.where(x > 0, x, -x), np.abs(v)), "clip": (sad.clip(x, -0.5, 0.5), np.clip(v, -0.5, 0.5)),
        "logsumexp": (sad.logsumexp(x), np.log(np.exp(v).sum())), "norm": (sad.norm(x), np.linalg.norm(v)),
    }
    for name, (got, ref) in checks.items():
        assert isinstance(got, E.EagerTensor), name
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, err_msg=name)


def test_shape_errors_come_from_the_shared_inference():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        E.tensor([1.0, 2.0]) + E.tensor([1.0, 2.0, 3.0])


def test_grad_is_none_until_backward_and_leaves():
    x = E.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).sum()
    assert x.grad is None and x.is_leaf and not y.is_leaf and y.requires_grad
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert x.grad.grad_fn is None and not x.grad.requires_grad
    z = E.tensor([1.0]) * 2  # nothing requires grad: a leaf without history
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad


def test_retain_grad_on_a_non_leaf():
    x = E.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    y.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


def test_non_scalar_backward_needs_gradient():
    x = E.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient"):
        (x * x).backward()
    with pytest.raises(RuntimeError, match="shape"):
        (x * x).backward(np.ones(3))


def test_backward_of_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        (E.tensor([1.0]) * 2).sum().backward()
    x = E.tensor([1.0], requires_grad=True)
    with sad.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


def test_second_backward_without_retain_graph():
    x = E.tensor(3.0, requires_grad=True)
    y = sad.exp(x)
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_requires_grad_only_on_float_leaves():
    with pytest.raises(RuntimeError, match="float"):
        E.tensor([1, 2], requires_grad=True)
    x = E.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)


def test_inplace_on_a_leaf_that_requires_grad():
    x = E.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: x.__iadd__(1), lambda: x.__imul__(2), lambda: x.__setitem__(0, 5.0), x.zero_):
        with pytest.raises(RuntimeError, match="in-place"):
            op()
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])  # nothing changed


def test_inplace_change_of_a_saved_value_fails_at_backward_naming_the_op():
    x = E.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = sad.sin(y)  # SinBackward needs y
    y += 1
    with pytest.raises(RuntimeError, match="SinBackward.*in-place"):
        z.sum().backward()
    # what was not saved may change: y (re-based onto AddBackward) still differentiates correctly
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_inplace_on_a_leaf_without_grad_is_seen_by_the_backward():
    w = E.tensor([1.0, 2.0], requires_grad=True)
    x = E.tensor([3.0, 4.0])
    y = (x * w).sum()  # MulBackward saved x
    x[0] = 10.0
    with pytest.raises(RuntimeError, match="MulBackward"):
        y.backward()


def test_setitem_on_a_recorded_tensor_routes_gradients():
    x = E.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = E.tensor(5.0, requires_grad=True)
    y = x * 2
    y[1] = v * 3
    np.testing.assert_array_equal(y.numpy(), [2.0, 15.0, 6.0])
    assert y.grad_fn.name == "WhereBackward"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 2.0])
    assert v.grad.item() == 3.0


def test_detach_shares_the_array_and_the_version():
    x = E.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    with sad.no_grad():
        x.add_(1)
    np.testing.assert_array_equal(d.numpy(), [2.0, 3.0])  # same storage, as in PyTorch
    y = (x * x).sum()
    d.mul_(2)  # d does not require grad: allowed, but x's saved value changed
    with pytest.raises(RuntimeError, match="MulBackward"):
        y.backward()


def test_create_graph_differentiates_again():
    x = E.tensor(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    g = x.grad
    assert g.item() == 12.0 and g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == 12.0  # d/dx 3x^2 = 6x


def test_truth_values_and_iteration():
    assert bool(E.tensor(1.0) > 0) and not bool(E.tensor(-1.0) > 0)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(E.tensor([1.0, 2.0]) > 0)
    assert [r.item() for r in E.tensor([1.0, 2.0])] == [1.0, 2.0] and len(E.tensor([1.0, 2.0])) == 2


def test_no_grad_is_thread_local():
    x = E.tensor(1.0, requires_grad=True)
    seen = {}

    def other():
        seen["requires_grad"] = (x * 2).requires_grad

    with sad.no_grad():
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert not (x * 2).requires_grad
    assert seen["requires_grad"] is True


def test_no_grad_decorator_restores_the_mode_on_errors():
    @sad.no_grad()
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert sad.eager.is_grad_enabled()


def test_eager_optimizers_match_the_graph_form():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    xv = rng.standard_normal((4, 3)).astype(np.float32)
    for make in (lambda **k: sad.optim.SGD(lr=0.1, momentum=0.9, **k), lambda **k: sad.optim.Adam(lr=0.05, **k)):
        w = E.tensor(w0, requires_grad=True)
        opt = make(params=[w])
        eager_losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = sad.tanh(E.tensor(xv) @ w).sum() ** 2
            loss.backward()
            opt.step()
            eager_losses.append(loss.item())
        wv = sad.Variable(w0)
        x = sad.placeholder((4, 3))
        gl = sad.tanh(x @ wv).sum() ** 2
        step = sad.function([x], gl, updates=make().updates(gl, [wv]), backend="numpy")
        graph_losses = [float(step(xv)) for _ in range(5)]
        np.testing.assert_allclose(eager_losses, graph_losses, rtol=1e-5)
        np.testing.assert_allclose(w.numpy(), wv.value, rtol=1e-5, atol=1e-6)


def test_optimizer_errors():
    with pytest.raises(TypeError, match="params="):
        sad.optim.SGD(lr=0.1).step()
    with pytest.raises(TypeError, match="eager leaf"):
        sad.optim.SGD(lr=0.1, params=[sad.Variable(np.zeros(2))])
    w = E.tensor([1.0], requires_grad=True)
    opt = sad.optim.SGD(lr=0.1, params=[w])
    opt.step()  # no grad yet: nothing to do
    assert w.item() == 1.0


def test_as_tensor_shares_memory_like_from_numpy():
    a = np.zeros(3, np.float32)
    t = E.as_tensor(a)
    a[0] = 7.0
    assert t.numpy()[0] == 7.0
    c = E.as_tensor(a, dtype="float64")  # another dtype: a copy
    a[1] = 1.0
    assert c.numpy()[1] == 0.0 and c.dtype == np.float64

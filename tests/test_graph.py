"""Building graphs: static shape/dtype inference, build-time errors, Tensor API (API.md §1)."""
import inspect

import numpy as np
import pytest

import staticad as sad


def _raised_at_line(excinfo, lineno):
    """The exception's traceback passes through this test file at ``lineno``."""
    return any(str(entry.path) == __file__ and entry.lineno + 1 == lineno for entry in excinfo.traceback)


def _line():
    return inspect.currentframe().f_back.f_lineno


def f32(*shape, name=None):
    return sad.placeholder(shape, name=name)


# --- shape errors at build time ----------------------------------------------------------------
def test_matmul_shape_error_at_build_time():
    a, b = f32(2, 3, name="a"), f32(4, 5, name="b")
    with pytest.raises(ValueError) as e:
        line = _line() + 1
        a @ b
    assert "(2, 3)" in str(e.value) and "(4, 5)" in str(e.value)
    assert _raised_at_line(e, line)


def test_matmul_function_shape_error_names_shapes():
    a, b = f32(None, 3), f32(2, 7)
    with pytest.raises(ValueError) as e:
        sad.matmul(a, b)
    assert "(None, 3)" in str(e.value) and "(2, 7)" in str(e.value)
    with pytest.raises(ValueError):
        sad.matmul(f32(), f32(3))  # 0-d operand


def test_broadcast_shape_error_at_build_time():
    a, b = f32(2, 3), f32(4,)
    with pytest.raises(ValueError) as e:
        line = _line() + 1
        a + b
    assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value)
    assert _raised_at_line(e, line)
    for op in (lambda: a * b, lambda: a - b, lambda: a / b, lambda: a ** b, lambda: sad.maximum(a, b),
               lambda: a < b, lambda: sad.where(a > 0, a, b)):
        with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)|\(4,\).*\(2, 3\)"):
            op()


def test_broadcast_with_unknown_dims_is_deferred():
    a = f32(None, 3)
    b = f32(5, 1)
    assert (a + b).shape == (5, 3)
    assert (f32(None) + f32(None)).shape == (None,)
    assert (f32(None, 1) * f32(4)).shape == (None, 4)
    assert (f32(1) + f32(None)).shape == (None,)


def test_reshape_size_error_at_build_time():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        f32(2, 3).reshape(4, 2)
    assert f32(2, 3).reshape(-1).shape == (6,)
    assert f32(2, 3).reshape((3, -1)).shape == (3, 2)
    assert f32(None, 3).reshape(-1, 3).shape == (None, 3)


def test_reduction_axis_error():
    with pytest.raises(ValueError):
        f32(2, 3).sum(axis=2)


def test_index_out_of_bounds_at_build_time():
    with pytest.raises(IndexError):
        f32(2, 3)[5]
    with pytest.raises(IndexError):
        f32(2)[0, 1]


def test_placeholder_shape_spec():
    assert sad.placeholder(3).shape == (3,)
    assert sad.placeholder(()).shape == ()
    with pytest.raises(ValueError):
        sad.placeholder((2, -1))
    with pytest.raises(TypeError):
        sad.placeholder((2,), dtype="complex64")


# --- dtypes: weak Python scalars (NEP 50) --------------------------------------------------------
def test_weak_python_scalars():
    x = f32(3)
    i = sad.placeholder((3,), dtype="int32")
    assert (x * 2).dtype == np.float32
    assert (2 * x).dtype == np.float32
    assert (x * 2.5).dtype == np.float32
    assert (x + 1).dtype == np.float32
    assert (x ** 2).dtype == np.float32
    assert (2 ** x).dtype == np.float32
    assert (i * 2).dtype == np.int32
    assert (i * 2.5).dtype == np.float64  # like numpy: int32 array * 2.5 -> float64
    assert (2.5 * i).dtype == np.float64
    assert (i / 2).dtype == np.float64
    assert (x / 2).dtype == np.float32
    assert (x * np.float64(2.0)).dtype == np.float64  # numpy scalars are strong


def test_dtype_promotion_matches_numpy():
    cases = [("float32", "float64"), ("int32", "float32"), ("int32", "int64"), ("bool", "int32"),
             ("float16", "float32"), ("int8", "uint8")]
    for a, b in cases:
        ta = sad.placeholder((2,), dtype=a)
        tb = sad.placeholder((2,), dtype=b)
        expected = (np.ones(2, a) + np.ones(2, b)).dtype
        assert (ta + tb).dtype == expected, (a, b)
        assert (ta * tb).dtype == expected, (a, b)


def test_weak_scalar_values_run_like_numpy(backend):
    i = sad.placeholder((3,), dtype="int32", name="i")
    x = sad.placeholder((3,), name="x")
    f = sad.function([i, x], [i * 2.5, x * 2, i * 2, i / 2], backend=backend)
    ai = np.array([1, 2, 3], np.int32)
    ax = np.array([1, 2, 3], np.float32)
    outs = f(ai, ax)
    refs = [ai * 2.5, ax * 2, ai * 2, ai / 2]
    for out, ref in zip(outs, refs):
        assert out.dtype == ref.dtype
        np.testing.assert_allclose(out, ref)


def test_float_ops_on_ints():
    i = sad.placeholder((3,), dtype="int32")
    assert sad.sin(i).dtype == np.float64
    assert sad.sqrt(f32(3)).dtype == np.float32


# --- truth value --------------------------------------------------------------------------------
def test_bool_raises_naming_cond_and_while_loop():
    x = f32(name="x")
    with pytest.raises(TypeError) as e:
        bool(x > 0)
    assert "sad.cond" in str(e.value) and "sad.while_loop" in str(e.value)


def test_if_on_tensor_raises():
    x = f32(name="x")
    with pytest.raises(TypeError, match="sad.cond"):
        if x > 0:
            pass


def test_while_on_tensor_raises():
    x = f32(3, name="x")
    with pytest.raises(TypeError, match="sad.while_loop"):
        while x.sum() < 10:
            x = x * 2


def test_other_implicit_conversions_raise():
    x = f32(3, name="x")
    with pytest.raises(TypeError):
        np.asarray(x)
    with pytest.raises(TypeError):
        float(x.sum())
    with pytest.raises(TypeError):
        list(x)
    with pytest.raises(TypeError):
        x and x
    with pytest.raises(TypeError, match="symbolic tensor 'x'"):
        int(x)
    with pytest.raises(TypeError, match="symbolic tensor"):
        range(x[0])
    assert len(x) == 3
    with pytest.raises(TypeError):
        len(f32(None, 2))


def test_tensors_are_immutable():
    x = f32(3, name="x")
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 1.0


# --- Tensor properties ----------------------------------------------------------------------------
def test_basic_properties():
    x = sad.placeholder((None, 3), name="inp")
    assert x.shape == (None, 3)
    assert x.dtype == np.float32
    assert x.ndim == 2
    assert x.name == "inp"
    assert isinstance(x, sad.Tensor)
    y = x * 2
    assert isinstance(y.name, str) and y.name and y.name != x.name
    assert "inp" in repr(x)
    s = sad.placeholder((), dtype="int64")
    assert s.shape == () and s.ndim == 0 and s.dtype == np.int64


def test_names_are_unique():
    x = f32(2)
    names = {(x + 1).name for _ in range(20)}
    assert len(names) == 20


def test_transpose_shapes():
    x = sad.placeholder((None, 3))
    assert x.T.shape == (3, None)
    assert f32(2, 3, 4).T.shape == (4, 3, 2)
    assert f32(2, 3, 4).transpose(1, 0, 2).shape == (3, 2, 4)
    assert sad.transpose(f32(2, 3, 4), (2, 0, 1)).shape == (4, 2, 3)
    v = f32(5)
    assert v.T.shape == (5,)


def test_reduction_shapes():
    x = sad.placeholder((None, 3, 4))
    for m in ("sum", "mean", "max", "min"):
        assert getattr(x, m)().shape == ()
        assert getattr(x, m)(axis=1).shape == (None, 4)
        assert getattr(x, m)(axis=(0, 2)).shape == (3,)
        assert getattr(x, m)(axis=-1, keepdims=True).shape == (None, 3, 1)
        assert getattr(x, m)(keepdims=True).shape == (1, 1, 1)
    assert sad.placeholder((3,), dtype="int32").sum().dtype == np.int64  # like numpy
    assert x.mean().dtype == np.float32


def test_reshape_and_astype():
    x = f32(2, 6)
    assert x.reshape(3, 4).shape == (3, 4)
    assert x.reshape((4, 3)).shape == (4, 3)
    assert x.reshape([12]).shape == (12,)
    assert x.astype("float64").dtype == np.float64
    assert x.astype(np.int32).dtype == np.int32
    assert x.astype("float32") is x  # no-op


def test_indexing_shapes():
    x = sad.placeholder((None, 5))
    assert x[0].shape == (5,)
    assert x[:, 1:3].shape == (None, 2)
    assert x[:, 1].shape == (None,)
    assert x[..., ::2].shape == (None, 3)
    assert x[:, None, 2:].shape == (None, 1, 3)
    y = f32(4, 5)
    assert y[1:3].shape == (2, 5)
    assert y[-1, -2].shape == ()
    assert y[::-1].shape == (4, 5)
    with pytest.raises(TypeError):
        y[np.array([0, 1])]  # advanced indexing is not basic indexing


def test_operator_result_shapes_and_dtypes():
    a, b = f32(2, 3), f32(3)
    for t in (a + b, a - b, a * b, a / b, a ** b, -a, abs(a), b + a, 1 - a, 2 / a):
        assert t.shape == (2, 3) and t.dtype == np.float32
    for t in (a < b, a <= b, a > b, a >= b, sad.equal(a, b), sad.not_equal(a, b)):
        assert t.shape == (2, 3) and t.dtype == np.bool_
    assert (a @ f32(3, 4)).shape == (2, 4)
    assert (f32(3) @ f32(3)).shape == ()
    assert (f32(5, 2, 3) @ f32(3, 4)).shape == (5, 2, 4)
    assert (f32(3) @ f32(3, 4)).shape == (4,)
    assert (+a) is a


def test_operators_numeric(backend):
    a = sad.placeholder((2, 3), name="a")
    b = sad.placeholder((3,), name="b")
    m = sad.placeholder((3, 2), name="m")
    exprs = {
        "add": a + b, "sub": a - b, "mul": a * b, "div": a / b, "pow": a ** 2, "rpow": 2 ** a,
        "matmul": a @ m, "neg": -a, "abs": abs(a), "lt": a < b, "le": a <= b, "gt": a > b,
        "ge": a >= b, "eq": sad.equal(a, b), "ne": sad.not_equal(a, b), "T": a.T,
        "sum1": a.sum(axis=1), "mean0k": a.mean(axis=0, keepdims=True), "max": a.max(), "min1": a.min(axis=1),
        "reshape": a.reshape(3, 2), "astype": a.astype("int32"), "idx": a[1], "slice": a[:, 1:3],
        "rsub": 1 - a, "rdiv": 1 / b,
    }
    f = sad.function([a, b, m], exprs, backend=backend)
    va = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, 2.0]], np.float32)
    vb = np.array([1.0, 5.0, 2.0], np.float32)
    vm = np.arange(6, dtype=np.float32).reshape(3, 2)
    refs = {
        "add": va + vb, "sub": va - vb, "mul": va * vb, "div": va / vb, "pow": va ** 2, "rpow": 2 ** va,
        "matmul": va @ vm, "neg": -va, "abs": np.abs(va), "lt": va < vb, "le": va <= vb, "gt": va > vb,
        "ge": va >= vb, "eq": va == vb, "ne": va != vb, "T": va.T,
        "sum1": va.sum(axis=1), "mean0k": va.mean(axis=0, keepdims=True), "max": va.max(), "min1": va.min(axis=1),
        "reshape": va.reshape(3, 2), "astype": va.astype(np.int32), "idx": va[1], "slice": va[:, 1:3],
        "rsub": 1 - va, "rdiv": 1 / vb,
    }
    out = f(va, vb, vm)
    assert set(out) == set(refs)
    for k, ref in refs.items():
        assert out[k].dtype == ref.dtype, k
        assert out[k].shape == ref.shape, k
        np.testing.assert_allclose(out[k], ref, rtol=1e-6, err_msg=k)


def test_ndarray_on_the_left_defers_to_tensor():
    x = f32(3)
    arr = np.ones(3, np.float32)
    for t in (arr + x, arr * x, arr - x, arr / x):
        assert isinstance(t, sad.Tensor) and t.shape == (3,)
    assert isinstance(arr @ f32(3, 2), sad.Tensor)


# --- constants and variables as graph nodes --------------------------------------------------------
def test_constant_dtypes_and_privacy(backend):
    assert sad.constant(1.5).dtype == np.float32
    assert sad.constant([1, 2]).dtype == np.int64
    assert sad.constant(np.array([1.0])).dtype == np.float64
    assert sad.constant(3, dtype="float32").dtype == np.float32
    value = np.array([1.0, 2.0], np.float32)
    c = sad.constant(value)
    value[0] = 100.0  # a private copy was taken
    np.testing.assert_allclose(sad.function([], c, backend=backend)(), [1.0, 2.0])
    with pytest.raises(TypeError):
        sad.constant(f32(2))


def test_variable_is_a_tensor():
    v = sad.Variable(np.zeros((2, 3), np.float32), name="W")
    assert isinstance(v, sad.Tensor)
    assert v.shape == (2, 3) and v.dtype == np.float32 and v.name == "W"
    assert (v @ f32(3, 1)).shape == (2, 1)
    with pytest.raises(TypeError):
        sad.Variable(f32(2))


# --- DOT ------------------------------------------------------------------------------------------
def test_to_dot_contains_nodes():
    x = sad.placeholder((None, 3), name="my_input")
    w = sad.Variable(np.ones((3, 2), np.float32), name="my_weights")
    y = sad.relu(x @ w).sum()
    dot = sad.to_dot(y)
    assert dot.lstrip().startswith("digraph")
    assert dot.rstrip().endswith("}")
    for word in ("my_input", "my_weights", "matmul", "relu", "sum", "->"):
        assert word in dot, word
    assert dot.count("->") >= 4
    many = sad.to_dot([y, x * 2])
    assert "multiply" in many


def test_to_dot_of_gradient_graph():
    x = sad.placeholder((3,), name="x")
    y = (sad.sin(x) * 2).sum()
    g = sad.grad(y, x)
    dot = sad.to_dot(g)
    assert "cos" in dot and "x" in dot

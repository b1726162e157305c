"""The differentiation API (API.md section 2): grad, vjp, jvp, jacobian, hessian, hvp, vhp, stop_gradient.

Per-op derivative rules are tested in tests/ops; this file tests the walkers and the API semantics:
errors, structure, dtypes, run-time (None) shapes, which nodes get differentiated, second order.
"""
import itertools

import numpy as np
import pytest

import staticad as sad
from staticad import graph
from staticad.graph import walk

F64 = "float64"


def run(inputs, outputs, *arrays):
    return sad.function(list(inputs), outputs, backend="numpy")(*arrays)


def ph(shape, dtype=F64, name=None):
    return sad.placeholder(shape, dtype, name=name)


# --- errors ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3,), (2, 3), (None,), (None, 1)], ids=str)
def test_grad_of_non_scalar_without_grad_ys_raises_at_the_grad_call(shape):
    x = ph(shape, name="x")
    y = sad.sin(x)
    with pytest.raises(ValueError, match="grad_ys"):
        sad.grad(y, x)


@pytest.mark.parametrize("bad", [np.ones(4), np.ones((3, 1)), np.ones(()), "tensor(4,)"], ids=str)
def test_grad_ys_of_the_wrong_shape_raises(bad):
    x = ph((3,), name="x")
    y = x * 2
    if isinstance(bad, str):
        bad = ph((4,), name="bad")
    with pytest.raises(ValueError, match=r"grad_ys"):
        sad.grad(y, x, grad_ys=bad)


def test_vjp_and_jvp_seeds_of_the_wrong_shape_or_count_raise():
    x = ph((3,), name="x")
    y = sad.sin(x)
    with pytest.raises(ValueError, match="cotangent"):
        sad.vjp(y, x, np.ones(2))
    with pytest.raises(ValueError, match="tangent"):
        sad.jvp(y, x, np.ones((3, 3)))
    with pytest.raises(ValueError):
        sad.vjp([y, y], x, [np.ones(3)])
    with pytest.raises(ValueError):
        sad.jvp(y, [x, x], [np.ones(3)])


def test_api_misuse_errors():
    x = ph((3,), name="x")
    with pytest.raises(TypeError):
        sad.grad(np.ones(3), x)
    with pytest.raises(TypeError):
        sad.grad(sad.sum(x), np.ones(3))
    with pytest.raises(ValueError, match="mode"):
        sad.jacobian(sad.sin(x), x, mode="sideways")
    with pytest.raises(ValueError, match="scalar"):
        sad.hessian(sad.sin(x), x)
    with pytest.raises(ValueError, match="scalar"):
        sad.hvp(sad.sin(x), x, np.ones(3))
    with pytest.raises(ValueError):
        sad.jacobian(sad.sin(ph((None,), name="d")), x)


# --- values and structure ----------------------------------------------------------------------------------
def test_grad_ys_weights_the_gradient_and_accepts_arrays_and_tensors():
    x = ph((3,), name="x")
    v = ph((3,), name="v")
    y = x * x
    g_arr = sad.grad(y, x, grad_ys=np.array([1.0, 2.0, 3.0]))
    g_list = sad.grad(y, x, grad_ys=[1.0, 2.0, 3.0])
    g_tensor = sad.grad(y, x, grad_ys=v)
    xv, vv = np.array([1.0, -2.0, 0.5]), np.array([4.0, 5.0, 6.0])
    a, b, c = run([x, v], [g_arr, g_list, g_tensor], xv, vv)
    np.testing.assert_allclose(a, 2 * xv * [1, 2, 3])
    np.testing.assert_allclose(b, 2 * xv * [1, 2, 3])
    np.testing.assert_allclose(c, 2 * xv * vv)


def test_vjp_and_jvp_accept_numpy_arrays_and_tensors():
    """The tutorial's x*x with a vector cotangent, in both modes and with both kinds of seed."""
    x = ph((3,), name="x")
    s = ph((3,), name="s")
    y = x * x
    v = np.array([0.1, 1.0, 0.0001])
    outs = [sad.vjp(y, x, v), sad.vjp(y, x, s), sad.jvp(y, x, v), sad.jvp(y, x, s),
            sad.vjp(y, x, [0.1, 1.0, 0.0001]), sad.jvp(y, x, np.array([1, 2, 3]))]
    xv = np.array([1.0, 2.0, 3.0])
    got = run([x, s], outs, xv, v)
    for k in range(4):
        np.testing.assert_allclose(got[k], 2 * xv * v, err_msg=f"output {k}")
    np.testing.assert_allclose(got[4], 2 * xv * v)
    np.testing.assert_allclose(got[5], 2 * xv * [1, 2, 3])


def test_vjp_with_several_ys_sums_their_contributions():
    x = ph((2,), name="x")
    y1, y2 = sad.sin(x), sad.sum(x * x)
    g = sad.vjp([y1, y2], x, [np.array([1.0, 2.0]), np.array(3.0)])
    xv = np.array([0.3, -1.2])
    np.testing.assert_allclose(run([x], g, xv), np.cos(xv) * [1, 2] + 3 * 2 * xv)


def test_x_that_y_does_not_depend_on_gets_zeros_of_its_shape():
    x = ph((3,), name="x")
    z = ph((2, 3), name="z")
    zi = ph((4,), "int64", name="zi")
    zf32 = ph((None, 2), "float32", name="zf32")
    y = sad.sum(sad.sin(x))
    gx, gz, gzi, gzf = sad.grad(y, [x, z, zi, zf32])
    assert gz.shape == (2, 3) and gzf.shape == (None, 2)
    assert gz.dtype == np.float64 and gzf.dtype == np.float32
    xv = np.array([0.1, 0.2, 0.3])
    out = run([x, z, zi, zf32], [gx, gz, gzi, gzf], xv, np.ones((2, 3)), np.arange(4), np.ones((5, 2), np.float32))
    np.testing.assert_allclose(out[0], np.cos(xv))
    np.testing.assert_array_equal(out[1], np.zeros((2, 3)))
    np.testing.assert_array_equal(out[2], np.zeros(4))
    np.testing.assert_array_equal(out[3], np.zeros((5, 2), np.float32))
    assert out[3].dtype == np.float32
    # forward mode: a y that does not depend on x gets a zero tangent of y's shape
    t = sad.jvp(sad.cos(z), x, np.ones(3))
    np.testing.assert_array_equal(run([z], t, np.ones((2, 3))), np.zeros((2, 3)))


def test_a_node_used_several_times_sums_its_contributions():
    x = ph((3,), name="x")
    h = sad.sin(x)
    cases = {
        "x*x -> 2x": (sad.sum(x * x), lambda v: 2 * v),
        "x+x+x -> 3": (sad.sum(x + x + x), lambda v: 3 * np.ones_like(v)),
        "h*h+h with h=sin(x)": (sad.sum(h * h + h), lambda v: (2 * np.sin(v) + 1) * np.cos(v)),
        "x@x -> 2x": (x @ x, lambda v: 2 * v),
        "concatenate([x, x])": (sad.sum(sad.concatenate([x, x]) * 2), lambda v: 4 * np.ones_like(v)),
    }
    xv = np.array([0.5, -1.0, 2.0])
    for label, (y, want) in cases.items():
        np.testing.assert_allclose(run([x], sad.grad(y, x), xv), want(xv), err_msg=label)
        np.testing.assert_allclose(run([x], sad.jvp(y, x, np.ones(3)), xv), np.sum(want(xv)), err_msg=label)


def test_grad_with_respect_to_intermediate_nodes_and_to_y_itself():
    x = ph((3,), name="x")
    h = sad.sin(x)
    y = sad.sum(h * 3)
    gh, gy, gx = sad.grad(y, [h, y, x])
    xv = np.array([0.1, 0.2, 0.3])
    a, b, c = run([x], [gh, gy, gx], xv)
    np.testing.assert_allclose(a, [3.0, 3.0, 3.0])
    assert b == 1.0
    np.testing.assert_allclose(c, 3 * np.cos(xv))
    np.testing.assert_allclose(run([x], sad.grad(sad.sum(x), x), xv), np.ones(3))


def test_grad_with_respect_to_a_variable():
    w = sad.Variable(np.array([1.0, 2.0]), dtype=F64)
    x = ph((2,), name="x")
    loss = sad.sum((w * x - 1.0) ** 2)
    gw = sad.grad(loss, w)
    xv = np.array([3.0, -1.0])
    np.testing.assert_allclose(run([x], gw, xv), 2 * (w.value * xv - 1) * xv)


def test_xs_structure_is_mirrored():
    x, z = ph((2,), name="x"), ph((), name="z")
    y = sad.sum(x) * z
    assert isinstance(sad.grad(y, x), graph.Tensor)
    assert isinstance(sad.grad(y, [x, z]), list) and len(sad.grad(y, [x, z])) == 2
    assert isinstance(sad.grad(y, (x, z)), tuple)
    assert isinstance(sad.vjp(y, x, 1.0), graph.Tensor)
    assert isinstance(sad.vjp(y, [x], 1.0), list)
    assert isinstance(sad.vjp(y, (x, z), 1.0), tuple)
    # jvp mirrors ys
    assert isinstance(sad.jvp(y, x, np.ones(2)), graph.Tensor)
    assert isinstance(sad.jvp([y, x], x, np.ones(2)), list)
    assert isinstance(sad.jvp((y, x), [x, z], [np.ones(2), 1.0]), tuple)
    assert isinstance(sad.hvp(sad.sum(x * x), [x], [np.ones(2)]), list)
    assert isinstance(sad.vhp(sad.sum(x * x), (x,), (np.ones(2),)), tuple)
    gx, gz = sad.grad(y, (x, z))
    out = run([x, z], (gx, gz), np.array([1.0, 2.0]), np.array(3.0))
    assert isinstance(out, tuple)
    np.testing.assert_allclose(out[0], [3.0, 3.0])
    np.testing.assert_allclose(out[1], 3.0)


@pytest.mark.parametrize("mode", ["grad", "jvp", "hessian"])
def test_derivatives_keep_the_input_dtype(mode):
    x = ph((3,), "float32", name="x")
    c = sad.constant(np.array([1.0, 2.0, 3.0]), dtype=F64)
    y = sad.sum(sad.sin(x) * 2 * c) + sad.sum(x * x)  # float64 y from a float32 x
    assert y.dtype == np.float64
    if mode == "grad":
        d = sad.grad(y, x)
        want_dtype, shape = np.float32, (3,)
    elif mode == "jvp":
        d = sad.jvp(sad.sin(x) * 2, x, np.ones(3))  # float64 tangent, float32 y
        want_dtype, shape = np.float32, (3,)
    else:
        d = sad.hessian(sad.sum(x * x * x), x)
        want_dtype, shape = np.float32, (3, 3)
    assert d.dtype == want_dtype, f"{mode}: static dtype {d.dtype}"
    out = run([x], d, np.array([0.1, 0.2, 0.3], np.float32))
    assert out.dtype == want_dtype and out.shape == shape, f"{mode}: computed {out.dtype} {out.shape}"
    if mode == "grad":
        np.testing.assert_allclose(out, 2 * np.cos([0.1, 0.2, 0.3]) * [1, 2, 3] + 2 * np.array([0.1, 0.2, 0.3]),
                                   rtol=1e-6)


def test_float32_graph_gradients_stay_float32_throughout():
    x = ph((2, 3), "float32", name="x")
    b = ph((3,), "float32", name="b")
    y = sad.mean(sad.softmax(x @ sad.transpose(x) * 0.5, axis=-1)[:, 0] + sad.sum(sad.relu(x + b), axis=1))
    gx, gb = sad.grad(y, [x, b])
    for g in (gx, gb):
        assert g.dtype == np.float32
    for node in walk([gx, gb]):
        assert node.dtype != np.float64, f"float64 node {node} in a float32 gradient graph"


# --- stop_gradient ----------------------------------------------------------------------------------------
def test_stop_gradient_has_value_but_no_derivative():
    x = ph((3,), name="x")
    xv = np.array([0.5, -1.0, 2.0])
    for stop in (sad.stop_gradient, sad.detach, lambda t: t.detach()):
        s = stop(x)
        assert s.op.name == "stop_gradient"
        np.testing.assert_array_equal(run([x], s * 1.0, xv), xv)
        g_alone = sad.grad(sad.sum(s), x)
        g_prod = sad.grad(sad.sum(s * x), x)  # d/dx [sg(x) x] = sg(x): only the direct path counts
        t_prod = sad.jvp(s * x, x, np.ones(3))
        hess = sad.hessian(sad.sum(s * x * x), x)  # d2/dx2 [sg(x) x^2] = 2 sg(x) on the diagonal
        a, b, c, h = run([x], [g_alone, g_prod, t_prod, hess], xv)
        np.testing.assert_array_equal(a, np.zeros(3))
        np.testing.assert_array_equal(b, xv)
        np.testing.assert_array_equal(c, xv)
        np.testing.assert_allclose(h, np.diag(2 * xv))
    # the tutorial's detach: y = x * x, u = y.detach(), z = u * x  ->  dz/dx = u
    y = x * x
    u = sad.detach(y)
    z = u * x
    np.testing.assert_allclose(run([x], sad.grad(sad.sum(z), x), xv), xv * xv)


# --- which nodes get backward nodes -------------------------------------------------------------------------
def _gradient_of_model_with_unrelated_branch(length):
    x = ph((3,), name="x")
    z = ph((3,), name="z")
    chain = z
    chain_nodes = []
    for _ in range(length):
        chain = sad.cos(chain) * 2.0
        chain_nodes.append(chain)
    y = sad.sum(sad.exp(x) * z) + sad.sum(chain)
    before = set(walk([y]))
    first_id = next(graph._ids)
    g = sad.grad(y, x)
    created = next(graph._ids) - first_id - 1
    new_nodes = [n for n in walk([g]) if n not in before]
    return x, z, g, chain_nodes, new_nodes, created


def test_only_nodes_on_a_path_from_xs_to_y_get_backward_nodes():
    short = _gradient_of_model_with_unrelated_branch(1)
    long = _gradient_of_model_with_unrelated_branch(12)
    # the unrelated branch cos(z)*2*... is not differentiated at all: as many nodes either way
    assert len(short[4]) == len(long[4])
    assert short[5] == long[5], "sad.grad built more nodes because of a branch that does not depend on x"
    x, z, g, chain_nodes, new_nodes, _ = long
    reached = set(walk([g]))
    assert not reached & set(chain_nodes), "the gradient graph reaches the unrelated branch"
    assert not any(n.op.name == "sin" for n in reached), "cos(z) was differentiated (its derivative uses sin)"
    np.testing.assert_allclose(run([x, z], g, np.zeros(3), np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])


def test_jvp_is_forward_mode_without_a_reverse_pass():
    x = ph((2, 3), name="x")
    y = sad.sum(sad.concatenate([x[:, 1:], sad.broadcast_to(x[:, :1], (2, 2))], axis=1) ** 2, axis=0)
    t = sad.jvp(y, x, np.ones((2, 3)))
    reverse_only = {"getitem_grad", "concat_part", "sum_to_like"}
    used = {n.op.name for n in walk([t])}
    assert not used & reverse_only, f"jvp used reverse-mode ops {used & reverse_only}"
    xv = np.arange(6.0).reshape(2, 3)
    e = np.concatenate([xv[:, 1:], np.broadcast_to(xv[:, :1], (2, 2))], axis=1)
    np.testing.assert_allclose(run([x], t, xv), np.sum(2 * e, axis=0))


# --- run-time (None) dims -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fed", [(1, 3), (4, 3)], ids=str)
def test_none_dim_broadcast_at_call_time_sums_the_gradient_back(fed):
    a = ph((None, 3), name="a")
    b = ph((4, 3), name="b")
    c = sad.constant(np.arange(12.0).reshape(4, 3))
    y = sad.sum((a * b + a * c) ** 2)
    ga, gb = sad.grad(y, [a, b])
    ta = sad.jvp(y, a, sad.ones_like(a))
    av = np.linspace(-1, 1, int(np.prod(fed))).reshape(fed)
    bv = np.linspace(0.5, 2, 12).reshape(4, 3)
    got_a, got_b, got_t = run([a, b], [ga, gb, ta], av, bv)
    cv = np.arange(12.0).reshape(4, 3)
    inner = av * bv + av * cv
    want_a = np.sum(2 * inner * (bv + cv), axis=0, keepdims=True) if fed[0] == 1 else 2 * inner * (bv + cv)
    assert got_a.shape == fed, f"gradient of a fed {fed}: shape {got_a.shape}"
    np.testing.assert_allclose(got_a, want_a)
    np.testing.assert_allclose(got_b, 2 * inner * av)
    np.testing.assert_allclose(got_t, np.sum(want_a))


@pytest.mark.parametrize("sa, sb, fa, fb", [
    ((None, 3), (None, 3), (1, 3), (5, 3)),
    ((None, 3), (None, 3), (5, 3), (1, 3)),
    ((None,), (None, 1), (4,), (2, 1)),
    ((None, None), (3,), (2, 1), (3,)),
    ((None,), (), (1,), ()),
], ids=lambda v: str(v))
def test_none_dims_broadcasting_every_op_kind(sa, sb, fa, fb):
    a, b = ph(sa, name="a"), ph(sb, name="b")
    av = np.linspace(0.5, 1.5, int(np.prod(fa))).reshape(fa)
    bv = np.linspace(-1.0, 1.0, int(np.prod(fb))).reshape(fb)
    ys = {
        "add": (sad.sum(a + b), lambda: (np.ones(fa) * np.prod(np.broadcast_shapes(fa, fb)) / np.prod(fa),
                                         np.ones(fb) * np.prod(np.broadcast_shapes(fa, fb)) / max(np.prod(fb), 1))),
        "maximum": (sad.sum(sad.maximum(a, b * 0.1)), None),
        "where": (sad.sum(sad.where(b > 0, a, b)), None),
        "divide": (sad.sum(b / a), None),
    }
    for label, (y, _) in ys.items():
        ga, gb = sad.grad(y, [a, b])
        got_a, got_b = run([a, b], [ga, gb], av, bv)
        assert got_a.shape == fa and got_b.shape == fb, f"{label}: {got_a.shape}, {got_b.shape}"
        # compare with the same graph built on static shapes
        a2, b2 = ph(fa, name="a2"), ph(fb, name="b2")
        y2 = {"add": lambda: sad.sum(a2 + b2), "maximum": lambda: sad.sum(sad.maximum(a2, b2 * 0.1)),
              "where": lambda: sad.sum(sad.where(b2 > 0, a2, b2)), "divide": lambda: sad.sum(b2 / a2)}[label]()
        want_a, want_b = run([a2, b2], sad.grad(y2, [a2, b2]), av, bv)
        np.testing.assert_allclose(got_a, want_a, err_msg=f"{label} {sa}+{sb} fed {fa}+{fb}: grad a")
        np.testing.assert_allclose(got_b, want_b, err_msg=f"{label} {sa}+{sb} fed {fa}+{fb}: grad b")


def test_none_dims_in_reductions_reshapes_and_matmul():
    x = ph((None, 3), name="x")
    w = ph((3, 2), name="w")
    y = sad.mean(sad.logsumexp(x @ w, axis=1)) + sad.sum(sad.reshape(x, (-1,))[1:] ** 2) + sad.max(x)
    gx, gw = sad.grad(y, [x, w])
    for n in (1, 4):
        xv = np.arange(3.0 * n).reshape(n, 3) / 7.0
        wv = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
        x2, w2 = ph((n, 3), name="x2"), ph((3, 2), name="w2")
        y2 = sad.mean(sad.logsumexp(x2 @ w2, axis=1)) + sad.sum(sad.reshape(x2, (-1,))[1:] ** 2) + sad.max(x2)
        want = run([x2, w2], sad.grad(y2, [x2, w2]), xv, wv)
        got = run([x, w], [gx, gw], xv, wv)
        for g, wnt, name in zip(got, want, "xw"):
            assert g.shape == wnt.shape
            np.testing.assert_allclose(g, wnt, rtol=1e-12, err_msg=f"grad {name} with {n} rows")


def _derivatives(build, shapes, arrays):
    """Reverse, forward and reverse-over-reverse derivatives of ``build`` on placeholders of ``shapes``."""
    xs = [ph(s, name=f"x{i}") for i, s in enumerate(shapes)]
    y = build(*xs)
    gs = sad.grad(sad.sum(sad.sin(y)), xs)
    t = sad.jvp(y, xs, [sad.ones_like(x) for x in xs])
    h = sad.grad(sad.sum(gs[0] * gs[0]), xs)
    return run(xs, [gs, t, h], *arrays)


NONE_DIM_MODELS = {
    "add": (sad.add, [(3, 1), (1, 4)]),
    "multiply-(2,1,3)*(4,1)": (sad.multiply, [(2, 1, 3), (4, 1)]),
    "divide-scalar": (lambda a, b: a / (b * b + 1), [(), (2, 3)]),
    "maximum": (sad.maximum, [(2, 3), (3,)]),
    "where": (lambda a, b: sad.where(a > b, a, b * 2), [(1, 3), (3, 1)]),
    "clip": (lambda a, b: sad.clip(a, b, b + 1), [(2, 3), (1, 3)]),
    "matmul-batch": (sad.matmul, [(1, 2, 3), (4, 3, 2)]),
    "matmul-vector": (sad.matmul, [(3,), (2, 3, 2)]),
    "dot": (sad.dot, [(2, 3), (3,)]),
    "sum-axis=1": (lambda x: sad.sum(x, axis=1), [(2, 3)]),
    "sum-keepdims": (lambda x: sad.sum(x, axis=0, keepdims=True), [(2, 3)]),
    "mean-axis=(0,2)": (lambda x: sad.mean(x, axis=(0, 2)), [(2, 3, 2)]),
    "max-axis=1": (lambda x: sad.max(x, axis=1), [(2, 3)]),
    "prod-axis=0": (lambda x: sad.prod(x, axis=0), [(2, 3)]),
    "logsumexp": (lambda x: sad.logsumexp(x, axis=1), [(2, 3)]),
    "softmax": (lambda x: sad.softmax(x, axis=0), [(2, 3)]),
    "norm": (sad.norm, [(2, 3)]),
    "getitem": (lambda x: x[1:, ::2], [(3, 4)]),
    "getitem-ellipsis": (lambda x: x[..., 0], [(3, 4)]),
    "concatenate": (lambda a, b: sad.concatenate([a, b], axis=1), [(2, 3), (2, 2)]),
    "stack": (lambda a, b: sad.stack([a, b], axis=1), [(2, 3), (2, 3)]),
    "reshape-(-1,)": (lambda x: sad.reshape(x, (-1,)), [(2, 3)]),
    "reshape-(3,-1)": (lambda x: sad.reshape(x, (3, -1)), [(2, 3)]),
    "transpose": (lambda x: x.T, [(2, 3)]),
    "expand_dims": (lambda x: sad.expand_dims(x, 1), [(2, 3)]),
    "squeeze": (lambda x: sad.squeeze(x, 1), [(2, 1)]),
    "broadcast_to": (lambda x: sad.broadcast_to(x, (4, 3)), [(1, 3)]),
}


@pytest.mark.parametrize("name", sorted(NONE_DIM_MODELS))
def test_none_dims_give_the_derivatives_of_static_shapes(name):
    """Every way of hiding dims as None (known only at call time) gives the static-shape derivatives."""
    build, shapes = NONE_DIM_MODELS[name]
    rng = np.random.default_rng(7)
    arrays = [rng.uniform(0.5, 2.0, s) for s in shapes]
    want = _derivatives(build, shapes, arrays)
    want = want[0] + [want[1]] + want[2]
    masks = [list(itertools.product([False, True], repeat=len(s))) for s in shapes]
    for combo in itertools.product(*masks):
        dyn = [tuple(None if hide else d for hide, d in zip(mask, s)) for mask, s in zip(combo, shapes)]
        got = _derivatives(build, dyn, arrays)
        got = got[0] + [got[1]] + got[2]
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.shape == w.shape, f"{name} with shapes {dyn}: derivative {k} has shape {g.shape}, want {w.shape}"
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=f"{name} with shapes {dyn}: derivative {k}")


# --- second order -----------------------------------------------------------------------------------------
def _hessian_model(x):
    return sad.sum(sad.exp(x) * sad.sin(x)) + (x @ x) ** 2


def _analytic_hessian(xv):
    return np.diag(2 * np.exp(xv) * np.cos(xv)) + 4 * (xv @ xv) * np.eye(xv.size) + 8 * np.outer(xv, xv)


def test_hessian_matches_the_analytic_hessian():
    x = ph((4,), name="x")
    H = sad.hessian(_hessian_model(x), x)
    assert H.shape == (4, 4)
    xv = np.array([0.3, -1.1, 0.7, 2.0])
    np.testing.assert_allclose(run([x], H, xv), _analytic_hessian(xv), rtol=1e-12)


def test_hvp_and_vhp_equal_hessian_times_v():
    x = ph((4,), name="x")
    v = ph((4,), name="v")
    y = _hessian_model(x)
    xv, vv = np.array([0.3, -1.1, 0.7, 2.0]), np.array([1.0, -2.0, 0.5, 0.25])
    outs = run([x, v], [sad.hvp(y, x, v), sad.vhp(y, x, v), sad.hvp(y, x, vv), sad.vhp(y, x, vv)], xv, vv)
    H = _analytic_hessian(xv)
    for k, got in enumerate(outs):
        np.testing.assert_allclose(got, H @ vv, rtol=1e-12, err_msg=f"output {k}")


def test_hessian_of_several_xs_is_nested_and_symmetric():
    x, w = ph((2,), name="x"), ph((3,), name="w")
    y = sad.sum(sad.exp(x)) * sad.sum(w * w) + sad.sum(sad.sin(w))
    (hxx, hxw), (hwx, hww) = sad.hessian(y, [x, w])
    assert hxw.shape == (2, 3) and hwx.shape == (3, 2)
    xv, wv = np.array([0.1, -0.4]), np.array([1.0, 2.0, -0.5])
    a, b, c, d = run([x, w], [hxx, hxw, hwx, hww], xv, wv)
    np.testing.assert_allclose(a, np.diag(np.exp(xv)) * np.sum(wv * wv))
    np.testing.assert_allclose(b, np.outer(np.exp(xv), 2 * wv))
    np.testing.assert_allclose(c, b.T)
    np.testing.assert_allclose(d, 2 * np.sum(np.exp(xv)) * np.eye(3) - np.diag(np.sin(wv)))


JACOBIAN_MODELS = {
    "sin(A@x)*sum(x[:2])": ((4,), lambda x: sad.sin(sad.constant(np.arange(12.0).reshape(3, 4) / 10) @ x)
                             * sad.sum(x[:2])),
    "matrix->matrix": ((3, 2), lambda x: sad.softmax(x @ sad.transpose(x), axis=0)),
    "scalar->vector": ((), lambda x: sad.stack([x, x * x, sad.exp(x)])),
    "vector->scalar": ((3,), lambda x: sad.logsumexp(x) * sad.prod(x)),
}


@pytest.mark.parametrize("name", sorted(JACOBIAN_MODELS))
def test_jacobian_reverse_and_forward_modes_agree(name):
    from tests.ops.checks import numeric_jacobians
    shape, fn = JACOBIAN_MODELS[name]
    x = ph(shape, name="x")
    y = fn(x)
    jr, jf = sad.jacobian(y, x, mode="rev"), sad.jacobian(y, x, mode="fwd")
    assert jr.shape == jf.shape == y.shape + x.shape
    xv = np.linspace(0.3, 1.2, int(np.prod(shape))).reshape(shape)
    a, b = run([x], [jr, jf], xv)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"{name}: rev vs fwd")
    _, (numeric,) = numeric_jacobians(sad.function([x], y, backend="numpy"), [xv])
    np.testing.assert_allclose(a, numeric, rtol=1e-6, atol=1e-8, err_msg=f"{name}: vs finite differences")


def test_jacobian_of_a_list_of_xs_returns_a_tuple():
    x, w = ph((3,), name="x"), ph((2,), name="w")
    y = sad.concatenate([x * sad.sum(w), w ** 2])
    for mode in ("rev", "fwd"):
        jac = sad.jacobian(y, [x, w], mode=mode)
        assert isinstance(jac, tuple) and len(jac) == 2, f"{mode}: {type(jac).__name__}"
        assert jac[0].shape == (5, 3) and jac[1].shape == (5, 2)
        xv, wv = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0])
        jx, jw = run([x, w], jac, xv, wv)
        np.testing.assert_allclose(jx, np.vstack([np.eye(3) * wv.sum(), np.zeros((2, 3))]))
        np.testing.assert_allclose(jw, np.vstack([np.outer(xv, np.ones(2)), np.diag(2 * wv)]))
    assert isinstance(sad.jacobian(y, (x, w)), tuple)


def test_third_derivative_by_differentiating_gradients_again():
    x = ph((4,), name="x")
    y = sad.sum(x ** 3 * sad.sin(x))
    g1 = sad.grad(y, x)
    g2 = sad.grad(sad.sum(g1), x)
    g3 = sad.grad(sad.sum(g2), x)
    ones = np.ones(4)
    t3 = sad.jvp(sad.jvp(sad.jvp(y, x, ones), x, ones), x, ones)  # forward over forward over forward
    m3 = sad.jvp(sad.grad(sad.sum(g1), x), x, ones)  # forward over reverse over reverse
    xv = np.array([0.3, -1.1, 0.7, 2.0])
    s, c = np.sin(xv), np.cos(xv)
    want = {1: 3 * xv ** 2 * s + xv ** 3 * c,
            2: 6 * xv * s + 6 * xv ** 2 * c - xv ** 3 * s,
            3: 6 * s + 18 * xv * c - 9 * xv ** 2 * s - xv ** 3 * c}
    a, b, d, e, f = run([x], [g1, g2, g3, t3, m3], xv)
    np.testing.assert_allclose(a, want[1], rtol=1e-12)
    np.testing.assert_allclose(b, want[2], rtol=1e-12)
    np.testing.assert_allclose(d, want[3], rtol=1e-12)
    np.testing.assert_allclose(e, np.sum(want[3]), rtol=1e-12)
    np.testing.assert_allclose(f, want[3], rtol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_any_order_of_a_scalar_function(order):
    """d^n/dx^n exp(2x) = 2^n exp(2x), by repeated grad and by repeated jvp."""
    x = ph((), name="x")
    d_rev = d_fwd = sad.exp(x * 2)
    for _ in range(order):
        d_rev = sad.grad(d_rev, x)
        d_fwd = sad.jvp(d_fwd, x, 1.0)
    a, b = run([x], [d_rev, d_fwd], np.array(0.3))
    np.testing.assert_allclose([a, b], [2 ** order * np.exp(0.6)] * 2, rtol=1e-12)


def test_mixed_partials_through_jvp_and_vjp_with_several_xs():
    x, w = ph((3,), name="x"), ph((3,), name="w")
    y = sad.sum(sad.tanh(x * w))
    gx = sad.grad(y, x)
    # d/dw <gx, u> by reverse, and J_w(gx) u by forward, against the analytic mixed Hessian
    u = np.array([1.0, 0.5, -2.0])
    rev = sad.grad(sad.sum(gx * u), w)
    fwd = sad.jvp(gx, w, u)
    xv, wv = np.array([0.2, -0.5, 1.0]), np.array([1.5, 0.3, -0.7])
    t = np.tanh(xv * wv)
    sech2 = 1 - t ** 2
    mixed_diag = sech2 + xv * wv * (-2 * t * sech2)  # d/dw_i [w_i sech^2(x_i w_i)]
    a, b = run([x, w], [rev, fwd], xv, wv)
    np.testing.assert_allclose(a, mixed_diag * u, rtol=1e-12)
    np.testing.assert_allclose(b, mixed_diag * u, rtol=1e-12)


def test_jvp_with_tangents_for_several_xs_sums_them():
    x, w = ph((2,), name="x"), ph((2,), name="w")
    y = x * w + sad.sin(x)
    t = sad.jvp(y, [x, w], [np.array([1.0, 0.0]), np.array([0.0, 2.0])])
    t_only_w = sad.jvp(y, [x, w], [np.zeros(2), np.ones(2)])
    xv, wv = np.array([0.1, 0.2]), np.array([3.0, 4.0])
    a, b = run([x, w], [t, t_only_w], xv, wv)
    np.testing.assert_allclose(a, np.array([1.0, 0.0]) * (wv + np.cos(xv)) + np.array([0.0, 2.0]) * xv)
    np.testing.assert_allclose(b, xv)


def test_gradient_graphs_have_no_nan_from_unselected_branches():
    """where(x > 0, sqrt(x), 0) at x <= 0 and x ** y at x = 0: the gradient is finite where defined."""
    x = ph((3,), name="x")
    p = ph((3,), name="p")
    y = sad.sum(x ** p)
    gx, gp = sad.grad(y, [x, p])
    gp2 = sad.grad(sad.sum(gp), p)  # d2/dp2 x**p = x**p log(x)^2 (0 at x = 0)
    xv, pv = np.array([0.0, 1.0, 2.0]), np.array([2.0, 3.0, 1.5])
    a, b, c = run([x, p], [gx, gp, gp2], xv, pv)
    np.testing.assert_allclose(a, pv * xv ** (pv - 1))
    np.testing.assert_allclose(b, [0.0, 0.0, 2.0 ** 1.5 * np.log(2.0)])
    np.testing.assert_allclose(c, [0.0, 0.0, 2.0 ** 1.5 * np.log(2.0) ** 2])


def test_repeated_derivatives_of_powers_at_zero_are_finite():
    """d^k/dx^k x**3 at 0 is 0, 0, 6, 0 (not nan from 0 * 0**-1); x**0 has derivative 0 at 0."""
    x = ph((), name="x")
    d = x ** 3
    ds = []
    for _ in range(4):
        d = sad.grad(d, x)
        ds.append(d)
    ds.append(sad.grad(x ** 0, x))
    ds.append(sad.jvp(sad.jvp(sad.jvp(sad.jvp(x ** 3, x, 1.0), x, 1.0), x, 1.0), x, 1.0))
    np.testing.assert_array_equal(run([x], ds, np.array(0.0)), [0.0, 0.0, 6.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(run([x], ds, np.array(2.0)), [12.0, 12.0, 6.0, 0.0, 0.0, 0.0])

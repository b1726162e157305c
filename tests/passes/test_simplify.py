"""simplify: algebraic identities; every rewrite keeps value, static shape and dtype."""
import numpy as np

import staticad as sad
from staticad.passes import simplify

from .helpers import assert_same_values, evaluate, op_counts, program

SPECIALS = np.array([[0.0, -0.0, 1.5], [-2.0, np.inf, np.nan]])


def test_removes_multiplicative_and_additive_identities():
    x = sad.placeholder((None, 3), "float64", name="x")
    outs = [x * 1.0, 1.0 * x, x + 0.0, 0.0 + x, x - 0.0, x / 1.0, x ** 1.0, -(-x)]
    before = program([x], outs)
    after = simplify(before)
    assert all(o is x for o in after.outputs)
    assert op_counts(after) == {"placeholder": 1}
    assert_same_values(before, after, [SPECIALS])


def test_times_minus_one_becomes_negative_and_power_zero_ones():
    x = sad.placeholder((None, 3), "float64", name="x")
    before = program([x], [x * -1.0, x / -1.0, x ** 0.0])
    after = simplify(before)
    assert [o.op.name for o in after.outputs] == ["negative", "negative", "full_like"]
    assert_same_values(before, after, [SPECIALS])


def test_identity_is_kept_when_the_constant_broadcasts_the_operand():
    x = sad.placeholder((None, 1), "float64", name="x")
    ones = sad.constant(np.ones((1, 3)))
    before = program([x], [x * ones, x + sad.zeros((2, 1), "float64")])
    after = simplify(before)
    assert after.outputs[0].shape == (None, 3) and after.outputs[0].op.name == "multiply"
    assert after.outputs[1].op.name == "add"
    assert_same_values(before, after, [np.arange(2.0).reshape(2, 1)])


def test_float_times_zero_is_kept_integer_times_zero_is_zeros():
    x = sad.placeholder((None, 3), "float64", name="x")
    k = sad.placeholder((None, 3), "int64", name="k")
    before = program([x, k], [x * 0.0, 0 * k])
    after = simplify(before)
    assert after.outputs[0].op.name == "multiply"          # inf*0 and nan*0 are NaN
    assert after.outputs[1].op.name == "full_like"
    values = evaluate(after, [SPECIALS, np.arange(6).reshape(2, 3)])
    assert np.isnan(values[0][1, 1:]).all() and np.signbit(values[0][1, 0])
    assert_same_values(before, after, [SPECIALS, np.arange(6).reshape(2, 3)])


def test_casts_to_the_same_dtype_and_widening_round_trips_go():
    x = sad.placeholder((3,), "float32", name="x")
    d = sad.placeholder((3,), "float64", name="d")
    widen = sad.astype(sad.astype(x, "float64"), "float32")
    narrow = sad.astype(sad.astype(d, "float32"), "float64")          # loses bits: must stay
    before = program([x, d], [widen, narrow])
    after = simplify(before)
    assert after.outputs[0] is x
    assert op_counts(after)["astype"] == 2
    assert_same_values(before, after, [np.array([1e-30, 3.3, np.inf], "float32"),
                                       np.array([1 / 3, 1e-300, 1e300])])


def test_fill_feeding_an_elementwise_op_becomes_a_scalar():
    x = sad.placeholder((None, 3), "float32", name="x")
    y = sad.sin(x)
    before = program([x], [sad.ones_like(x) * y, sad.where(x > 0, y, sad.zeros_like(y))])
    after = simplify(before)
    assert after.outputs[0] is after.outputs[1].inputs[1]          # ones_like(x) * y -> y
    assert "full_like" not in op_counts(after)
    where = after.outputs[1]
    assert where.inputs[2].op.name == "constant" and where.inputs[2].shape == ()
    assert where.shape == (None, 3) and where.dtype == np.float32
    assert_same_values(before, after, [np.array([[1, -2, 3], [0, 5, -6]], "float32")])


def test_scalar_replacement_keeps_shape_and_dtype():
    x = sad.placeholder((None, 3), "float32", name="x")
    s = sad.placeholder((), "float32", name="s")
    # the fill has x's shape but the other operand is a scalar: it must keep the broadcast
    before = program([x, s], [sad.ones_like(x) * s, sad.ones_like(x, "float64") * x])
    after = simplify(before)
    out0, out1 = after.outputs
    assert out0.shape == (None, 3) and out0.dtype == np.float32 and "full_like" in op_counts(after)
    assert out1.dtype == np.float64
    assert_same_values(before, after, [np.ones((4, 3), "float32"), np.float32(2.5)])


def test_fill_of_another_tensor_keeps_its_broadcast():
    a = sad.placeholder((None, 3), "float64", name="a")
    b = sad.placeholder((None, 3), "float64", name="b")
    before = program([a, b], [sad.ones_like(a) * b])   # a's batch may be 4 where b's is 1
    after = simplify(before)
    assert after.outputs[0].op.name == "multiply" and "full_like" in op_counts(after)
    assert_same_values(before, after, [np.ones((4, 3)), np.full((1, 3), 2.0)])


def test_gradient_broadcasts_of_a_training_step_are_removed_when_provably_identities():
    x = sad.placeholder((None, 5), "float64", name="x")
    y = sad.placeholder((None, 2), "float64", name="y")
    w1 = sad.Variable(np.linspace(-1, 1, 15).reshape(5, 3), name="w1")
    w2 = sad.Variable(np.linspace(-1, 1, 6).reshape(3, 2), name="w2")
    out = sad.tanh(x @ w1) @ w2
    loss = ((out - y) ** 2).sum()
    before = program([x, y], [loss] + sad.grad(loss, [w1, w2]))
    assert op_counts(before)["broadcast_like"] == 1 and op_counts(before)["sum_to_like"] == 2
    after = simplify(before)
    counts = op_counts(after)
    assert "broadcast_like" not in counts and "full_like" not in counts
    # matmul(g, w2.T) provably has tanh's (batch, 3) shape: that sum_to_like goes; the one for
    # out - y stays, since y's batch may be 1 and be broadcast against x's
    assert counts["sum_to_like"] == 1
    rng = np.random.default_rng(0)
    assert_same_values(before, after, [rng.normal(size=(4, 5)), rng.normal(size=(4, 2))])
    assert_same_values(before, after, [rng.normal(size=(4, 5)), rng.normal(size=(1, 2))])


def test_sum_of_a_broadcast_constant_is_a_multiply_by_the_count():
    x = sad.placeholder((None, 3), "float64", name="x")
    total = sad.ops.broadcast_like(sad.constant(0.25, "float64"), x).sum()
    ones = sad.ones_like(x).sum(keepdims=True)
    before = program([x], [total, ones])
    after = simplify(before)
    counts = op_counts(after)
    assert "sum" not in counts and "broadcast_like" not in counts and "full_like" not in counts
    assert counts["count"] == 2 and after.outputs[1].shape == (1, 1)   # cse merges the counts
    assert_same_values(before, after, [np.zeros((5, 3))])
    assert_same_values(before, after, [np.zeros((0, 3))])


def test_gradient_of_a_scalar_bias_is_the_element_count():
    x = sad.placeholder((None, 3), "float64", name="x")
    s = sad.placeholder((), "float64", name="s")
    before = program([x, s], [sad.grad((x + s).sum(), s)])
    assert op_counts(before)["sum_to_like"] == 1
    after = simplify(before)
    assert after.outputs[0].op.name == "count"          # 1.0 * count(x + s) -> count(x + s)
    assert_same_values(before, after, [np.zeros((5, 3)), np.float64(1.0)])
    assert_same_values(before, after, [np.zeros((0, 3)), np.float64(1.0)])


def test_sum_of_a_broadcast_placeholder_stays():
    # s * count would be NaN for s = inf and an empty x, where the sum is 0
    x = sad.placeholder((None, 3), "float64", name="x")
    s = sad.placeholder((), "float64", name="s")
    before = program([x, s], [sad.ops.broadcast_like(s, x).sum()])
    after = simplify(before)
    assert after.outputs[0].op.name == "sum"
    assert_same_values(before, after, [np.zeros((0, 3)), np.float64(np.inf)])


def test_stop_gradient_and_shape_round_trips_go():
    x = sad.placeholder((None, 3), "float64", name="x")
    outs = [sad.stop_gradient(x), x[:, :], x.T.T, sad.squeeze(sad.expand_dims(x, 0), 0),
            sad.ops.sum_to_like(sad.sin(x), x), sad.ops.broadcast_like(x, sad.cos(x))]
    before = program([x], outs)
    after = simplify(before)
    assert all(o is x for o in after.outputs[:4])
    assert after.outputs[4].op.name == "sin" and after.outputs[5] is x
    assert_same_values(before, after, [SPECIALS])


def test_unknown_relations_are_left_alone():
    a = sad.placeholder((None, 3), "float64", name="a")
    b = sad.placeholder((None, 3), "float64", name="b")
    before = program([a, b], [sad.ops.sum_to_like(a, b), sad.ops.broadcast_like(a, b)])
    after = simplify(before)
    assert [o.op.name for o in after.outputs] == ["sum_to_like", "broadcast_like"]
    assert_same_values(before, after, [np.ones((1, 3)), np.ones((4, 3))])


def test_power_two_becomes_square():
    import numpy as np
    import staticad as sad
    from staticad.passes.simplify import simplify
    from staticad.program import Program
    from staticad.evaluate import Interpreter
    x = sad.placeholder((None,), "float64", name="x")
    y = (x - 1.5) ** 2
    prog = Program.build("p", [x], [y], [])
    out = simplify(prog)
    names = [n.op.name for n in out.nodes]
    assert "power" not in names and "square" in names
    v = np.array([0.0, 2.0, -3.0, np.inf, np.nan])
    a = Interpreter(prog).run([v])[0][0]
    b = Interpreter(out).run([v])[0][0]
    np.testing.assert_array_equal(a, b)


def test_degenerate_matmuls_become_elementwise_and_a_sum():
    """Linear regression with one feature: (N,1)@(1,1) is an outer product -> multiply (bit for
    bit); (1,N)@(N,1) an inner product -> sum(a.T * b, axis=0, keepdims=True) (rounding differs)."""
    x = sad.placeholder((None, 1), "float64", name="x")
    w = sad.placeholder((1, 1), "float64", name="w")
    r = sad.placeholder((None, 1), "float64", name="r")
    u = sad.placeholder((None, 3), "float64", name="u")
    before = program([x, w, r, u], [x @ w, x.T @ r, u @ sad.constant(np.ones((3, 2)))])
    after = simplify(before)
    assert after.outputs[0].op.name == "multiply"
    assert after.outputs[1].op.name == "sum" and after.outputs[1].shape == (1, 1)
    assert after.outputs[2].op.name == "matmul"            # a real matrix product stays
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal((7, 1)), rng.standard_normal((1, 1)), rng.standard_normal((7, 1)),
            rng.standard_normal((7, 3))]
    e, g = evaluate(before, vals), evaluate(after, vals)
    np.testing.assert_array_equal(g[0], e[0])
    np.testing.assert_allclose(g[1], e[1], rtol=1e-12)
    np.testing.assert_array_equal(g[2], e[2])
    assert [o.shape for o in after.outputs] == [o.shape for o in before.outputs]


def test_where_of_equal_branches_is_the_branch():
    x = sad.placeholder((None, 3), "float64", name="x")
    c = x > 0.0
    ones = sad.constant(np.ones(3))
    before = program([x], [sad.where(c, x, x), sad.where(c, sad.ones_like(x), sad.ones_like(x) * 1.0),
                           sad.where(c, 0.0, -0.0), sad.where(c, ones, x)])
    after = simplify(before)
    assert after.outputs[0] is x
    assert after.outputs[1].op.name == "full_like"
    assert after.outputs[2].op.name == "where"   # 0.0 and -0.0 differ in their sign bit
    assert after.outputs[3].op.name == "where"
    assert_same_values(before, after, [SPECIALS])


def test_where_of_equal_branches_keeps_a_shape_the_condition_broadcasts():
    x = sad.placeholder((3,), "float64", name="x")
    c = sad.placeholder((2, 3), "bool", name="c")
    before = program([x, c], [sad.where(c, x, x)])
    after = simplify(before)
    assert after.outputs[0].shape == (2, 3) and after.outputs[0].op.name == "where"
    assert_same_values(before, after, [np.arange(3.0), np.array([[True, False, True], [False] * 3])])

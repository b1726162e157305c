"""fold_constants: input-independent subgraphs become constant nodes with the same bits."""
import numpy as np

import staticad as sad
from staticad.passes import fold_constants

from .helpers import assert_same_values, op_counts, program


def test_folds_a_constant_subgraph():
    x = sad.placeholder((None, 3), "float32", name="x")
    c = sad.exp(sad.constant(np.arange(3.0), "float32")) * sad.constant(2.0, "float32") + 1.0
    before = program([x], [x * c])
    assert op_counts(before)["constant"] == 3
    after = fold_constants(before)
    # exp, multiply and add collapse into one constant; only the final multiply reads x
    assert op_counts(after) == {"placeholder": 1, "constant": 1, "multiply": 1}
    folded = after.outputs[0].inputs[1]
    assert folded.dtype == np.float32 and folded.shape == (3,)
    assert_same_values(before, after, [np.ones((2, 3), "float32")])


def test_fill_and_count_of_a_static_shape_fold_but_not_of_a_run_time_shape():
    static = sad.placeholder((2, 3), "float64", name="s")
    dynamic = sad.placeholder((None, 3), "float64", name="d")
    outs = [sad.ones_like(static), sad.ones_like(dynamic), static.mean(), dynamic.mean()]
    before = program([static, dynamic], outs)
    assert op_counts(before)["full_like"] == 2 and op_counts(before)["count"] == 2
    after = fold_constants(before)
    assert op_counts(after)["full_like"] == 1 and op_counts(after)["count"] == 1
    assert after.outputs[0].op.name == "constant"
    assert_same_values(before, after, [np.ones((2, 3)), np.ones((5, 3))])


def test_never_folds_placeholders_or_variables():
    x = sad.placeholder((), "float64", name="x")
    w = sad.Variable(3.0, dtype="float64", name="w")
    before = program([x], [x * 2.0, w * 2.0, sad.sin(w)])
    after = fold_constants(before)
    assert op_counts(after) == op_counts(before)


def test_full_folds_when_small_and_big_results_stay():
    small = sad.zeros((2, 2), "float64") + 1.0
    big = sad.ones((400, 400), "float64") + 1.0     # 160000 elements: over the limit
    before = program([], [small, big])
    after = fold_constants(before)
    assert after.outputs[0].op.name == "constant"
    assert after.outputs[1].op.name == "add" and after.outputs[1].inputs[0].op.name == "full"
    assert_same_values(before, after, [])


def test_keeps_dtype_and_integer_semantics():
    a = sad.constant(np.array([7, -7], dtype="int32"))
    before = program([], [a * 3, sad.astype(a, "float32") / 2.0])
    after = fold_constants(before)
    assert [o.op.name for o in after.outputs] == ["constant", "constant"]
    assert after.outputs[0].dtype == np.int32 and after.outputs[1].dtype == np.float32
    assert_same_values(before, after, [])


def test_a_broadcast_expansion_of_small_constants_stays_for_the_loop():
    n = 100
    idx = np.arange(n)
    col, row = sad.constant(idx.reshape(n, 1)), sad.constant(idx.reshape(1, n))
    x = sad.placeholder((n, n), "float64", name="x")
    small = sad.equal(col[:8], row[:, :8])  # 64 elements: cheap to fold
    before = program([x], [sad.where(sad.equal(col, row), x, 0.0), small])
    after = fold_constants(before)
    # n*n results from 2n constants: read in the fused loop, not as an (n, n) constant
    mask = after.outputs[0].inputs[0]
    assert mask.op.name == "equal" and [i.op.name for i in mask.inputs] == ["constant", "constant"]
    assert after.outputs[1].op.name == "constant"
    assert_same_values(before, after, [np.arange(n * n, dtype="float64").reshape(n, n)])

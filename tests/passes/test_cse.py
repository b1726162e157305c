"""eliminate_common_subexpressions: each distinct expression is computed once."""
import numpy as np
import pytest

import staticad as sad
from staticad.passes import eliminate_common_subexpressions as cse
from staticad.passes.cse import attr_key

from .helpers import assert_same_values, op_counts, program


def test_merges_the_cos_the_gradient_of_sin_times_cos_rebuilds():
    x = sad.placeholder((None,), "float64", name="x")
    y = (sad.sin(x) * sad.cos(x)).sum()
    before = program([x], [y, sad.grad(y, x)])
    assert op_counts(before)["cos"] == 2 and op_counts(before)["sin"] == 2
    after = cse(before)
    assert op_counts(after)["cos"] == 1 and op_counts(after)["sin"] == 1
    assert len(after.nodes) < len(before.nodes)
    assert_same_values(before, after, [np.linspace(-3, 3, 7)])


def test_equal_attrs_merge_and_different_attrs_do_not():
    x = sad.placeholder((None, 4), "float64", name="x")
    outs = [x.sum(axis=0), x.sum(axis=0), x.sum(axis=1), x.sum(axis=0, keepdims=True),
            x[:, 1:3], x[:, 1:3], x[:, 1:4], x[0], x[0],
            sad.astype(x, "float32"), sad.astype(x, "float32"), sad.astype(x, "int64")]
    before = program([x], outs)
    after = cse(before)
    counts = op_counts(after)
    assert counts["sum"] == 3 and counts["getitem"] == 3 and counts["astype"] == 2
    o = after.outputs
    assert o[0] is o[1] and o[0] is not o[2] and o[0] is not o[3]
    assert o[4] is o[5] and o[4] is not o[6] and o[7] is o[8]
    assert o[9] is o[10] and o[9] is not o[11]
    assert_same_values(before, after, [np.arange(12.0).reshape(3, 4)])


def test_constants_merge_by_dtype_shape_and_bits():
    x = sad.placeholder((3,), "float32", name="x")
    c = [sad.constant(v, dtype=d) for v, d in
         [(2.0, "float32"), (2.0, "float32"), (2.0, "float64"), (0.0, "float32"), (-0.0, "float32"),
          ([2.0], "float32")]]
    before = program([x], [x * k for k in c])
    after = cse(before)
    consts = [o.inputs[1] for o in after.outputs]
    assert consts[0] is consts[1]                            # same value, dtype and shape
    assert consts[2] is not consts[0]                        # float64 vs float32
    assert consts[3] is not consts[4]                        # 0.0 and -0.0 differ
    assert consts[5] is not consts[0]                        # shape (1,) vs ()
    assert after.outputs[0] is after.outputs[1]              # so the multiplies merge too
    assert_same_values(before, after, [np.array([1.0, -np.inf, np.nan], "float32")])


def test_commutative_operands_in_either_order_merge():
    a = sad.placeholder((2,), "float64", name="a")
    b = sad.placeholder((2,), "float64", name="b")
    before = program([a, b], [a + b, b + a, a * b, b * a, a - b, b - a])
    after = cse(before)
    assert op_counts(after) == {"placeholder": 2, "add": 1, "multiply": 1, "subtract": 2}
    assert_same_values(before, after, [np.array([1.0, 2.0]), np.array([5.0, -1.0])])


def test_variables_and_placeholders_are_never_merged():
    v1 = sad.Variable(np.ones(2), name="v1")
    v2 = sad.Variable(np.ones(2), name="v2")
    x = sad.placeholder((2,), "float64", name="x")
    before = program([x], [v1 + x, v2 + x], [(v1, v1 * 2.0), (v2, v2 * 2.0)])
    after = cse(before)
    counts = op_counts(after)
    assert counts["variable"] == 2 and counts["add"] == 2 and counts["multiply"] == 2
    assert counts["constant"] == 1                         # the two 2.0 constants do merge
    assert [v for v, _ in after.updates] == [v1, v2]
    assert_same_values(before, after, [np.arange(2.0)])


@pytest.mark.parametrize("a, b, equal", [
    (0.0, -0.0, False), (1, True, False), (1, 1.0, False), (float("nan"), float("nan"), True),
    (np.dtype("float32"), np.float32, True), (np.dtype("float32"), np.dtype("float64"), False),
    (slice(1, 3), slice(1, 3), True), (slice(1, 3), slice(1, 4), False),
    ((1, ("slice", None, 2, None)), (1, ("slice", None, 2, None)), True),
    ({"axes": (0, 1), "keepdims": False}, {"keepdims": False, "axes": (0, 1)}, True),
    ({"axes": (0, 1), "keepdims": False}, {"axes": (0, 1), "keepdims": True}, False),
    (np.array([1, 2]), np.array([1, 2]), True), (np.array([1, 2]), np.array([1.0, 2.0]), False),
])
def test_attr_key(a, b, equal):
    assert (attr_key(a) == attr_key(b)) is equal
    hash(attr_key(a))

"""Symbolic shapes (passes/symshape.py): each op's rule (``Op.symshape``) relates its dims to its inputs'."""
import numpy as np

import staticad as sad
from staticad.graph import Tensor, apply
from staticad.ops import shape as shape_ops
from staticad.registry import Op
from staticad.passes.symshape import symbolic_shapes

from .helpers import program

F64 = "float64"


def sym_of(outputs, inputs):
    prog = program(inputs, outputs)
    sym = symbolic_shapes(prog.nodes)
    return [sym[o] for o in outputs]


def inp(node, axis):
    return ("in", node.id, axis)


def test_placeholders_get_a_symbol_per_unknown_dim_and_keep_static_dims():
    x = sad.placeholder((None, 3, None), F64, name="x")
    assert sym_of([x], [x]) == [(inp(x, 0), 3, inp(x, 2))]


def test_elementwise_ops_broadcast_symbols_and_a_static_dim_beats_a_symbol():
    a = sad.placeholder((None, 1), F64, name="a")
    b = sad.placeholder((1, None), F64, name="b")
    c = sad.placeholder((None,), F64, name="c")
    d = sad.placeholder((5,), F64, name="d")
    e = sad.placeholder((None,), F64, name="e")
    outs = [a + b, c + d, c * e, sad.where(c > 0, c, 0.0)]
    got = sym_of(outs, [a, b, c, d, e])
    assert got[0] == (inp(a, 0), inp(b, 1))
    assert got[1] == (5,)
    assert got[2] == (("bc", frozenset({inp(c, 0), inp(e, 0)})),)  # equal at run time, or an error
    assert got[3] == (inp(c, 0),)


def test_reductions_drop_or_keep_their_axes():
    x = sad.placeholder((None, 4, None), F64, name="x")
    outs = [sad.sum(x, axis=1), sad.max(x, axis=(0, 2), keepdims=True), sad.prod(x), sad.norm(x), sad.mean(x)]
    got = sym_of(outs, [x])
    assert got[:4] == [(inp(x, 0), inp(x, 2)), (1, 4, 1), (), ()]


def test_like_ops_take_their_reference_shape():
    g = sad.placeholder((None, 3), F64, name="g")
    ref = sad.placeholder((None, 1), F64, name="ref")
    x = sad.placeholder((None,), F64, name="x")
    outs = [shape_ops.sum_to_like(g, ref), shape_ops.broadcast_like(ref, g), sad.ones_like(x),
            shape_ops.reshape_like(x, ref)]
    got = sym_of(outs, [g, ref, x])
    assert got[0] == (inp(ref, 0), 1)
    assert got[1] == (("bc", frozenset({inp(ref, 0), inp(g, 0)})), 3)
    assert got[2] == (inp(x, 0),)
    assert got[3] == (inp(ref, 0), 1)


def test_shape_ops_move_symbols():
    x = sad.placeholder((None, 3, None), F64, name="x")
    outs = [sad.transpose(x, (2, 0, 1)), sad.expand_dims(x, (0, 2)), sad.squeeze(sad.expand_dims(x, 1), 1),
            sad.broadcast_to(sad.placeholder((1, 3), F64, name="r"), (4, 3))]
    got = sym_of(outs, [x])
    assert got[0] == (inp(x, 2), inp(x, 0), 3)
    assert got[1] == (1, inp(x, 0), 1, 3, inp(x, 2))
    assert got[2] == (inp(x, 0), 3, inp(x, 2))
    assert got[3] == (4, 3)


def test_matmul_rows_of_a_columns_of_b_and_broadcast_batch_dims():
    a = sad.placeholder((None, 3), F64, name="a")
    b = sad.placeholder((3, None), F64, name="b")
    p = sad.placeholder((None, 2, 3), F64, name="p")
    v = sad.placeholder((3,), F64, name="v")
    got = sym_of([a @ b, p @ b, a @ v], [a, b, p, v])
    assert got == [(inp(a, 0), inp(b, 1)), (inp(p, 0), 2, inp(b, 1)), (inp(a, 0),)]


def test_getitem_keeps_full_slices_and_gives_other_slices_of_unknown_dims_their_own_symbol():
    x = sad.placeholder((None, None, 4), F64, name="x")
    y = x[:, 1:, None, 0]
    (got,) = sym_of([y], [x])
    assert got == (inp(x, 0), ("node", y.id, 1), 1)


def test_concat_part_has_its_part_shape_and_unrelated_dims_are_the_nodes_own():
    a = sad.placeholder((None, 2), F64, name="a")
    b = sad.placeholder((None, 3), F64, name="b")
    c = sad.concatenate([a, b], axis=1)
    part = apply(shape_ops.CONCAT_PART, (c, a, b), axis=1, index=1)
    r = sad.reshape(a, (-1,))
    got = sym_of([c, part, r], [a, b])
    assert got[0] == (("node", c.id, 0), 5)  # no rule: concatenate's unknown dims are its own
    assert got[1] == (inp(b, 0), 3)
    assert got[2] == (("node", r.id, 0),)  # nor the -1 of a reshape


def test_stack_scatter_has_its_reference_shape():
    from staticad.control.ops import stack_scatter
    g = sad.placeholder((3,), F64, name="g")
    k = sad.placeholder((), "int64", name="k")
    ref = sad.placeholder((None, 3), F64, name="ref")
    (got,) = sym_of([stack_scatter(g, k, ref)], [g, k, ref])
    assert got == (inp(ref, 0), 3)


def test_the_pass_reads_the_rule_of_the_op():
    """A new op's rule is one field of its definition: here the result has the rows of input 1."""
    op = Op("rows_of_second", infer=None, impl=None, symshape=lambda node, ins: ins[1][:1])
    a = sad.placeholder((None,), F64, name="a")
    b = sad.placeholder((None, 2), F64, name="b")
    t = Tensor(op, (a, b), {}, (None,), np.dtype(F64), "t")
    sym = symbolic_shapes([a, b, t])
    assert sym[t] == (inp(b, 0),)
    # without a rule: a non-elementwise op's unknown dims are its own
    t2 = Tensor(Op("opaque", infer=None, impl=None), (a,), {}, (None, 2), np.dtype(F64), "t2")
    assert symbolic_shapes([a, t2])[t2] == (("node", t2.id, 0), 2)

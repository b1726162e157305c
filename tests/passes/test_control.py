"""merge_loop_recordings and the other passes on programs with control-flow nodes."""
import numpy as np

import staticad as sad
from staticad.compiler import compile_program
from staticad.control.ops import tuple_get
from staticad.control.subgraph import SubGraph
from staticad.graph import apply
from staticad.passes import merge_loop_recordings, optimize, prune_control_inputs
from staticad.passes.rewrite import op_counts
from staticad.program import Program


def _loops(program):
    return [n for n in program.nodes if n.op.name == "while_loop"]


def _value_and_grad():
    x = sad.placeholder((3,), "float64", name="x")
    y = sad.while_loop(lambda y: y.sum() < 50.0, lambda y: y * y + 1.0, x)
    s = y.sum()
    return x, [s, sad.grad(s, x)]


def test_value_and_gradient_share_one_forward_loop():
    x, outs = _value_and_grad()
    before = Program.build("f", [x], outs, [])
    # before: the primal loop, its recording copy (stacks y) and the backward loop
    assert sorted(n.attrs["record"] for n in _loops(before)) == [(), (), (0,)]
    after = merge_loop_recordings(before)
    assert sorted(n.attrs["record"] for n in _loops(after)) == [(), (0,)]
    xv = np.array([0.5, 1.0, 1.5])
    ref = compile_program(before, "numpy").run([xv])[0]
    got = compile_program(after, "numpy").run([xv])[0]
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)


def test_optimize_merges_and_keeps_values():
    x, outs = _value_and_grad()
    before = Program.build("f", [x], outs, [])
    after, report = optimize(before)
    assert op_counts(after)["while_loop"] == 2
    assert any(stat.name == "merge_loop_recordings" and stat.removed > 0 for stat in report)
    xv = np.array([0.5, 1.0, 1.5])
    for a, b in zip(compile_program(before, "numpy").run([xv])[0],
                    compile_program(after, "numpy").run([xv])[0]):
        np.testing.assert_allclose(a, b, rtol=1e-15)


def test_unrelated_loops_are_not_merged():
    x = sad.placeholder((), "float64", name="x")
    a = sad.while_loop(lambda y: y < 10.0, lambda y: y * y + 1.0, x)
    b = sad.while_loop(lambda y: y < 10.0, lambda y: y * y + 1.0, x)  # same text, other sub-graphs
    program = Program.build("f", [x], [a, b, sad.grad(a, x)], [])
    assert len(_loops(program)) == 4  # a, b, a's recording copy, the backward loop
    assert sorted(n.attrs["record"] for n in _loops(merge_loop_recordings(program))) == [(), (), (0,)]


def test_prune_control_inputs_drops_unread_operands():
    """The tutorial's cond VJP (identity or 100*ct) does not read the primal operand b."""
    a = sad.placeholder((), name="a")
    b = sad.while_loop(lambda b: b.norm() < 1000, lambda b: b * 2, a * 2)
    c = sad.cond(b.sum() > 0, lambda b: b, lambda b: 100 * b, b)
    before = Program.build("f", [a], [sad.grad(c, a)], [])
    (vjp_cond,) = [n for n in before.nodes if n.op.name == "cond"]
    assert vjp_cond.attrs["n_operands"] == 2  # b and the cotangent
    after = prune_control_inputs(before)
    (pruned,) = [n for n in after.nodes if n.op.name == "cond"]
    assert pruned.attrs["n_operands"] == 1 and len(pruned.inputs) == 2
    assert len(pruned.attrs["true"].params) == 1
    for av in (np.float32(0.3), np.float32(-0.4)):
        want = compile_program(before, "numpy").run([av])[0]
        got = compile_program(after, "numpy").run([av])[0]
        np.testing.assert_array_equal(got[0], want[0])


def test_prune_control_inputs_drops_unread_loop_captures():
    """A loop whose body no longer reads a capture (as after optimizing inside it) loses that input."""
    x = sad.placeholder((2,), "float64", name="x")
    w = sad.placeholder((2,), "float64", name="w")
    y = sad.while_loop(lambda y: y.sum() < 10.0, lambda y: y * w, x)
    loop = y.inputs[0]
    body = loop.attrs["body"]
    lean = SubGraph(body.name, body.params, [body.params[0] * 2.0])
    node = apply(loop.op, loop.inputs, **dict(loop.attrs, body=lean))
    out = prune_control_inputs(Program.build("g", [x, w], [tuple_get(node, 0)], []))
    (pruned,) = _loops(out)
    assert len(pruned.inputs) == 1 and len(pruned.attrs["cond"].params) == 1
    xv = np.array([1.0, 2.0])
    np.testing.assert_array_equal(compile_program(out, "numpy").run([xv, xv])[0][0], [4.0, 8.0])

"""merge_loop_recordings and the other passes on programs with control-flow nodes."""
import numpy as np

import staticad as sad
from staticad.backends import numpy_backend
from staticad.passes import merge_loop_recordings, optimize
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
    ref = numpy_backend.compile_program(before).run([xv])[0]
    got = numpy_backend.compile_program(after).run([xv])[0]
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)


def test_optimize_merges_and_keeps_values():
    x, outs = _value_and_grad()
    before = Program.build("f", [x], outs, [])
    after, report = optimize(before)
    assert op_counts(after)["while_loop"] == 2
    assert any(stat.name == "merge_loop_recordings" and stat.removed > 0 for stat in report)
    xv = np.array([0.5, 1.0, 1.5])
    for a, b in zip(numpy_backend.compile_program(before).run([xv])[0],
                    numpy_backend.compile_program(after).run([xv])[0]):
        np.testing.assert_allclose(a, b, rtol=1e-15)


def test_unrelated_loops_are_not_merged():
    x = sad.placeholder((), "float64", name="x")
    a = sad.while_loop(lambda y: y < 10.0, lambda y: y * y + 1.0, x)
    b = sad.while_loop(lambda y: y < 10.0, lambda y: y * y + 1.0, x)  # same text, other sub-graphs
    program = Program.build("f", [x], [a, b, sad.grad(a, x)], [])
    assert len(_loops(program)) == 4  # a, b, a's recording copy, the backward loop
    assert sorted(n.attrs["record"] for n in _loops(merge_loop_recordings(program))) == [(), (), (0,)]

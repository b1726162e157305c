"""prune_to_outputs: only what the outputs and updates need survives."""
import numpy as np

import staticad as sad
from staticad.graph import walk
from staticad.passes import prune_to_outputs
from staticad.program import Program

from .helpers import assert_same_values, op_counts


def test_prunes_a_branch_the_output_ignores():
    x = sad.placeholder((None, 3), "float64", name="x")
    kept = sad.sin(x) * 2.0
    ignored = sad.exp(sad.cos(x)).sum()          # declared, never asked for
    nodes = walk([kept, ignored])
    before = Program("branchy", [x], [kept], [], nodes)
    assert {"exp", "cos", "sum"} <= set(op_counts(before))

    after = prune_to_outputs(before)

    assert len(before.nodes) == 7 and len(after.nodes) == 4   # x, sin, 2.0, multiply
    assert set(op_counts(after)) == {"placeholder", "sin", "constant", "multiply"}
    assert all(any(n is m for m in before.nodes) for n in after.nodes)  # no node is rebuilt
    assert_same_values(before, after, [np.arange(6.0).reshape(2, 3)])


def test_keeps_update_ancestors_and_variables():
    x = sad.placeholder((4,), "float64", name="x")
    w = sad.Variable(np.ones(4), name="w")
    unused = sad.tanh(w) * x
    loss = (w * x).sum()
    step = w - sad.grad(loss, w) * 0.1
    before = Program("step", [x], [loss], [(w, step)], walk([loss, step, unused]))
    after = prune_to_outputs(before)
    assert "tanh" in op_counts(before) and "tanh" not in op_counts(after)
    assert after.updates[0][0] is w and any(n is w for n in after.nodes)
    assert_same_values(before, after, [np.arange(4.0)])


def test_keeps_every_declared_input():
    x = sad.placeholder((2,), "float64", name="x")
    unused_input = sad.placeholder((2,), "float64", name="u")
    out = x + 1.0
    before = Program("p", [x, unused_input], [out], [], walk([out, unused_input * 3.0]))
    after = prune_to_outputs(before)
    assert after.inputs == [x, unused_input] and len(after.nodes) == 3
    assert_same_values(before, after, [np.ones(2), np.zeros(2)])

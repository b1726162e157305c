"""The fuse pass (passes/fuse.py): which nodes land in which loop kernel, what each kernel stores,
which cheap values a later kernel recomputes, and where library steps break kernels.

Programs are built without ``optimize`` so every node named here is in the plan."""
import numpy as np

import staticad as sad
from staticad.graph import CONSTANT
from staticad.ops import shape as shape_ops
from staticad.passes.fuse import MAX_KERNEL_OPS, LoopKernel, fuse_elementwise

from .helpers import program

F32 = "float32"


def plan_of(inputs, outputs):
    return fuse_elementwise(program(inputs, outputs))


def ops_of(nodes):
    return [n.op.name for n in nodes]


def arrays(k):
    """The operands of kernel ``k`` other than constants."""
    return [o for o in k.operands if o.op is not CONSTANT]


def test_forward_and_backward_elementwise_work_share_one_kernel_with_its_reduction():
    x = sad.placeholder((None, 3), F32, name="x")
    y = sad.sin(x) * 2.0
    s = sad.sum(y)
    g = sad.cos(x) * 2.0  # the derivative of y: same iteration space, same loop
    plan = plan_of([x], [s, g])
    assert len(plan.steps) == 1
    (k,) = plan.kernels
    assert set(k.members) == {y, y.inputs[0], g, g.inputs[0]} and k.sinks == [s]
    assert k.stored == [g]  # y and sin(x) never leave the loop; the sum is an accumulator
    assert arrays(k) == [x]


def test_a_value_read_outside_its_kernel_is_stored_and_library_steps_break_kernels():
    x = sad.placeholder((None, 3), F32, name="x")
    w = sad.constant(np.ones((3, 4), np.float32), name="w")
    h = sad.exp(x)
    m = h @ w
    r = sad.relu(m)
    plan = plan_of([x], [r])
    kinds = [s.op.name if not isinstance(s, LoopKernel) else ops_of(s.members) for s in plan.steps]
    assert kinds == [["exp"], "matmul", ["relu"]]
    first, last = plan.kernels
    assert first.stored == [h]      # the matmul (a library step) reads it
    assert last.stored == [r]       # an output
    assert plan.kernel_of[h] is first and m not in plan.kernel_of


def test_iteration_spaces_split_kernels_and_a_reduction_sinks_into_its_inputs_loop():
    x = sad.placeholder((None, 4), F32, name="x")
    rows = sad.sum(x * x, axis=1)          # accumulates in the loop over x
    out = sad.sqrt(rows) + 1.0             # a loop over the rows
    plan = plan_of([x], [out])
    k0, k1 = plan.kernels
    assert ops_of(k0.members) == ["multiply"] and k0.sinks == [rows]
    assert ops_of(k1.members) == ["sqrt", "add"] and k1.operands[0] is rows
    assert k0.sym != k1.sym and plan.kernel_of[rows] is k0


def test_a_later_kernel_recomputes_cheap_values_instead_of_loading_them():
    x = sad.placeholder((None, 3), F32, name="x")
    w = sad.constant(np.ones((3, 3), np.float32), name="w")
    mask = sad.astype(x > 0, F32)                    # cheap: a compare and a cast
    e = sad.exp(x)                                   # not cheap: a libm call
    m = (x * mask + e) @ w                           # a library step between the two kernels
    out = m * mask + m * e
    plan = plan_of([x], [out])
    k0, k1 = plan.kernels
    assert mask not in k0.stored and mask in k1.members and mask.inputs[0] in k1.members
    assert e in k0.stored and e not in k1.members and e in k1.operands
    assert x in k1.operands  # the one extra array read that the recompute needs


def test_inputs_read_for_their_shape_only_are_not_operands():
    x = sad.placeholder((None, 3), F32, name="x")
    w = sad.constant(np.ones((3, 2), np.float32), name="w")
    m = x @ w
    ones = sad.ones_like(m)                          # reads m's shape, never its values
    plan = plan_of([x], [ones, m])
    k = plan.kernel_of[ones]
    assert arrays(k) == []  # no dependency on the matmul
    # an unknown dim no rule relates to the inputs must be read from the array: then it is one
    y = x[1:]
    plan = plan_of([x], [sad.ones_like(y) * 2.0])
    assert arrays(plan.kernels[0]) == [y]


def test_a_kernel_holds_at_most_max_kernel_ops_nodes():
    x = sad.placeholder((None,), F32, name="x")
    y = x
    for _ in range(2 * MAX_KERNEL_OPS + 10):
        y = y + 1.0
    plan = plan_of([x], [y])
    sizes = [len(k.members) for k in plan.kernels]
    assert sizes == [MAX_KERNEL_OPS, MAX_KERNEL_OPS, 10]
    for k, nxt in zip(plan.kernels, plan.kernels[1:]):
        assert k.stored == [k.members[-1]] and arrays(nxt) == [k.members[-1]]


def test_library_steps_and_kernels_are_in_dependency_order():
    x = sad.placeholder((None, 3), F32, name="x")
    t = sad.transpose(sad.tanh(x))                   # a view: a library step
    c = sad.concatenate([x, x * 2.0], axis=1)        # a library step reading a kernel's value
    plan = plan_of([x], [t * 3.0, c])
    order = {id(s): i for i, s in enumerate(plan.steps)}
    for step in plan.steps:
        reads = step.operands if isinstance(step, LoopKernel) else step.inputs
        for r in reads:
            src = plan.kernel_of.get(r, r)
            if id(src) in order:
                assert order[id(src)] < order[id(step)]


def test_sum_to_like_is_a_sink_with_a_shape_only_reference():
    g = sad.placeholder((None, 3), F32, name="g")
    ref = sad.placeholder((1, 3), F32, name="ref")
    s = shape_ops.sum_to_like(g * 2.0, ref)
    plan = plan_of([g, ref], [s])
    (k,) = plan.kernels
    assert k.sinks == [s] and arrays(k) == [g]

"""The compile pipeline's passes, in one place: ``optimize -> fuse_elementwise -> KernelPlan``.

Every backend that compiles code gets its plan from :func:`make_plan` (via
:mod:`staticad.compiler`); the plans of control-flow sub-graphs (branches, loop conditions and
bodies) come from :func:`subplan`, made the same way and kept on the parent plan.
"""
from __future__ import annotations

from ..ops.creation import FULL
from ..program import Program
from . import PassStat, optimize
from .fuse import KernelPlan, fuse_elementwise
from .gemm_update import fuse_gemm_updates
from .symshape import assuming_equal


def make_plan(program: Program, long_ok=None, equal_dims=()) -> KernelPlan:
    """``program`` optimized (:func:`~staticad.passes.optimize`), its SGD-like weight updates made
    ``gemm_update`` nodes (:func:`~.gemm_update.fuse_gemm_updates`), fused into loop kernels
    (``long_ok``: the backend's nodes that may form kernels past the cap, see fuse_elementwise).

    ``equal_dims``: groups of ``(input index, axis)`` whose run-time sizes the plan takes as equal
    (:func:`~.symshape.assuming_equal`); only correct for calls where they are (the caller checks,
    see :class:`staticad.compiler.SpecializedExecutable`)."""
    with assuming_equal(program, equal_dims):
        optimized, report = optimize(program)
        before = len(optimized.nodes)
        optimized = fuse_gemm_updates(optimized)
        report.append(PassStat("fuse_gemm_updates", before, len(optimized.nodes)))
        plan = fuse_elementwise(optimized, long_ok)
    plan.original = program
    plan.pass_report = report
    plan.equal_dims = tuple(equal_dims)
    return plan


def interpreted_plan(program: Program) -> KernelPlan:
    """The plan of a backend that runs the graph as declared: no passes, one step per node."""
    return KernelPlan([n for n in program.nodes if n.inputs or n.op is FULL], {}, {}, program,
                      original=program)


def subplan(plan: KernelPlan, sub) -> KernelPlan:
    """The plan of the control-flow sub-graph ``sub`` read by one of ``plan``'s nodes (made once)."""
    entry = plan.subplans.get(id(sub))
    if entry is None or entry[0] is not sub:
        entry = plan.subplans[id(sub)] = (sub, make_plan(sub.program))
    return entry[1]

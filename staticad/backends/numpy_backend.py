"""The reference backend: interprets the graph as declared, op by op, with each op's NumPy rule
(:class:`~staticad.evaluate.Interpreter`), after checking the inputs' run-time dims."""
from __future__ import annotations

import numpy as np

from ..evaluate import Interpreter
from ..graph import _format_shape
from ..passes.fuse import KernelPlan
from .base import CompileOptions, ExecStats, ExecutableBase
from .shape_check import check as _check_dims, input_groups

NAME = "numpy"
OPTIMIZES = False  # runs the graph as declared (the reference every other backend is tested against)
REBINDS = False


class NumpyExecutable(ExecutableBase):
    """Runs the schedule; intermediate arrays are dropped as soon as their last reader ran.
    It leaves applying the updates to the caller (``run`` returns their values)."""

    timer = "the clock around each node (numpy interpreter)"

    def __init__(self, plan: KernelPlan, options: CompileOptions):
        self.options = options
        self.plan = plan
        self.program = program = plan.program
        self._interpreter = Interpreter(program)
        self.stats = ExecStats(NAME, len(program.nodes), kernels=len(plan.steps))
        self._dim_groups = input_groups(program)  # None dims that must agree: checked first
        if not self._dim_groups:
            self.run = self._interpreter.run  # nothing to check: one call less per run

    @property
    def source(self) -> str:
        return _schedule(self.program)

    def run(self, arrays: list, timings=None):
        if self._dim_groups:
            _check_dims(self._dim_groups, arrays)
        return self._interpreter.run(arrays, timings)


def _schedule(p) -> str:
    """The program as text, one line per node (control-flow bodies indented)."""
    lines = [f"# staticad numpy schedule for {p.name!r}",
             f"# inputs: {', '.join(x.name for x in p.inputs) or '(none)'}"]
    for node in p.nodes:
        kind = node.op.name
        if kind == "placeholder":
            rhs = "input"
        elif kind == "constant":
            v = node.attrs["value"]
            rhs = f"constant {np.array2string(v, threshold=6)}" if v.size <= 6 else f"constant <{v.size} values>"
        elif kind == "variable":
            rhs = f"variable {node.name}"
        else:
            subs = {k: v for k, v in node.attrs.items() if hasattr(v, "program")}  # control-flow bodies
            attrs = ", ".join(f"{k}={v.name if k in subs else repr(v)}" for k, v in node.attrs.items()
                              if k != "types")
            args = ", ".join(i.name for i in node.inputs)
            rhs = f"{kind}({args}{', ' if args and attrs else ''}{attrs})"
        typ = "tuple" if node.op.extra.get("multi_output") else f"{_format_shape(node.shape)} {node.dtype}"
        lines.append(f"{node.name} = {rhs}    # {typ}")
        if kind not in ("placeholder", "constant", "variable"):
            for key, sub in subs.items():
                body = _schedule(sub.program).splitlines()[1:]
                lines += [f"    | {key}: " + body[0][2:]] + [f"    | {line}" for line in body[1:]]
    lines.append("return (" + ", ".join(o.name for o in p.outputs) + ")")
    for var, val in p.updates:
        lines.append(f"update {var.name} <- {val.name}")
    return "\n".join(lines) + "\n"


def compile_plan(plan: KernelPlan, options: CompileOptions) -> NumpyExecutable:
    return NumpyExecutable(plan, options)

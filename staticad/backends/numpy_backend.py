"""The reference backend: interprets a :class:`Program` op by op with each op's NumPy rule."""
from __future__ import annotations

import time

import numpy as np

from ..graph import CONSTANT, PLACEHOLDER, VARIABLE, _format_shape
from ..program import Program
from .shape_check import check as _check_dims, input_groups

NAME = "numpy"


class NumpyExecutable:
    """Runs the schedule; intermediate arrays are dropped as soon as their last reader ran."""

    def __init__(self, program: Program):
        self.program = program
        self.input_index = {id(p): i for i, p in enumerate(program.inputs)}
        last = program.last_use()
        self.steps = []  # (node, input nodes, attrs, nodes to free after this step)
        frees: dict = {}
        for node, i in last.items():
            frees.setdefault(i, []).append(node)
        for i, node in enumerate(program.nodes):
            self.steps.append((node, frees.get(i, [])))
        self.kernels = sum(1 for n in program.nodes if n.inputs or not n.op.source)
        self._dim_groups = input_groups(program)  # None dims that must agree: checked first

    @property
    def source(self) -> str:
        p = self.program
        lines = [f"# staticad numpy schedule for {p.name!r}",
                 f"# inputs: {', '.join(x.name for x in p.inputs) or '(none)'}"]
        for node in p.nodes:
            if node.op is PLACEHOLDER:
                rhs = "input"
            elif node.op is CONSTANT:
                v = node.attrs["value"]
                rhs = f"constant {np.array2string(v, threshold=6)}" if v.size <= 6 else f"constant <{v.size} values>"
            elif node.op is VARIABLE:
                rhs = f"variable {node.name}"
            else:
                subs = {k: v for k, v in node.attrs.items() if hasattr(v, "program")}  # control-flow bodies
                attrs = ", ".join(f"{k}={v.name if k in subs else repr(v)}" for k, v in node.attrs.items()
                                  if k != "types")
                args = ", ".join(i.name for i in node.inputs)
                rhs = f"{node.op.name}({args}{', ' if args and attrs else ''}{attrs})"
            typ = "tuple" if node.op.extra.get("multi_output") else f"{_format_shape(node.shape)} {node.dtype}"
            lines.append(f"{node.name} = {rhs}    # {typ}")
            if not node.op.source:
                for key, sub in subs.items():
                    body = NumpyExecutable(sub.program).source.splitlines()[1:]
                    lines += [f"    | {key}: " + body[0][2:]] + [f"    | {line}" for line in body[1:]]
        lines.append("return (" + ", ".join(o.name for o in p.outputs) + ")")
        for var, val in p.updates:
            lines.append(f"update {var.name} <- {val.name}")
        return "\n".join(lines) + "\n"

    def run(self, arrays: list, timings: dict | None = None):
        if self._dim_groups:
            _check_dims(self._dim_groups, arrays)
        env: dict = {}
        with np.errstate(all="ignore"):
            for node, free in self.steps:
                op = node.op
                if op is PLACEHOLDER:
                    env[node] = arrays[self.input_index[id(node)]]
                elif op is CONSTANT:
                    env[node] = node.attrs["value"]
                elif op is VARIABLE:
                    env[node] = node._storage
                else:
                    t0 = time.perf_counter() if timings is not None else 0.0
                    env[node] = _evaluate(node, [env[i] for i in node.inputs])
                    if timings is not None:
                        timings[node] = timings.get(node, 0.0) + time.perf_counter() - t0
                for dead in free:
                    env.pop(dead, None)
        p = self.program
        outs = [np.array(env[o], copy=True) for o in p.outputs]
        new_values = [env[v] for _, v in p.updates]
        return outs, new_values


def _evaluate(node, args):
    try:
        out = node.op.impl(*args, **node.attrs)
    except Exception as exc:  # name the node: a numpy message alone does not say where
        shapes = ", ".join(_format_shape(np.shape(a)) for a in args)
        raise ValueError(f"evaluating {node.name} = {node.op.name}({shapes}) failed: {exc}") from exc
    if node.op.extra.get("multi_output"):  # a tuple of arrays, read by tuple_get nodes
        return out
    out = np.asarray(out)
    if out.dtype != node.dtype:
        out = out.astype(node.dtype)
    return out


def compile_program(program: Program) -> NumpyExecutable:
    return NumpyExecutable(program)

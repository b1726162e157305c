"""Compiler passes: pure functions ``Program -> Program`` run before code generation.

Each pass keeps the program's placeholders and Variables (the same objects) and the value,
static shape and dtype of every output and update (see each pass's docstring for the exact
guarantee). :func:`optimize` runs them in order and reports what each removed.
"""
from __future__ import annotations

from typing import NamedTuple

from ..control.ops import COND, WHILE_LOOP
from ..program import Program
from .control import merge_loop_recordings, prune_control_inputs
from .cse import eliminate_common_subexpressions
from .fold import fold_constants
from .prune import prune_to_outputs
from .rewrite import op_counts, rewrite
from .simplify import simplify

#: The passes of one round of :func:`optimize` (after one initial ``prune_to_outputs``).
ROUND = (fold_constants, simplify, eliminate_common_subexpressions)
MAX_ROUNDS = 3


class PassStat(NamedTuple):
    name: str
    nodes_before: int
    nodes_after: int

    @property
    def removed(self) -> int:
        return self.nodes_before - self.nodes_after


def optimize(program: Program, max_rounds: int = MAX_ROUNDS) -> tuple[Program, list]:
    """Run ``prune_to_outputs`` (with control flow: ``merge_loop_recordings`` and
    ``prune_control_inputs``) then rounds of ``fold_constants -> simplify -> cse``.

    A further round runs only while the previous one removed nodes (simplification exposes
    new constants, merging exposes new identities), up to ``max_rounds``. Returns the
    optimized program and the report: one :class:`PassStat` ``(name, nodes_before,
    nodes_after)`` per pass run, in order. The optimized program computes the same outputs
    and updates from the same inputs (see :mod:`.simplify` for its float caveats).
    """
    report: list = []

    def run(pass_fn, prog):
        before = len(prog.nodes)
        prog = pass_fn(prog)
        report.append(PassStat(pass_fn.__name__, before, len(prog.nodes)))
        return prog

    program = run(prune_to_outputs, program)
    if any(n.op is WHILE_LOOP for n in program.nodes):
        program = run(merge_loop_recordings, program)
    if any(n.op in (WHILE_LOOP, COND) for n in program.nodes):
        program = run(prune_control_inputs, program)
    for _ in range(max_rounds):
        start = len(program.nodes)
        for pass_fn in ROUND:
            program = run(pass_fn, program)
        if len(program.nodes) >= start:
            break
    return program, report


def format_report(report: list) -> str:
    """The report as an aligned table (for ``f.stats`` printing and the CLI)."""
    lines = [f"{'pass':<34}{'before':>8}{'after':>8}{'removed':>9}"]
    for stat in report:
        lines.append(f"{stat.name:<34}{stat.nodes_before:>8}{stat.nodes_after:>8}{stat.removed:>9}")
    return "\n".join(lines)


__all__ = [
    "optimize", "PassStat", "format_report", "prune_to_outputs", "fold_constants", "simplify",
    "eliminate_common_subexpressions", "merge_loop_recordings", "prune_control_inputs", "rewrite", "op_counts", "ROUND",
]

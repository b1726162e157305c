"""The compile pipeline: ``Program -> passes -> fuse -> KernelPlan -> backend.compile_plan -> Executable``.

The passes run here, once per compile (:func:`~staticad.passes.plan.make_plan`); backends only
turn a plan into an :class:`~staticad.backends.base.Executable`. A backend with ``REBINDS``
reuses a compiled executable for a structurally identical program (same
:meth:`~staticad.program.Program.structure_key`, other Variables): no passes, no code
generation, no compile.
"""
from __future__ import annotations

import threading
import weakref

from . import backends as _backends
from .backends.base import CompileOptions, Executable
from .passes.plan import interpreted_plan, make_plan
from .program import Program

_DEFAULT = CompileOptions()

# Compiled executables by (backend, options, structure key), while their Function lives (a strong
# reference would keep the first graph's Variables alive).
_COMPILED: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def compile_program(program: Program, backend="numba", options: CompileOptions = _DEFAULT) -> Executable:
    """``program`` compiled by ``backend`` (a name or a backend module)."""
    mod = _backends.get(backend) if isinstance(backend, str) else backend
    key = None
    if mod.REBINDS:
        key = program.structure_key()
        template = _COMPILED.get((mod.NAME, options, key)) if key is not None else None
        if template is not None:
            ex = template.rebind(program)
            _COMPILED[(mod.NAME, options, key)] = ex  # the first Function may go before this one
            return ex
    groups = equal_dim_groups(program) if mod.OPTIMIZES else ()
    if groups:
        ex = SpecializedExecutable(mod.compile_plan(plan_for(program, mod, groups), options), program, mod, options,
                                   groups)
    else:
        ex = mod.compile_plan(plan_for(program, mod), options)
    if key is not None:
        _COMPILED[(mod.NAME, options, key)] = ex
    return ex


def plan_for(program: Program, backend, equal_dims=()) -> object:
    """The plan ``backend`` compiles: optimized and fused, or (``OPTIMIZES`` false) as declared.
    ``equal_dims``: input dims the plan takes as equal (see :func:`~staticad.passes.plan.make_plan`)."""
    mod = _backends.get(backend) if isinstance(backend, str) else backend
    if not mod.OPTIMIZES:
        return interpreted_plan(program)
    return make_plan(program, getattr(mod, "LONG_KERNELS", None), equal_dims)


def equal_dim_groups(program: Program) -> tuple:
    """The ``None`` dims of placeholders that broadcast together, as groups of ``(input index,
    axis)`` (each sorted, first member the canonical one; overlapping groups merged): what a
    specialised plan takes as equal."""
    from .backends.shape_check import input_groups
    merged: list = []  # overlapping groups ({a, b} and {a, b, c}) are one: equality is transitive
    for g in input_groups(program):
        dims = {(i, ax) for i, ax, _ in g}
        for other in [m for m in merged if m & dims]:
            merged.remove(other)
            dims |= other
        merged.append(dims)
    return tuple(sorted(tuple(sorted(m)) for m in merged))


class SpecializedExecutable:
    """An executable for a program whose placeholders have ``None`` dims that broadcast together
    (``x (N, 1)`` and ``y (M, 1)`` in ``x - y``), compiled for the common case that they are equal.

    The plan specialised for equal dims (:func:`~staticad.passes.symshape.assuming_equal`) has no
    broadcast between them: e.g. ``sum_to_like`` of a gradient back to ``x``'s rows is the
    identity, and the loops over ``N`` and ``M`` are one loop with scalar accumulators. Each call
    checks the dims first (a few integer compares); a call where they differ (``x`` with one row
    broadcast against ``y``'s rows: legal) runs the general plan, compiled on its first such call.
    Dims that do not broadcast at all are refused before compiling anything, with the error the
    general plan would give. Everything else (``plan``, ``stats``, ``source``, ...) is the
    specialised executable's.
    """

    def __init__(self, spec, program, backend, options, groups, general=None):
        self.spec = spec
        self.general = general
        self.groups = groups
        self._program, self._backend, self._options = program, backend, options
        self._pairs = tuple((g[0][0], g[0][1], i, a) for g in groups for i, a in g[1:])
        self._lock = threading.Lock()
        self._spec_run = spec.run
        self._input_groups = None  # shape_check's groups (named), for the calls with other dims

    def matches(self, arrays) -> bool:
        """Whether ``arrays`` have equal sizes in every group (the specialised plan applies)."""
        for i0, a0, i, a in self._pairs:
            if arrays[i0].shape[a0] != arrays[i].shape[a]:
                return False
        return True

    def run(self, arrays, timings=None):
        if self.matches(arrays):
            return self._spec_run(arrays, timings)
        general = self.general  # once compiled, it checks (and names) the dims itself
        return (general if general is not None else self.general_executable(arrays)).run(arrays, timings)

    def general_executable(self, arrays=None):
        """The executable of the general plan (compiled on first use). With ``arrays``: their
        dims are checked first (a mismatch is the general plan's error, without compiling it)."""
        if arrays is not None:
            from .backends.shape_check import check, input_groups
            if self._input_groups is None:
                self._input_groups = input_groups(self._program)
            check(self._input_groups, arrays)
        general = self.general
        if general is None:
            with self._lock:
                general = self.general
                if general is None:
                    general = self.general = self._backend.compile_plan(plan_for(self._program, self._backend),
                                                                        self._options)
        return general

    def rebind(self, program) -> "SpecializedExecutable":
        general = self.general.rebind(program) if self.general is not None else None
        return SpecializedExecutable(self.spec.rebind(program), program, self._backend, self._options, self.groups,
                                     general)

    def direct_call(self, finish):
        """None: every call checks the dims first (the specialised entry point's direct path
        would skip that)."""
        return None

    def __getattr__(self, name):
        # only for attributes not set here (plan, stats, source, entry, ...): the specialised one's
        if name.startswith("__") or name == "spec":
            raise AttributeError(name)
        return getattr(self.spec, name)


def compile_plan(plan, backend, options: CompileOptions = _DEFAULT) -> Executable:
    """A plan compiled again, e.g. with other options (the profiler's build)."""
    mod = _backends.get(backend) if isinstance(backend, str) else backend
    return mod.compile_plan(plan, options)

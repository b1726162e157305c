"""The compile pipeline: ``Program -> passes -> fuse -> KernelPlan -> backend.compile_plan -> Executable``.

The passes run here, once per compile (:func:`~staticad.passes.plan.make_plan`); backends only
turn a plan into an :class:`~staticad.backends.base.Executable`. A backend with ``REBINDS``
reuses a compiled executable for a structurally identical program (same
:meth:`~staticad.program.Program.structure_key`, other Variables): no passes, no code
generation, no compile.
"""
from __future__ import annotations

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
    ex = mod.compile_plan(plan_for(program, mod), options)
    if key is not None:
        _COMPILED[(mod.NAME, options, key)] = ex
    return ex


def plan_for(program: Program, backend) -> object:
    """The plan ``backend`` compiles: optimized and fused, or (``OPTIMIZES`` false) as declared."""
    mod = _backends.get(backend) if isinstance(backend, str) else backend
    if not mod.OPTIMIZES:
        return interpreted_plan(program)
    return make_plan(program, getattr(mod, "LONG_KERNELS", None))


def compile_plan(plan, backend, options: CompileOptions = _DEFAULT) -> Executable:
    """A plan compiled again, e.g. with other options (the profiler's build)."""
    mod = _backends.get(backend) if isinstance(backend, str) else backend
    return mod.compile_plan(plan, options)

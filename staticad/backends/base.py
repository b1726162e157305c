"""The contract between the compile pipeline and a backend.

A backend module has ``NAME``, ``REBINDS`` (whether its executables implement :meth:`rebind`) and
``compile_plan(plan, options) -> Executable``. It never runs the passes: :mod:`staticad.compiler`
hands it a :class:`~staticad.passes.fuse.KernelPlan` (for the numpy backend, one step per node
of the graph as declared).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, runtime_checkable

import numpy as np

from ..graph import Tensor, _format_shape


@dataclass(frozen=True)
class CompileOptions:
    """What to build, fixed at compile time (part of the executable's identity)."""

    device_outputs: bool = False  # cuda: outputs stay device arrays (other backends: numpy arrays)
    profile: bool = False         # the profiling build: ``run(arrays, timings)`` times every step


@dataclass
class ExecStats:
    """What the compile did."""

    backend: str
    nodes_after_passes: int
    kernels: int = 0
    fused_ops: int = 0
    cache_hit: Optional[bool] = None  # None: the backend keeps no disk cache
    passes: list = field(default_factory=list)  # PassStat (name, nodes_before, nodes_after) per pass run


@runtime_checkable
class Executable(Protocol):
    """A compiled function, as :class:`~staticad.function.Function` and the profiler use it.

    ``run`` takes one array per input (already converted by :meth:`convert_input`) and returns
    ``(outputs, update_values)``: fresh output arrays, and the new Variable values when the
    executable leaves applying them to the caller (empty when it wrote them itself; all or
    nothing either way). ``timings``: ``None``, or a list that gets one ``(name, kind, ops,
    start_ns, duration_ns)`` tuple per timed step (``staticad.clock.now_ns``), kind ``"kernel"``,
    ``"library"``, ``"node"``, ``"epilogue"`` or ``"entry"`` (the whole call as one step, where
    only a profiling build times steps).
    """

    options: CompileOptions
    stats: ExecStats
    plan: object      # the KernelPlan it was compiled from (``plan.program``: the graph after passes)
    timer: str        # how ``run(arrays, timings)`` times steps (shown under profiles)

    @property
    def source(self) -> str: ...

    def run(self, arrays: list, timings: Optional[list] = None) -> tuple: ...

    def convert_input(self, placeholder: Tensor, value): ...

    def direct_call(self, finish) -> Optional[Callable]:
        """A faster per-call path, or None. When offered: a callable taking the caller's
        arguments (one per input, unconverted) and returning ``finish(outputs)``, or None for
        arguments it refuses; a refused call has had no effect, and the caller then binds,
        converts and checks them as usual (errors are raised from there)."""

    def step_names(self) -> dict: ...

    def rebind(self, program) -> "Executable": ...


def convert_input(p: Tensor, value) -> np.ndarray:
    """``value`` for placeholder ``p`` as an array of its dtype; same-kind conversion only."""
    if isinstance(value, Tensor):
        raise TypeError(f"input {p.name!r}: got symbolic tensor {value.name!r}; pass an array")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"input {p.name!r}: cannot convert {type(value).__name__} to an array") from exc
    if arr.dtype != p.dtype:
        if arr.dtype.kind not in "biuf" or not np.can_cast(arr.dtype, p.dtype, casting="same_kind"):
            raise TypeError(f"input {p.name!r}: expected dtype {p.dtype}, received {arr.dtype} "
                            "(only same-kind conversion is done implicitly)")
        arr = arr.astype(p.dtype)
    if arr.ndim != len(p.shape) or any(d is not None and d != a for d, a in zip(p.shape, arr.shape)):
        raise ValueError(f"input {p.name!r}: expected shape {_format_shape(p.shape)}, "
                         f"received {_format_shape(arr.shape)}")
    return arr


class ExecutableBase:
    """Defaults of the contract: numpy inputs, no structure-key reuse, names from the graph."""

    timer = "the whole call, from Python"

    convert_input = staticmethod(convert_input)

    def direct_call(self, finish):
        """None: no direct path (see :meth:`Executable.direct_call`)."""
        return None

    def step_names(self) -> dict:
        """node -> the name its step has in :attr:`source` (and in profiles)."""
        return {}

    def rebind(self, program):
        raise NotImplementedError(f"{type(self).__name__} is not reused across programs")

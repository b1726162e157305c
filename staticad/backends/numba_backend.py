"""The Numba CPU backend: optimize -> fuse -> generate one ``@njit`` entry point -> disk cache."""
from __future__ import annotations

import copy
import os
import sys
import time
import warnings
import weakref

# Idle OpenMP workers sleep instead of spinning (unless the user chose otherwise). Spinning
# workers of numba's omp threading layer starve OpenBLAS threads and every other process on
# a small machine: a 1e6-element linear regression step took 20.7 ms with them spinning on a
# busy 2-core machine and 3.0 ms with them sleeping (NUMBA_FACTS.md #8). Read by the OpenMP
# runtime when numba first starts it, which is after this import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402

from ..program import Program
from . import cache as _cache
from .numba_codegen import generate

NAME = "numba"


def _load_numba_registries_without_scipy():
    """numba's first compile (or cache load) in a process imports ``numba.np.arraymath``, which
    imports ``scipy.linalg`` only to record whether BLAS is there: 0.3-1 s of every fresh
    process's time to first result, for graphs without a matmul too. Import it with that check
    answered by ``find_spec`` (same answer, nothing imported); scipy is then imported by numba
    when a matmul is compiled, and by the BLAS calls themselves when cached code runs."""
    import importlib.util
    import sys
    if "numba.np.arraymath" in sys.modules:
        return
    try:
        from numba.np import linalg
    except ImportError:  # another numba layout: let numba do it its way
        return
    real = getattr(linalg, "ensure_blas", None)
    if real is None:
        return

    def ensure_blas_found():
        if importlib.util.find_spec("scipy") is None:
            raise ImportError("scipy 0.16+ is required for linear algebra")

    linalg.ensure_blas = ensure_blas_found
    try:
        from numba.np import arraymath
    except Exception:
        return
    finally:
        linalg.ensure_blas = real
    if getattr(arraymath, "ensure_blas", None) is ensure_blas_found:
        arraymath.ensure_blas = real


_load_numba_registries_without_scipy()
_NO_WORKSPACE = np.empty(0, np.uint8)  # read-only in effect: a call needing scratch allocates its own


def _array_type(dtype, ndim):
    return numba.types.Array(numba.from_dtype(np.dtype(dtype)), ndim, "C")


class NumbaExecutable:
    """Calls the generated entry point; Variables are updated in place inside it."""

    applies_updates = True

    def __init__(self, program: Program):
        try:
            from ..passes import optimize
        except ImportError:
            optimize = lambda p: (p, [])  # noqa: E731
        from ..passes.fuse import fuse_elementwise

        self.original = program
        self._program, self.pass_report = optimize(program)
        self._plan = fuse_elementwise(self._program)
        self.nodes_after_passes = len(self._program.nodes)
        self.module_source, self.args, swaps, self.library_sources = generate(self.plan)
        self.kernels = len(self.plan.kernels)
        self.fused_ops = self.plan.fused_ops
        self._variables = [node for _, node in self.args if node.op.name == "variable"]
        self._constants = [np.array(node.attrs["value"], order="C") for _, node in self.args
                           if node.op.name == "constant"]
        self._n_inputs = len(self.program.inputs)
        # double-buffered Variables: the entry point writes their new values into these spares,
        # which are swapped in after a successful call (all at once: a failed call changes nothing)
        self._swapped = [var for _, var in swaps]
        self._spares = [np.empty(var.shape, var.dtype) for var in self._swapped]
        sig = tuple(_array_type(node.dtype, node.ndim) for _, node in self.args + swaps) + (_array_type(np.uint8, 1),)
        # Scratch memory of the entry point: one buffer per concurrent call. A call takes a
        # buffer from the pool and gives it back, so calls from several threads never share one
        # (list.pop/append are atomic); a call finding the pool empty starts with no buffer.
        self._workspaces = []
        self.module, self.path, _ = _cache.load_module(self.module_source, requires=self.library_sources)
        self._sig = sig
        self.entry = self._serial_entry = self._compile("entry")
        # the threaded variant, compiled when a call first reports a loop large enough for it
        self.parallel_compiled = not hasattr(self.module, "entry_par")
        self._has_state = bool(self._variables or self._constants or self._spares)

    def _compile(self, name):
        with warnings.catch_warnings():
            # np.dot on transposed views is intended (BLAS transposes); numba warns about layout
            warnings.simplefilter("ignore", numba.NumbaPerformanceWarning)
            return self._compile_entry(name, self._sig)

    def _parallel_on_next_call(self, *args):
        """Stands in for ``entry`` after a call asked for threads: compiles ``entry_par``, which
        then takes its place (no per-call check on the fast path)."""
        self.entry = self._compile("entry_par")
        self.parallel_compiled = True
        return self.entry(*args)

    def _compile_entry(self, name, sig):
        # Numba's files of this module were checked by load_module (unverified ones deleted, so
        # Numba recompiles instead of unpickling or loading them); what it writes now is recorded
        entry = getattr(self.module, name)
        if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the generated code runs as Python
            self.cache_hit = False     # (how `staticad fuzz` checks the codegen at volume)
            return entry
        try:
            entry.compile(sig)
        except OSError as exc:  # e.g. the cache directory became unwritable: rebuild it once
            warnings.warn(f"staticad: numba cache for {self.path.name} unusable ({exc}); recompiling",
                          RuntimeWarning)
            _cache.discard(self.module.__name__)
            for lib in self.library_sources:
                _cache.discard(_cache.module_name(lib))
            self.module, self.path, _ = _cache.load_module(self.module_source, requires=self.library_sources)
            entry = getattr(self.module, name)
            entry.compile(sig)
        hits = entry.stats.cache_hits
        self.cache_hit = bool(sum(hits.values()) if hasattr(hits, "values") else hits)
        if not self.cache_hit:
            _cache.record_compiled(self.module)
            for lib in self.library_sources:  # the kernels it compiled (or found) on the way
                _cache.record_compiled(sys.modules[_cache.module_name(lib)])
        return entry

    @property
    def source(self) -> str:
        """The generated code: the entry point's module, then each kernel-library module it imports."""
        parts = [self.module_source]
        for lib in self.library_sources:
            parts.append(f"# ---- {_cache.module_name(lib)} " + "-" * 40 + "\n" + lib)
        return "\n\n".join(parts)

    def run(self, arrays: list, timings=None):
        args = arrays
        for a in arrays:
            if not a.flags.c_contiguous:
                args = [a if a.flags.c_contiguous else np.array(a, order="C") for a in arrays]
                break
        if self._has_state:
            args = args + [v._storage for v in self._variables] + self._constants + self._spares
        pool = self._workspaces
        try:
            ws = pool.pop()
        except IndexError:
            ws = _NO_WORKSPACE
        if timings is None:
            try:
                outs, need, wants_parallel = self.entry(*args, ws)
            except ValueError:
                pool.append(ws)
                self._name_mismatched_shapes(arrays)
                raise
            pool.append(ws if need <= len(ws) else np.empty(need + need // 4, np.uint8))
            if wants_parallel and not self.parallel_compiled:
                self.entry = self._parallel_on_next_call
            if self._swapped:
                self.swap_in(self._swapped, self._spares)
            return outs, ()
        # profiling: the whole native entry point is one timed call; Variables are restored
        # afterwards so that profiling a training step changes nothing
        saved = [v._storage.copy() for v in self._variables]
        t0 = time.perf_counter()
        outs, need, wants_parallel = self.entry(*args, ws)
        pool.append(ws if need <= len(ws) else np.empty(need + need // 4, np.uint8))
        if wants_parallel and not self.parallel_compiled:
            self.entry = self._parallel_on_next_call
        self.swap_in(self._swapped, self._spares)
        key = ("entry", f"{self.kernels} kernels, {self.fused_ops} fused ops")
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        for v, old in zip(self._variables, saved):
            v._storage[...] = old
        return list(outs), []

    def _name_mismatched_shapes(self, arrays):
        """After the entry point found run-time dims that do not broadcast: the same error with
        the shapes each input received (the generated code names only the dims)."""
        from .shape_check import check, input_groups
        check(input_groups(self.original), arrays)

    def rebind(self, program: Program) -> "NumbaExecutable":
        """This compiled function for a structurally identical ``program`` (same
        :meth:`~staticad.program.Program.structure_key`), reading and updating its Variables."""
        mine = self.original.nodes + [v for v, _ in self.original.updates]
        theirs = program.nodes + [v for v, _ in program.updates]
        var_map = {a: b for a, b in zip(mine, theirs) if a.op.name == "variable"}
        new = copy.copy(self)
        new.original = program
        new.args = [(ident, var_map.get(node, node)) for ident, node in self.args]
        new._variables = [var_map[v] for v in self._variables]
        new._swapped = [var_map[v] for v in self._swapped]
        new._spares = [np.empty(v.shape, v.dtype) for v in new._swapped]
        new._workspaces = []
        if not self.parallel_compiled:  # not the template's stand-in (bound to the template)
            new.entry = self._serial_entry
        # the passes' output for this program's own nodes (the profiler, to_dot and the CLI read
        # it) is recomputed on first use: the template's refers to the template's Variables
        new._program = new._plan = None
        new.cache_hit = True
        return new

    # A property, not __getattr__: a class with __getattr__ makes every attribute access of the
    # per-call path slower (measured: +170 ns per call of the scalar workload).
    @property
    def program(self) -> Program:
        """The graph after the passes (for a rebound executable: its own, computed on demand)."""
        if self._program is None:
            self._optimize_original()
        return self._program

    @property
    def plan(self):
        if self._plan is None:
            self._optimize_original()
        return self._plan

    def _optimize_original(self):
        from ..passes import optimize
        from ..passes.fuse import fuse_elementwise
        self._program, _ = optimize(self.original)
        self._plan = fuse_elementwise(self._program)

    @staticmethod
    def swap_in(variables, spares):
        """Each Variable's new value (in its spare) becomes its storage; the old storage becomes
        the spare the next call writes into."""
        for i, v in enumerate(variables):
            v._storage, spares[i] = spares[i], v._storage


# Compiled executables by structure key, while their Function lives (a strong reference would keep
# the first graph's Variables alive): a second sad.function of the same graph skips the passes,
# the code generator and the compiler.
_COMPILED: "weakref.WeakValueDictionary[str, NumbaExecutable]" = weakref.WeakValueDictionary()


def compile_program(program: Program) -> NumbaExecutable:
    key = program.structure_key()
    template = _COMPILED.get(key) if key is not None else None
    if template is not None:
        ex = template.rebind(program)
        _COMPILED[key] = ex  # the first Function may go before this one does
        return ex
    ex = NumbaExecutable(program)
    if key is not None:
        _COMPILED[key] = ex
    return ex

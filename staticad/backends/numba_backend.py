"""The Numba CPU backend: a :class:`KernelPlan` -> one generated ``@njit`` entry point -> disk cache."""
from __future__ import annotations

import copy
import os
import sys
import threading
import warnings

# Idle OpenMP workers spin briefly, then sleep (unless the user chose a policy). Workers that
# spin for long (libgomp's default: 300k spins, ~7 ms here; Intel's 200 ms) starve OpenBLAS
# threads and every other process on a small machine: a 1e6-element linear regression step
# took 20.7 ms with them spinning on a busy 2-core machine, 3.0 ms with them sleeping
# (NUMBA_FACTS.md #8). Sleeping at once costs a wake-up per parallel loop instead: chain
# n=1e5 on 2 threads, Xeon VM, 124 us per call with OMP_WAIT_POLICY=PASSIVE, 68 us with 2000
# spins (~50 us of one core after each parallel loop; 1000 spins already sufficed between
# back-to-back calls). Read by the OpenMP runtime when numba first starts it, after this import.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "2000")   # GNU libgomp (numba's omp layer on Linux)
    os.environ.setdefault("KMP_BLOCKTIME", "0")       # Intel OpenMP: no sub-millisecond setting

import numba  # noqa: E402
import numpy as np  # noqa: E402

from ..clock import now_ns
from ..graph import CONSTANT, DEVICE_COPIES, VARIABLE
from ..passes.fuse import KernelPlan
from ..passes.plan import make_plan
from ..program import Program
from . import cache as _cache
from .base import CompileOptions, ExecStats, ExecutableBase
from .numba_codegen import NumbaCodegen
from .numba_vm_codegen import interpretable
from . import helper_cache as _helper_cache
from . import numba_blas, numba_math, numba_math_base, numba_runtime, numba_timer, numba_trig, numba_vm

# before any helper runs: a helper whose callees (in other files) changed recompiles
HELPER_MODULES = (numba_math_base, numba_trig, numba_math, numba_blas, numba_runtime, numba_timer, numba_vm)
_helper_cache.check(HELPER_MODULES)

NAME = "numba"
OPTIMIZES = True  # compiles an optimized, fused plan
REBINDS = True    # a structurally identical program reuses the compiled entry point
LONG_KERNELS = interpretable  # kernels of these nodes may pass the fuse cap: they are interpreted


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
_COMPILE_LOCK = threading.RLock()
_NO_WORKSPACE = np.empty(0, np.uint8)  # read-only in effect: a call needing scratch allocates its own


def _array_type(dtype, ndim):
    return numba.types.Array(numba.from_dtype(np.dtype(dtype)), ndim, "C")


class NumbaExecutable(ExecutableBase):
    """Calls the generated entry point; Variables are updated in place inside it."""

    timer = "the whole native call, from Python"

    def __init__(self, plan: KernelPlan, options: CompileOptions):
        self.options = options
        self.original = plan.original if plan.original is not None else plan.program
        self._program, self._plan = plan.program, plan
        self.equal_dims = plan.equal_dims  # a rebound executable's plan is made with the same assumption
        self.module_source, self.args, swaps, self.library_sources = self._generate(plan)
        self.stats = ExecStats(NAME, len(plan.program.nodes), len(plan.kernels), plan.fused_ops, False,
                               list(plan.pass_report))
        self._names = None
        self._variables = [node for _, node in self.args if node.op is VARIABLE]
        self._constants = [np.array(node.attrs["value"], order="C") for _, node in self.args
                           if node.op is CONSTANT]
        self._targets = [var for var, _ in plan.program.updates]
        # double-buffered Variables: the entry point writes their new values into these spares,
        # which are swapped in after a successful call (all at once: a failed call changes nothing)
        self._swapped = [var for _, var in swaps]
        self._spares = [np.empty(var.shape, var.dtype) for var in self._swapped]
        sig = tuple(_array_type(node.dtype, node.ndim) for _, node in self.args + swaps)
        sig += (_array_type(np.uint8, 1),) if self._takes_ws else ()
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
        # outputs the entry point returns as values (0-d: see NumbaCodegen._entry_outputs)
        self._scalar_outs = [(i, o.dtype) for i, o in enumerate(plan.program.outputs) if o.ndim == 0]
        # the dtype when that is the only output (the per-call path wraps it inline)
        self._only_scalar = self._scalar_outs[0][1] if len(plan.program.outputs) == 1 and self._scalar_outs else None
        if self._pack_in or self._out_recipe is not None:
            recipe = self._out_recipe or [("d", i) for i in range(len(plan.program.outputs))]
            direct = [o for o, r in zip(plan.program.outputs, recipe) if r[0] == "d"]
            self._scalar_outs = [(j, o.dtype) for j, o in enumerate(direct) if o.ndim == 0]
            self._only_scalar = None
            packed = {index for _, _, members, _ in self._pack_in for index, _, _ in members}
            self._unpacked = [i for i in range(len(plan.program.inputs)) if i not in packed]
            self._packed_index = [(dtype, [index for index, _, _ in members]) for _, dtype, members, _ in self._pack_in]
            self._enable_wide()

    # packed inputs and outputs (NumbaCodegen.PACK_MIN): set by _generate
    _pack_in: list = []
    _out_recipe = None
    _takes_ws = True  # whether the entry point takes the workspace (set by _generate)

    def _generate(self, plan):
        cg = NumbaCodegen(plan)
        source = cg.generate()
        self._pack_in, self._out_recipe = cg.pack_in, cg.out_recipe
        self._takes_ws = cg.takes_workspace
        return source, cg.args, cg.swaps, cg.library_sources()

    def _enable_wide(self):
        """This executable's entry point takes packed inputs or returns packed outputs: calls go
        through :meth:`_run_wide` (instance attributes: the per-call path of others is unchanged)."""
        self.run = self._run_wide
        self._name_mismatched_shapes = _no_check

    def _run_wide(self, arrays: list, timings=None):
        """Packs the inputs that travel in one flat buffer per dtype, calls, and gives each packed
        output as a view of its flat buffer (of this call: fresh, sharing memory with no other output)."""
        args = [np.concatenate([arrays[i].reshape(-1) for i in idx]) if idx else np.empty(0, dtype)
                for dtype, idx in self._packed_index]
        args += [arrays[i] for i in self._unpacked]  # others are conformed as usual (_run_conformed)
        try:
            outs, _ = NumbaExecutable.run(self, args, timings)
        except ValueError:
            NumbaExecutable._name_mismatched_shapes(self, arrays)
            raise
        recipe = self._out_recipe
        if recipe is None:
            return outs, ()
        return [outs[r[1]] if r[0] == "d" else outs[r[1]][r[2]:r[3]].reshape(r[4]) for r in recipe], ()

    @property
    def cache_hit(self) -> bool:
        return bool(self.stats.cache_hit)

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
            self.stats.cache_hit = False  # (how `staticad fuzz` checks the codegen at volume)
            return entry
        # the lock: two threads asking for the threaded variant at once compile it once (the
        # second would find compilation disabled). The modules' locks: no other process checks
        # their files between Numba writing them and this recording them.
        libs = [_cache.module_name(lib) for lib in self.library_sources]
        with _COMPILE_LOCK, _cache.locked([self.module.__name__] + libs):
            if tuple(sig) not in entry.overloads:  # else another executable of this module compiled it
                # another executable of this module may have compiled it for other types (e.g. a
                # read-only constant) and disabled compilation: this signature is compiled explicitly
                entry.disable_compile(False)
                entry = self._compile_signature(entry, name, sig)
                # A call with any other argument types (another dtype, a non-C layout, a read-only
                # array) is then refused by numba's dispatch (TypeError) instead of compiled anew:
                # the per-call path needs no layout check of its own (NumbaExecutable.run).
                entry.disable_compile()
            hits = entry.stats.cache_hits
            self.stats.cache_hit = bool(sum(hits.values()) if hasattr(hits, "values") else hits)
            if not self.stats.cache_hit:
                _cache.record_compiled(self.module)
                for lib in libs:  # the kernels it compiled (or found) on the way
                    _cache.record_compiled(sys.modules[lib])
        return entry

    def _compile_signature(self, entry, name, sig):
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
        return entry

    @property
    def source(self) -> str:
        """The generated code: the entry point's module, then each kernel-library module it imports."""
        parts = [self.module_source]
        for lib in self.library_sources:
            parts.append(f"# ---- {_cache.module_name(lib)} " + "-" * 40 + "\n" + lib)
        return "\n\n".join(parts)

    def run(self, arrays: list, timings=None):
        # No layout check here: the entry point is compiled for C-contiguous, writeable arrays
        # only (compilation then disabled), so numba's own type dispatch refuses any other
        # array with a TypeError before running anything (handled in _run_conformed).
        if self._has_state:
            if DEVICE_COPIES:  # empty unless a device backend ran in this process
                self._sync_device_copies()
            if self._variables or self._spares:
                args = arrays + [v._host for v in self._variables] + self._constants + self._spares
            else:
                args = arrays + self._constants
        else:
            args = arrays
        pool = self._workspaces
        ws = pool.pop() if pool else _NO_WORKSPACE
        if self._takes_ws:
            args = args + [ws]
        t0 = now_ns() if timings is not None else 0
        try:
            outs, need, wants_parallel = self.entry(*args)
        except TypeError:
            pool.append(ws)
            return self._run_conformed(arrays, timings)
        except ValueError:
            pool.append(ws)
            self._name_mismatched_shapes(arrays)
            raise
        if timings is not None:  # the profiling build times the whole native call as one step
            dt = now_ns() - t0
            timings.append(("entry", "entry", f"{self.stats.kernels} kernels, {self.stats.fused_ops} fused ops", t0, dt))
        if need or ws is not _NO_WORKSPACE:  # the pool stays empty while no call needs scratch memory
            pool.append(ws if need <= len(ws) else np.empty(need + need // 4, np.uint8))
        if wants_parallel and not self.parallel_compiled:
            self.entry = self._parallel_on_next_call
        if self._swapped:
            self.swap_in(self._swapped, self._spares)
        if self._only_scalar is not None:
            return (np.array(outs[0], self._only_scalar),), ()
        if self._scalar_outs:
            outs = self._as_arrays(outs)
        return outs, ()

    def direct_call(self, finish):
        """The per-call path for an entry point without Variables (nor their double buffers)
        that returns only arrays: its arguments are the caller's arrays as they are (then the
        graph's constants). Numba's dispatch does the checks of dtype, rank, layout and
        writeability (the entry is compiled for one signature only), the entry point those of
        shapes, static dims included, so a refused call raises before anything ran and the
        caller's checked path names the mistake."""
        if (self._variables or self._spares or self._scalar_outs or "run" in self.__dict__
                or type(self) is not NumbaExecutable):
            return None
        pool, none, constants = self._workspaces, _NO_WORKSPACE, tuple(self._constants)

        def run_direct(args):
            ws = pool.pop() if pool else none
            try:
                outs, need, wants_parallel = self.entry(*args, *constants, ws)
            except (TypeError, ValueError):  # dispatch or shape check: nothing ran
                if ws is not none:
                    pool.append(ws)
                return None
            if need or ws is not none:  # the pool stays empty while no call needs scratch memory
                pool.append(ws if need <= len(ws) else np.empty(need + need // 4, np.uint8))
            if wants_parallel and not self.parallel_compiled:
                self.entry = self._parallel_on_next_call
            return finish(outs)

        def run_direct_plain(args):  # an entry point that takes no workspace
            try:
                outs, _, wants_parallel = self.entry(*args, *constants)
            except (TypeError, ValueError):
                return None
            if wants_parallel and not self.parallel_compiled:
                self.entry = self._parallel_on_next_call
            return finish(outs)

        return run_direct if self._takes_ws else run_direct_plain

    def _run_conformed(self, arrays, timings):
        """The call again with C-contiguous, writeable copies of the inputs that are not (views,
        transposes, read-only arrays): what the entry point's type dispatch refused. Re-raises
        when every input already was (then the TypeError is about something else)."""
        conformed = [a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")
                     for a in arrays]
        if all(a is b for a, b in zip(conformed, arrays)):
            raise
        # the class's run: a wide executable's own (an instance attribute) would pack them again
        return type(self).run(self, conformed, timings)

    def _as_arrays(self, outs) -> tuple:
        """The entry point's outputs with its 0-d values as fresh 0-d arrays."""
        if not self._scalar_outs:
            return outs
        outs = list(outs)
        for i, dtype in self._scalar_outs:
            outs[i] = np.array(outs[i], dtype)
        return outs

    def _sync_device_copies(self):
        """Variables a device backend (cuda) also holds: fetch newer device values; the ones this
        call writes lose their device copy (uploaded again by that backend's next call)."""
        for v in self._variables:
            v._storage  # noqa: B018  (fetches a newer device value)
        for v in self._targets:
            v._storage = v._storage

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
        var_map = {a: b for a, b in zip(mine, theirs) if a.op is VARIABLE}
        new = copy.copy(self)
        new.original = program
        new.args = [(ident, var_map.get(node, node)) for ident, node in self.args]
        new._variables = [var_map[v] for v in self._variables]
        new._targets = [var_map[v] for v in self._targets]
        new._swapped = [var_map[v] for v in self._swapped]
        new._spares = [np.empty(v.shape, v.dtype) for v in new._swapped]
        new._workspaces = []
        if not self.parallel_compiled:  # not the template's stand-in (bound to the template)
            new.entry = self._serial_entry
        if "run" in self.__dict__:  # bound to the template
            new._enable_wide()
        # the passes' output for this program's own nodes (the profiler, to_dot and the CLI read
        # it) is recomputed on first use: the template's refers to the template's Variables
        new._program = new._plan = new._names = None
        new.stats = ExecStats(NAME, self.stats.nodes_after_passes, self.stats.kernels, self.stats.fused_ops, True,
                              list(self.stats.passes))
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
        self._plan = make_plan(self.original, LONG_KERNELS, self.equal_dims)
        self._program = self._plan.program

    def step_names(self) -> dict:
        """node -> its name in the generated source (``matmul_3``), as the profiler names steps."""
        if self._names is None:
            cg = NumbaCodegen(self.plan)
            cg.generate()
            self._names = dict(cg.idents)
        return self._names

    @staticmethod
    def swap_in(variables, spares):
        """Each Variable's new value (in its spare) becomes its storage; the old storage becomes
        the spare the next call writes into."""
        for i, v in enumerate(variables):
            v._host, spares[i] = spares[i], v._host


class NumbaProfilingExecutable(NumbaExecutable):
    """The profiling build (``CompileOptions(profile=True)``): the same entry point with a timer
    (``numba_timer.now_ns``, native) read around every kernel, library step and the epilogue."""

    @property
    def timer(self) -> str:
        from . import numba_timer  # the generated code imports it too
        return f"numba_timer.now_ns ({numba_timer.METHOD}) around each step, inside the native entry point"

    def _generate(self, plan):
        cg = NumbaCodegen(plan, profile=True)
        source = cg.generate()
        self._takes_ws = cg.takes_workspace
        self.steps = [(name, kind, ", ".join(ops)) for name, kind, ops, _ in cg.profile_steps]
        return source, cg.args, cg.swaps, cg.library_sources()

    def run(self, arrays: list, timings=None):
        args = [a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C") for a in arrays]
        if DEVICE_COPIES:
            self._sync_device_copies()
        args += [v._host for v in self._variables] + self._constants + self._spares
        ws = self._workspaces.pop() if self._workspaces else _NO_WORKSPACE
        try:
            outs, need, _, prof = self.entry(*args, ws)
        except ValueError:
            self._workspaces.append(ws)
            self._name_mismatched_shapes(arrays)
            raise
        self._workspaces.append(ws if need <= len(ws) else np.empty(need + need // 4, np.uint8))
        self.swap_in(self._swapped, self._spares)
        if timings is not None:
            timings += [(name, kind, ops, int(start), int(dur))
                        for (name, kind, ops), (start, dur) in zip(self.steps, prof.tolist())]
        return self._as_arrays(outs), ()


def _no_check(arrays):
    """The shape check of a wide executable's inner call (_run_wide checks the caller's arrays)."""


def compile_plan(plan: KernelPlan, options: CompileOptions) -> NumbaExecutable:
    return (NumbaProfilingExecutable if options.profile else NumbaExecutable)(plan, options)

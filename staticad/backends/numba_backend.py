"""The Numba CPU backend: optimize -> fuse -> generate one ``@njit`` entry point -> disk cache."""
from __future__ import annotations

import os
import time
import warnings

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
        self.program, self.pass_report = optimize(program)
        self.plan = fuse_elementwise(self.program)
        self.source, self.args, swaps = generate(self.plan)
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
        self._workspace = np.empty(0, np.uint8)
        self.module, self.path, _ = _cache.load_module(self.source)
        self.entry = self._compile(sig)

    def _compile(self, sig):
        with warnings.catch_warnings():
            # np.dot on transposed views is intended (BLAS transposes); numba warns about layout
            warnings.simplefilter("ignore", numba.NumbaPerformanceWarning)
            return self._compile_entry(sig)

    def _compile_entry(self, sig):
        # Numba's files of this module were checked by load_module (unverified ones deleted, so
        # Numba recompiles instead of unpickling or loading them); what it writes now is recorded
        entry = self.module.entry
        if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the generated code runs as Python
            self.cache_hit = False     # (how `staticad fuzz` checks the codegen at volume)
            return entry
        try:
            entry.compile(sig)
        except OSError as exc:  # e.g. the cache directory became unwritable: rebuild it once
            warnings.warn(f"staticad: numba cache for {self.path.name} unusable ({exc}); recompiling",
                          RuntimeWarning)
            _cache.discard(self.module.__name__)
            self.module, self.path, _ = _cache.load_module(self.source)
            entry = self.module.entry
            entry.compile(sig)
        hits = entry.stats.cache_hits
        self.cache_hit = bool(sum(hits.values()) if hasattr(hits, "values") else hits)
        if not self.cache_hit:
            _cache.record_compiled(self.module)
        return entry

    def run(self, arrays: list, timings=None):
        args = arrays
        for a in arrays:
            if not a.flags.c_contiguous:
                args = [a if a.flags.c_contiguous else np.array(a, order="C") for a in arrays]
                break
        if self._variables or self._constants:
            args = args + [v._storage for v in self._variables] + self._constants + self._spares
        if timings is None:
            outs, need = self.entry(*args, self._workspace)
            if need > self._workspace.size:  # this call allocated; the next one will fit
                self._workspace = np.empty(need + need // 4, np.uint8)
            if self._swapped:
                self.swap_in(self._swapped, self._spares)
            return outs, ()
        # profiling: the whole native entry point is one timed call; Variables are restored
        # afterwards so that profiling a training step changes nothing
        saved = [v._storage.copy() for v in self._variables]
        t0 = time.perf_counter()
        outs, need = self.entry(*args, self._workspace)
        if need > self._workspace.size:
            self._workspace = np.empty(need + need // 4, np.uint8)
        self.swap_in(self._swapped, self._spares)
        key = ("entry", f"{self.kernels} kernels, {self.fused_ops} fused ops")
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        for v, old in zip(self._variables, saved):
            v._storage[...] = old
        return list(outs), []


    @staticmethod
    def swap_in(variables, spares):
        """Each Variable's new value (in its spare) becomes its storage; the old storage becomes
        the spare the next call writes into."""
        for i, v in enumerate(variables):
            v._storage, spares[i] = spares[i], v._storage


def compile_program(program: Program) -> NumbaExecutable:
    return NumbaExecutable(program)

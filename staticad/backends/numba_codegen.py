"""Code generation for the Numba CPU backend: a :class:`KernelPlan` -> readable Python source.

The whole function becomes ONE ``@njit`` entry point: a call crosses from Python to native code
once. Each loop kernel is a call of a function of the kernel library (:mod:`.numba_kernels`):
a plain loop nest over sizes read at run time (a ``None`` dim never recompiles); when every
operand is a contiguous array of the iteration shape the kernel takes a flat 1-D loop that
LLVM vectorizes, otherwise a nested loop with broadcasting indices. Library steps (matmul via
BLAS, views, indexing) are one statement each.
"""
from __future__ import annotations

import re

import numpy as np

from ..ops.linalg import GEMM_UPDATE, MATMUL
from ..ops.shape import CONCAT_PART, CONCATENATE, TRANSPOSE
from ..passes.fuse import KernelPlan, LoopKernel
from . import cache as _cache
from .codegen_base import CodegenBase
from .numba_kernels import KernelLibraryMixin
from .numba_library import NumbaLibraryMixin
from .numba_segments import split as split_function
from .numba_vm_codegen import InterpretedKernelMixin
from .numba_source import (BLOCK, INLINE_MAX, MATH_SUFFIX, PARALLEL_MIN, VECTOR_HINT, _PAR_ONLY, _SERIAL_ONLY,
                           _cast_to, _int64_tuple, _split_tuple, _static_shape, _tuple, _variant, _Writer,
                           member_template)

# Wide entry points: when at least this many inputs (outputs) have a static shape, those of one
# dtype travel as one flat buffer (the caller packs the inputs and takes views of the outputs).
# Each input or output of its own costs numba a parameter or tuple element and a call to type and
# lower, and a returned tuple of n arrays is quadratic to compile (n=100: 5.6 s, 200: 25 s);
# adjacent slices of one buffer are then copied by one call (the parts of a concatenate and of
# its gradient). Fewer than this: one parameter and one returned array each (no per-call packing).
PACK_MIN = 16

RESERVED = {"np", "math", "_rt", "njit", "entry", "_vm", "vm_code", "vm_consts", "vm_run_par"}


_WS_NAME = re.compile(r"\bws\b")  # the workspace parameter, read in a line


class NumbaCodegen(NumbaLibraryMixin, KernelLibraryMixin, InterpretedKernelMixin, CodegenBase):
    """Turns a plan into module source; ``args`` lists the entry point's parameters in order."""

    BACKEND = "numba"
    RESERVED = frozenset(RESERVED)
    NO_LOWERING = "{backend} backend: no code template for op {op!r}"
    INLINE_MAX = INLINE_MAX
    PARALLEL_MIN = PARALLEL_MIN
    scalar_values: frozenset = frozenset()  # 0-d values kept as scalars (_plan_scalar_values)

    def __init__(self, plan: KernelPlan, profile: bool = False, prefix: str = "", module_names=None,
                 library=None):
        super().__init__(plan, prefix)
        # names of module-level functions are shared between the codegens of one module
        self.module_names: dict = module_names if module_names is not None else {}
        # the kernel library this module calls: canonical kernel text -> (function name, module
        # source); shared with the codegens of its sub-graph functions
        self.library: dict = library if library is not None else {}
        self.local_kernels: dict = {}  # threaded kernels, defined in this module: text -> (name, lines)
        # subfunctions: id(SubGraph) -> (function name, constant nodes it takes)
        self.c_outputs = False  # sub-graph functions return C-contiguous arrays only
        # profile=True: an instrumented variant (staticad.profiler) that times every step with
        # numba_timer.now_ns() and returns a (steps + 1, 2) float64 array [start ns, duration ns]
        self.profile = profile
        self.profile_steps: list = []  # (name, kind, ops, nodes) per timed step, in row order
        self.w = _Writer()
        if profile:
            self.used |= {"_prof", "_tp", "_tm"}
        # (ident, Variable): buffers the caller passes after ``args`` for the next value of a
        # Variable; the kernel computing the update writes there and the caller swaps it in
        # after the call (no copy of the new value into the Variable)
        self.swaps: list = []
        self.swap_of: dict = {}
        self.noncontig: set = set()
        # Threads only where no BLAS call shares the entry point: OpenMP workers spin-wait
        # after a parallel loop and starve OpenBLAS threads (NUMBA_FACTS.md #8).
        self.parallel_ok = not any(getattr(st, "op", None) in (MATMUL, GEMM_UPDATE)
                                   for st in plan.steps) and not _subgraphs_use_blas(plan.steps)
        self.uses_prange = False
        self.program_roots = set(self.program.outputs)  # returned arrays must be fresh
        self.kernel_functions: list = []  # sub-graph functions of this module (lines each)
        self._inline_values: set = set()  # value names of loops written inline in this function
        self._offsets: dict = {}  # concatenated parts -> names of their running offsets
        # the module's entry point also returns whether a loop wanted threads (see generate);
        # sub-graph functions return (outputs, workspace bytes) only
        self.flag_return = not prefix
        # packed inputs (see PACK_MIN): [(parameter, dtype, [(input index, flat offset, size)], total)]
        self.pack_in: list = []
        self.packed_at: dict = {}  # packed input node -> (parameter, flat offset)
        # the entry's outputs when some are packed: [("d", index in the returned tuple) or
        # ("p", index of the buffer in it, start, stop, shape)] per output; None: returned as they are
        self.out_recipe = None
        self.takes_workspace = True  # whether the function takes ``ws`` (set by function_lines)

    def _check_static_dims(self):
        """One statement refusing inputs whose static dims differ: the code below reads them as
        literals. The caller's checked path names the input (Function binds arguments); the
        direct path (NumbaExecutable.direct_call) relies on this refusal."""
        tests = [f"{self.ident(x)}.shape[{axis}] != {d}" for x in self.program.inputs
                 if x not in self.packed_at for axis, d in enumerate(x.shape) if d is not None]
        if tests:
            self.w(f"if {' or '.join(tests)}:")
            self.w('    raise ValueError("an input has other static dims than its placeholder")')

    # --- run-time dims --------------------------------------------------------------------------
    def _dim_read(self, array, axis) -> str:
        return f"{array}.shape[{axis}]"

    def _emit_bdim(self, name, a, b, parts):
        self.w(f"{name} = _rt.bdim({a}, {b})")
        self.w(f"if {name} < 0:")
        self.w(f"    raise ValueError(\"shapes are incompatible at run time: {self._describe(parts)}\")")

    def shape_arg(self, sym) -> str:
        """The shape as an argument of a ``_rt`` helper: static dims as ``np.int64`` (a literal
        would become part of the helper's signature: one compiled copy per size)."""
        return _int64_tuple(self.dim(d) for d in sym)

    # --- whole module ---------------------------------------------------------------------------
    def generate(self) -> str:
        """The whole module: helpers, kernels, sub-graph functions and the ``entry`` point."""
        lines = self.function_lines("entry")
        head = [
            "# Generated by staticad (numba backend). Do not edit: regenerated from the graph.",
            f"# function: {self.program.name}",
            "import math",
            "import numpy as np",
            "from numba import njit" + (", prange" if self.uses_prange else ""),
            "from staticad.backends import numba_runtime as _rt",
            "from staticad.backends import numba_math as _nm",
        ] + self._profile_head() + self.vm_head() + self.library_imports() + [
            "",
            f"BLOCK = {BLOCK}  # elements per block of a flat loop (partial sums, parallel chunks)",
            f"PARALLEL_MIN = {PARALLEL_MIN}  # smaller flat loops stay serial: threads cost more than they save",
            "",
            "",
        ]
        segments: dict = {}  # segment text -> name, across the functions of this module
        for fn_lines in [lines for _, lines in self.local_kernels.values()] + self.kernel_functions:
            head += split_function(fn_lines, segments) + ["", ""]
        if self.profile or not any(l.startswith((_PAR_ONLY, _SERIAL_ONLY)) for l in lines):
            # one entry point (the instrumented build times the loops a large input takes)
            return "\n".join(head + split_function(_variant(lines, parallel=True), segments)) + "\n"
        # ``entry`` runs every loop serially and only reports (its last result) that a loop was
        # large enough for threads; ``entry_par`` (loops on threads above PARALLEL_MIN) is then
        # compiled on the next call. numba's parallel=True lowering is most of a cold compile
        # (chain: 8.8 s with it, 3.0 s without), and small inputs never need it.
        par = _variant(lines, parallel=True)
        par[1] = par[1].replace("def entry(", "def entry_par(", 1)
        return "\n".join(head + split_function(_variant(lines, parallel=False), segments) + ["", ""]
                         + split_function(par, segments)) + "\n"

    def library_sources(self) -> list:
        """Sources of the kernel-library modules this module imports (load them first)."""
        return [src for _, src in self.library.values()]

    def library_imports(self) -> list:
        lines = []
        for fn, src in sorted(self.library.values()):
            lines.append(f"from {_cache.module_name(src)} import {fn}")
        return ["# loop kernels: the kernel library (see staticad.backends.numba_kernels)"] + lines if lines else []

    def function_lines(self, fn_name: str) -> list:
        """The jitted function computing the plan (its kernels go to ``self.kernel_functions``)."""
        p = self.program
        variables = p.variables()
        variables += [var for var, _ in p.updates if var not in variables]  # write-only targets
        self._collect_args(variables)
        self._plan_packed_inputs()
        self._plan_inplace_gemms()
        self._plan_swaps()
        body = self.w
        body(f"# {len(self.plan.kernels)} loop kernel(s), "
             f"{len(self.plan.steps) - len(self.plan.kernels)} library step(s)")
        if self.flag_return:
            self._check_static_dims()
        for pin, _, members, _ in self.pack_in:
            body(f"# inputs packed in {pin} (views of those read one by one)")
            for index, off, _ in members:
                x = p.inputs[index]
                body(f"{self.ident(x)} = _rt.unflat({pin}, np.int64({off}), {self.shape_arg(self.sym[x])})")
        self._plan_buffer_reuse()
        self._plan_returned_transposes()
        self._plan_scalar_values()
        for index, step in enumerate(self.plan.steps):
            if self.profile:
                self._profile_begin(index, step)
            if isinstance(step, LoopKernel):
                self.emit_kernel(step)
            else:
                self.emit_library(step)
            if self.profile:
                self._profile_end(index)
            self._release_dead(index)
        if self.profile:
            self._profile_begin(len(self.plan.steps), None)
        self.emit_epilogue()
        self.vm_args()
        if self.pack_in or self.out_recipe is not None:
            _drop_unread_views(self.w.lines)
        # An entry point that never touches the workspace does not take it (one array fewer
        # to unbox per call: ~40 ns); sub-graph functions and the profiling build always do.
        self.takes_workspace = (not self.flag_return or self.profile
                                or any(_WS_NAME.search(l) for l in self.w.lines))
        return [
            # no C-callable wrapper: nothing calls it by address, and numba's wrapper of many
            # array arguments costs (131 arrays, an 8-layer MLP with Adam: ~1 s of its compile)
            '@njit(cache=True, error_model="numpy", fastmath={"contract"}, no_cfunc_wrapper=True)',
            f"def {fn_name}({', '.join([a for a, _ in self.args + self.swaps] + (['ws'] if self.takes_workspace else []))}):",
            VECTOR_HINT,
            ("    ws_used = _rt.ws_counter()  # [bytes of the workspace (internal buffers) this call needs]"
             if any("ws_used" in l and not l.lstrip("\x00PS ").startswith("return ") for l in self.w.lines)
             else "    ws_used = (np.int64(0),)  # no internal buffers: no counter to allocate"),
        ] + (["    wants_parallel = False  # a loop ran serially that entry_par runs on threads"]
             if self.flag_return else []) + (
            [f"    _prof = np.zeros(({len(self.profile_steps)}, 2), np.float64)  # [start ns, duration ns] per step"]
            if self.profile else []) + self.w.lines

    # --- packed inputs and outputs (wide entry points) ---------------------------------------
    def _packable(self, node) -> bool:
        sym = self.sym.get(node)  # (an unused input has none)
        return self.flag_return and not self.profile and sym is not None and _static_shape(sym) is not None

    def _plan_packed_inputs(self):
        """Inputs of a static shape, when at least PACK_MIN: one flat parameter per dtype (two
        or more inputs of it) instead of one each; the caller copies them in back to back."""
        p = self.program
        if not self.flag_return or self.profile:
            return
        static = [x for x in p.inputs if x.ndim > 0 and self._packable(x) and _static_shape(x.shape) is not None]
        if len(static) < PACK_MIN:
            return
        groups: dict = {}
        for x in static:
            groups.setdefault(x.dtype, []).append(x)
        packed_args = []
        for dtype, xs in groups.items():
            if len(xs) < 2:
                continue
            pin = self.fresh_name("pin_")
            members, off = [], 0
            for x in xs:
                size = int(np.prod(_static_shape(self.sym[x]), dtype=np.int64))
                self.packed_at[x] = (pin, off)
                members.append((p.inputs.index(x), off, size))
                off += size
            self.pack_in.append((pin, np.dtype(dtype), members, off))
            packed_args.append((pin, _Packed(dtype, off)))
        self.args = packed_args + [(a, n) for a, n in self.args if n not in self.packed_at]

    def _flat_source(self, o, stored):
        """(array name, flat offset) where output ``o``'s elements lie back to back in C order:
        a concatenate's part (its gradient) is a slice of the C-contiguous array it views."""
        if o in self.packed_at:
            return self.packed_at[o]
        if o.op is CONCAT_PART and o.attrs["axis"] % o.ndim == 0:
            s = o.inputs[0]
            sym = _static_shape(self.sym[s])
            offsets = self._offsets.get((tuple(id(r) for r in o.inputs[1:]), 0))
            k = o.attrs["index"]
            if (sym is not None and offsets is not None and offsets[k].isdigit() and o.dtype == s.dtype
                    and (s in stored or s in self.packed_at or s.op is CONCATENATE)):
                if s in self.packed_at:
                    pin, base = self.packed_at[s]
                    return pin, base + int(offsets[k]) * int(np.prod(sym[1:], dtype=np.int64))
                return self.ident(s), int(offsets[k]) * int(np.prod(sym[1:], dtype=np.int64))
        return self.ident(o), 0

    def _packed_outputs(self, nodes, copy) -> list:
        """The entry's returned names when at least PACK_MIN outputs have a static shape: the
        other outputs as :meth:`_entry_outputs` returns them, then one flat buffer per dtype of
        the static ones (``self.out_recipe`` says where each output lies); runs of outputs
        adjacent in one source array are copied by one call."""
        direct = [o for o in nodes if not self._packable(o)]
        outs = self._entry_outputs(direct, copy, pack=False)
        stored = {m for k in self.plan.kernels for m in k.stored}
        groups: dict = {}  # dtype -> [(output position, node)]
        for i, o in enumerate(nodes):
            if self._packable(o):
                groups.setdefault(o.dtype, []).append((i, o))
        recipe = [None] * len(nodes)
        for j, i in enumerate(i for i, o in enumerate(nodes) if not self._packable(o)):
            recipe[i] = ("d", j)
        self.w("# outputs of a static shape: packed, one flat buffer per dtype (the caller views it)")
        for dtype, members in groups.items():
            pout = self.fresh_name("pout_")
            buf = len(outs)
            outs.append(pout)
            total = sum(int(np.prod(_static_shape(self.sym[o]), dtype=np.int64)) for _, o in members)
            self.w(f"{pout} = _rt.empty((np.int64({total}),), np.{np.dtype(dtype).name})")
            runs, off = [], 0  # [source, source offset, destination offset, size]
            for i, o in members:
                shape = _static_shape(self.sym[o])
                size = int(np.prod(shape, dtype=np.int64))
                recipe[i] = ("p", buf, off, off + size, tuple(int(d) for d in shape))
                src, src_off = self._flat_source(o, stored)
                last = runs[-1] if runs else None
                if last is not None and last[0] == src and last[1] + last[3] == src_off and src_off > 0:
                    last[3] += size
                elif size:
                    runs.append([src, src_off, off, size])
                off += size
            for src, src_off, dst, size in runs:
                self.w(f"_rt.put_flat({pout}, np.int64({dst}), {src}, np.int64({src_off}), np.int64({size}))")
        self.out_recipe = recipe
        return outs

    # --- buffer reuse -------------------------------------------------------------------------
    def _plan_buffer_reuse(self):
        """Which kernel buffers die after which step: a dead buffer of the same shape and dtype
        is handed to the next kernel that needs one instead of allocating. Outputs, update values
        and buffers that a view aliases are never reused."""
        from ..passes.fuse import value_inputs
        self.pool: dict = {}
        self.reusable: set = set()
        self.dies_after: dict = {}
        roots = set(self.program.roots)
        aliased = set()
        last: dict = {}
        for index, step in enumerate(self.plan.steps):
            reads = step.operands if isinstance(step, LoopKernel) else value_inputs(step, self.sym)
            if not isinstance(step, LoopKernel) and step.op.aliases_input:
                aliased.update(step.inputs)
            for node in reads:  # a GEMM deferred to the epilogue reads its operands there
                last[node] = len(self.plan.steps) if step in self.inplace_gemms else index
        for k in self.plan.kernels:
            for m in k.stored:
                if m not in roots and m not in aliased and m in last:
                    self.reusable.add(m)
                    self.dies_after.setdefault(last[m], []).append(m)

    def _plan_scalar_values(self):
        """0-d values of loop kernels that only compiled loop kernels read: kept as scalars in
        the entry point (``v = ...``, read as ``v``), not as 0-d arrays written and read back with
        ``.item()``. Every array variable costs numba compile time: an 8-layer MLP with Adam has
        34 of them (bias corrections), ~0.4 s of its ~5 s compile. Outputs, update values,
        swapped buffers and what library steps, sub-graphs or the interpreter read stay arrays."""
        from ..passes.fuse import value_inputs
        from .numba_vm_codegen import MIN_OPS
        self.scalar_values: set = set()
        if not self.flag_return or self.profile:
            return
        p = self.program
        keep = set(p.outputs) | {val for _, val in p.updates} | set(self.swap_of) | self.returned_bases
        candidates = {m for k in self.plan.kernels for m in k.stored if m.ndim == 0 and m not in keep}
        for step in self.plan.steps:
            if not isinstance(step, LoopKernel):
                candidates.difference_update(value_inputs(step, self.sym))
            elif len(step.members) + len(step.sinks) >= MIN_OPS:  # may be interpreted: reads arrays
                candidates.difference_update(step.operands)
        self.scalar_values = candidates

    def _plan_returned_transposes(self):
        """Kernel buffers whose 2-d transpose is an output and that nothing else returns, views
        or updates (a Hessian: ``add.T``): allocated fresh, and the transposed view returned as
        it is. A workspace buffer needs a copy of the view in the epilogue: the Hessian workload
        took 1.2 ms of CPU per call at n=1000 with it, 0.4 ms without; 13.1 -> 10.6 us at n=100."""
        self.returned_bases: set = set()
        if not self.flag_return:  # sub-graph functions return C-contiguous arrays (c_outputs)
            return
        p = self.program
        outputs = list(p.outputs)
        values = {val for _, val in p.updates}
        stored = {m for k in self.plan.kernels for m in k.stored}
        views: dict = {}  # node -> the library steps aliasing it
        for step in self.plan.steps:
            if not isinstance(step, LoopKernel) and step.op.aliases_input:
                for node in step.inputs:
                    views.setdefault(node, []).append(step)
        for base, steps in views.items():
            t = steps[0]
            if (len(steps) == 1 and t.op is TRANSPOSE and t.attrs["axes"] == (1, 0) and base in stored
                    and base not in self.program_roots and base not in values and base not in self.swap_of
                    and outputs.count(t) == 1 and t not in values and t not in views):
                self.returned_bases.add(base)

    def _plan_swaps(self):
        """Update values a loop kernel stores, of the Variable's static shape and dtype, that are
        neither outputs nor the value of another update: written straight into the buffer the
        caller swaps in (double buffering: saves copying every new value into its Variable)."""
        p = self.program
        stored = {m for k in self.plan.kernels for m in k.stored}
        stored |= {s for s in self.plan.steps if getattr(s, "op", None) is GEMM_UPDATE
                   and s not in self.inplace_gemms}  # writes its own out
        values = [val for _, val in p.updates]
        for var, val in p.updates:
            if (val in stored and val not in p.outputs and values.count(val) == 1
                    and val.dtype == var.dtype and tuple(val.shape) == tuple(var.shape)
                    and self.sym[val] == tuple(var.shape)):
                name = f"{self.ident(var)}_next"
                while name in self.used:
                    name += "_"
                self.used.add(name)
                self.swap_of[val] = name
                self.swaps.append((name, var))

    def _release_dead(self, index):
        for m in self.dies_after.get(index, ()):
            if m not in self.scalar_values:
                self.pool.setdefault((self.sym[m], m.dtype), []).append(self.ident(m))

    def _allocate(self, m, shape_t):
        if m in self.scalar_values:
            return  # a scalar, assigned by its kernel
        returned = m in self.program_roots or m in self.returned_bases
        free = self.pool.get((self.sym[m], m.dtype)) if not returned else None
        if m in self.swap_of:
            self.w(f"{self.ident(m)} = {self.swap_of[m]}  # the Variable's next value, swapped in by the caller")
        elif free:
            self.w(f"{self.ident(m)} = {free.pop()}  # reuses a dead buffer")
        elif returned or m.ndim == 0:
            self.w(f"{self.ident(m)} = _rt.empty({_int64_tuple(_split_tuple(shape_t))}, np.{m.dtype.name})")  # returned: fresh
        else:
            self._from_workspace(self.ident(m), shape_t, m.dtype.name)

    def _from_workspace(self, name, shape_t, dtype, fill=None):
        """An internal buffer carved from the workspace the caller keeps between calls (fresh
        large allocations cost a page fault per 4 KiB on every call); when the workspace is too
        small this call allocates, and reports the size it needs so the next call fits."""
        dt = np.dtype(dtype)
        args = f"ws, ws_used, {_int64_tuple(_split_tuple(shape_t))}, np.{dt.name}, np.int64({dt.itemsize})"
        if fill is None:
            self.w(f"{name} = _rt.ws_array({args})")
        else:
            self.w(f"{name} = _rt.ws_filled({args}, np.{dt.name}({fill}))")

    def _member_expr(self, m, val) -> str:
        fn = m.op.extra.get("vector_math")
        if fn is not None and m.dtype.name in MATH_SUFFIX:
            # vectorizable arithmetic implementation instead of a scalar libm call (no SVML)
            arg = _cast_to(val(m.inputs[0]), m.inputs[0].dtype, m.dtype)
            return f"_nm.{fn}_{MATH_SUFFIX[m.dtype.name]}({arg})"
        if m.op.scalar is not None:  # the njit-compiled scalar function (numba_runtime)
            return f"_rt.{m.op.name}({', '.join(val(i) for i in m.inputs)})"
        return member_template(m, val)

    def _block_kind(self, s):
        return s.op.reduction.combine

    def _combine(self, s, total, part):
        op = s.op.reduction.combine
        if op == "sum":
            self.w(f"{total} += {part}")
        elif op == "prod":
            self.w(f"{total} *= {part}")
        elif op == "max":
            self.w(f"{total} = _rt.maximum({total}, {part})")
        elif op == "min":
            self.w(f"{total} = _rt.minimum({total}, {part})")

    # --- reductions ---------------------------------------------------------------------------------
    def _acc_dtype(self, s) -> str:
        return super()._acc_dtype(s).name

    def _acc_init(self, s) -> str:
        return self._identity_text(s, self._acc_dtype(s))

    def _init_acc(self, s, k):
        w = self.w
        asym = self._acc_sym(s)
        name = self.fresh_name("acc")
        dt = self._acc_dtype(s)
        init = self._acc_init(s)
        if asym == ():
            w(f"{name} = np.{dt}({init})")
            return {"name": name, "sym": (), "array": False}
        self._from_workspace(name, self.shape_expr(asym), dt, fill=init)
        return {"name": name, "sym": asym, "array": True}

    def _accumulate(self, s, slot, x, staged=False):
        w = self.w
        red = s.op.reduction
        op = red.combine
        if staged:  # the block buffer just holds each element's contribution
            w(f"{slot} = np.float64({x}) * np.float64({x})" if red.squares else f"{slot} = {x}")
            return
        if red.squares:
            w(f"{slot} += np.float64({x}) * np.float64({x})")
        elif op == "sum":
            w(f"{slot} += {x}")
        elif op == "prod":
            w(f"{slot} *= {x}")
        elif op == "max":
            w(f"{slot} = _rt.maximum({slot}, {x})")
        elif op == "min":
            w(f"{slot} = _rt.minimum({slot}, {x})")

    def _finish_acc(self, s, a, D):
        w = self.w
        out = self.ident(s)
        dt = s.dtype.name
        if s.op.reduction.needs_elements:
            size = " * ".join(D) if D else "1"
            w(f"if {size} == 0:")
            w(f"    raise ValueError(\"zero-size array to reduction operation {s.op.name} ({self.ident(s)})\")")
        out_shape = self.shape_expr(self.sym[s])
        if not a["array"]:
            value = f"np.sqrt({a['name']})" if s.op.reduction.squares else a["name"]
            if self.sym[s] == ():
                w(f"{out} = _rt.scalar_array({value}, np.{dt})")
            else:
                w(f"{out} = _rt.full({self.shape_arg(self.sym[s])}, {value}, np.{dt})")
        else:
            w(f"{out} = _rt.astype_reshape({a['name']}, np.{dt}, {self.shape_arg(self.sym[s])})")
        self.fresh.add(s)

    # --- library steps ------------------------------------------------------------------------------
    def emit_control(self, node):
        from .numba_control import emit_control
        emit_control(self, node)

    # --- outputs and updates -------------------------------------------------------------------------
    def emit_epilogue(self):
        w = self.w
        p = self.program
        w("")
        w("# outputs: fresh arrays (sources and views are copied)")
        # np.copy keeps an F layout; sub-graph callers want one type (C-contiguous)
        copy = (lambda o, name: f"_rt.copy_c({name})" if self.c_outputs and o.ndim > 0 else f"_rt.copy({name})")
        if self.flag_return:
            outs = self._entry_outputs(p.outputs, copy)
        else:
            outs = self._fresh_outputs(p.outputs, copy)
        if p.updates:
            w("# updates: computed from pre-update values, checked, then written in place")
            staged = []
            for var, val in p.updates:
                if val in self.inplace_gemms:
                    continue  # accumulated into the Variable below
                name = self.ident(val)
                if val not in self.fresh:
                    copy = self.fresh_name("upd")
                    w(f"{copy} = _rt.copy({name})")
                    name = copy
                staged.append((var, val, name))
            for var, val, name in staged:  # (in-place GEMM updates are not staged)
                if _static_shape(self.sym[val]) == tuple(var.shape):
                    # checked when planned; a check at run time would keep every Variable and
                    # update value alive to the end of the entry point, across every segment
                    continue
                w(f"if {name}.shape != {self.ident(var)}.shape:")
                w(f"    raise ValueError(\"update of Variable {self.ident(var)} has the wrong shape; no Variable was changed\")")
            for line in self.deferred_gemms:  # in place: only after every check (see _plan_inplace_gemms)
                w(line)
            swapped = {self.ident(val) for _, val in p.updates if val in self.swap_of}
            for var, _, name in staged:
                if name in swapped:
                    continue  # computed in the buffer the caller swaps in
                if var.ndim == 0:
                    w(f"{self.ident(var)}[()] = {name}.item()")
                else:
                    w(f"{self.ident(var)}[...] = {name}")
        if self.profile:
            self._profile_end(len(self.plan.steps))
        w(f"return {_tuple(outs)}, ws_used[0]" + (", wants_parallel" if self.flag_return else "")
          + (", _prof" if self.profile else ""))

    def _entry_outputs(self, nodes, copy, pack=True) -> list:
        """The entry point returns a 0-d output as its value, read here (before any update is
        written in place): boxing a 0-d array cost ~0.7 us of a ~1.2 us scalar call, the caller's
        ``np.array(value, dtype)`` ~0.2 us. Other outputs as :meth:`_fresh_outputs` returns them.
        Many outputs of a static shape are packed (:meth:`_packed_outputs`)."""
        if pack and sum(1 for o in nodes if self._packable(o)) >= PACK_MIN:
            return self._packed_outputs(nodes, copy)
        arrays = iter(self._fresh_outputs([o for o in nodes if o.ndim > 0], copy))
        outs = []
        for o in nodes:
            if o.ndim > 0:
                outs.append(next(arrays))
                continue
            name = self.fresh_name("out")
            self.w(f"{name} = {self.ident(o)}.item()  # a 0-d output as its value")
            outs.append(name)
        return outs

    # --- profiling (instrumented variant only) ------------------------------------------------------
    def _profile_head(self) -> list:
        if not self.profile:
            return []
        import hashlib
        from pathlib import Path
        from . import numba_timer
        digest = hashlib.sha256(Path(numba_timer.__file__).read_bytes()).hexdigest()[:16]
        return [f"from staticad.backends import numba_timer as _tm  # instrumented build, timer {digest}"]

    def _profile_begin(self, index, step):
        if isinstance(step, LoopKernel):
            nodes = step.members + step.sinks
            self.profile_steps.append((step.name, "kernel", [n.op.name for n in nodes],
                                       [self.ident(n) for n in nodes]))
        elif step is None:
            self.profile_steps.append(("epilogue", "epilogue", ["copy outputs", "write updates"], []))
        else:
            self.profile_steps.append((self.ident(step), "library", [step.op.name], [self.ident(step)]))
        self.w(f"_tp = _tm.now_ns()  # profile: {self.profile_steps[-1][0]}")

    def _profile_end(self, index):
        self.w(f"_prof[{index}, 0] = _tp")
        self.w(f"_prof[{index}, 1] = _tm.now_ns() - _tp")


class _Packed:
    """The entry-point parameter holding packed inputs of one dtype (flat, back to back)."""
    op = None
    ndim = 1

    def __init__(self, dtype, size):
        self.dtype = np.dtype(dtype)
        self.shape = (size,)


def _drop_unread_views(lines):
    """Deletes (in place) the top-level statements ``name = _rt.unflat(...)`` / ``_rt.rows(...)``
    whose name no other line reads: views of packed inputs and of a concatenate's gradient that
    only packed copies used (each would be a call for numba to type and lower)."""
    import re
    view = re.compile(r"^(?:\x00[PS])?    (\w+) = _rt\.(?:unflat|rows)\(")
    word = re.compile(r"[A-Za-z_]\w*")
    counts: dict = {}
    for line in lines:
        code = line.split("#", 1)[0] if "\"" not in line else line
        for name in word.findall(code):
            counts[name] = counts.get(name, 0) + 1
    keep = []
    for line in lines:
        m = view.match(line)
        if m and counts.get(m.group(1), 0) == 1:
            continue
        keep.append(line)
    lines[:] = keep


def _subgraphs_use_blas(steps) -> bool:
    """Whether a control node's sub-graphs (at any depth) call matmul: they run in this entry point."""
    from ..graph import walk
    todo = [v for st in steps if getattr(st, "op", None) is not None and st.op.control
            for v in st.attrs.values() if hasattr(v, "outputs")]
    while todo:
        for node in walk(todo.pop().outputs):
            if node.op is MATMUL:
                return True
            todo += [v for v in node.attrs.values() if hasattr(v, "outputs")]
    return False


def generate(plan: KernelPlan):
    """Source text, the entry point's argument list ``[(ident, node)]``, its swap buffers
    ``[(ident, Variable)]`` (passed after the arguments, before the workspace) and the sources
    of the kernel-library modules it imports."""
    cg = NumbaCodegen(plan)
    src = cg.generate()
    return src, cg.args, cg.swaps, cg.library_sources()

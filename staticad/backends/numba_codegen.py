"""Code generation for the Numba CPU backend: a :class:`KernelPlan` -> readable Python source.

The whole function becomes ONE ``@njit`` entry point: a call crosses from Python to native code
once. Each loop kernel is a call of a function of the kernel library (:mod:`.numba_kernels`):
a plain loop nest over sizes read at run time (a ``None`` dim never recompiles); when every
operand is a contiguous array of the iteration shape the kernel takes a flat 1-D loop that
LLVM vectorizes, otherwise a nested loop with broadcasting indices. Library steps (matmul via
BLAS, views, indexing) are one statement each.
"""
from __future__ import annotations

import keyword
import math
import re

import numpy as np

from ..graph import CONSTANT, PLACEHOLDER, VARIABLE
from ..ops import elementwise as _ew, reduce as _rd, shape as _sh
from ..ops.linalg import MATMUL
from ..ops.shape import index_of
from ..passes.fuse import KernelPlan, LoopKernel, is_member_op, shape_only
from ..passes.symshape import is_symbol
from . import cache as _cache
from .numba_kernels import KernelLibraryMixin
from .numba_segments import split as split_function
from .numba_source import (BLOCK, INLINE_MAX, PARALLEL_MIN, _PAR_ONLY, _SERIAL_ONLY, _cast_to, _int64,  # noqa: F401
                           _int64_tuple, _keeps_float_dtype, _split_tuple, _tuple, _variant, _Writer, literal,
                           member_template)

RESERVED = {"np", "math", "_rt", "njit", "entry"}


class NumbaCodegen(KernelLibraryMixin):
    """Turns a plan into module source; ``args`` lists the entry point's parameters in order."""

    INLINE_MAX = INLINE_MAX
    PARALLEL_MIN = PARALLEL_MIN

    def __init__(self, plan: KernelPlan, profile: bool = False, prefix: str = "", module_names=None,
                 library=None):
        self.plan = plan
        # sub-graphs of control nodes become functions of the same module: names of module-level
        # functions are shared between the codegens of one module, kernel names carry a prefix
        self.prefix = prefix
        self.module_names: dict = module_names if module_names is not None else {}
        # the kernel library this module calls: canonical kernel text -> (function name, module
        # source); shared with the codegens of its sub-graph functions
        self.library: dict = library if library is not None else {}
        self.local_kernels: dict = {}  # threaded kernels, defined in this module: text -> (name, lines)
        self.subfunctions: dict = {}  # id(SubGraph) -> (function name, constant nodes it takes)
        self.c_outputs = False  # sub-graph functions return C-contiguous arrays only
        # profile=True: an instrumented variant (staticad.profiler) that times every step with
        # numba_timer.now_ns() and returns a (steps + 1, 2) float64 array [start ns, duration ns]
        self.profile = profile
        self.profile_steps: list = []  # (name, kind, ops, nodes) per timed step, in row order
        self.program = plan.program
        self.sym = plan.sym
        self.w = _Writer()
        self.idents: dict = {}
        self.used: set = set(RESERVED) | ({"_prof", "_tp", "_tm"} if profile else set())
        self.dims: dict = {}
        self.node_by_id = {n.id: n for n in self.program.nodes}
        self.order = {n: i for i, n in enumerate(self.program.nodes)}
        self.inline: set = set()
        self.args: list = []   # (ident, node) in call order
        # (ident, Variable): buffers the caller passes after ``args`` for the next value of a
        # Variable; the kernel computing the update writes there and the caller swaps it in
        # after the call (no copy of the new value into the Variable)
        self.swaps: list = []
        self.swap_of: dict = {}
        self.noncontig: set = set()
        self.fresh: set = set()
        self._uid = 0
        # Threads only where no BLAS call shares the entry point: OpenMP workers spin-wait
        # after a parallel loop and starve OpenBLAS threads (NUMBA_FACTS.md #8).
        self.parallel_ok = not any(getattr(st, "op", None) is MATMUL
                                   for st in plan.steps) and not _subgraphs_use_blas(plan.steps)
        self.uses_prange = False
        self.program_roots = set(self.program.outputs)  # returned arrays must be fresh
        self.kernel_functions: list = []  # sub-graph functions of this module (lines each)
        self._inline_values: set = set()  # value names of loops written inline in this function
        self._offsets: dict = {}  # concatenated parts -> names of their running offsets
        # the module's entry point also returns whether a loop wanted threads (see generate);
        # sub-graph functions return (outputs, workspace bytes) only
        self.flag_return = not prefix

    # --- naming ---------------------------------------------------------------------------
    def ident(self, node) -> str:
        if node in self.idents:
            return self.idents[node]
        if node not in self.order:  # a constant a sub-graph function takes from this one
            self.order[node] = len(self.order)
        name = node.name
        if node.op not in (PLACEHOLDER, VARIABLE) or re.fullmatch(r"(placeholder|Variable)_\d+", name):
            # automatic names carry a process-global counter: use the position in the program,
            # so the same graph always generates the same source (and hits the same cache entry)
            name = f"{'Variable' if node.op is VARIABLE else node.op.name}_{self.order[node]}"
        base = re.sub(r"\W", "_", name)
        if not base or base[0].isdigit() or keyword.iskeyword(base):
            base = "t_" + base
        name = base
        if name in self.used:
            name = f"{base}_{self.order[node]}"
        while name in self.used:
            name += "_"
        self.used.add(name)
        self.idents[node] = name
        return name

    def fresh_name(self, prefix) -> str:
        self._uid += 1
        name = f"{prefix}{self._uid}"
        self.used.add(name)
        return name

    # --- run-time dims --------------------------------------------------------------------------
    def dim(self, d) -> str:
        if not is_symbol(d):
            return str(d)
        if d in self.dims:
            return self.dims[d]
        kind = d[0]
        if kind in ("in", "node"):
            node = self.node_by_id[d[1]]
            name = self.fresh_name(f"n_{self.ident(node)}_")
            self.w(f"{name} = {self.ident(node)}.shape[{d[2]}]")
        else:  # broadcast of several symbols
            parts = sorted(d[1], key=self._symbol_order)
            expr = self.dim(parts[0])
            for q in parts[1:]:
                name = self.fresh_name("n_bc")
                self.w(f"{name} = _rt.bdim({expr}, {self.dim(q)})")
                self.w(f"if {name} < 0:")
                self.w(f"    raise ValueError(\"shapes are incompatible at run time: {self._describe(parts)}\")")
                expr = name
            name = expr
        self.dims[d] = name
        return name

    def _symbol_order(self, s):
        """Sort key of a dim symbol by its node's position in the program, not its node id (a
        process-global counter): the same graph gives the same source in every process."""
        if s[0] in ("in", "node") and s[1] in self.node_by_id:
            return (0, self.order[self.node_by_id[s[1]]], s[2])
        return (1, repr(s))

    def _describe(self, syms) -> str:
        out = []
        for s in syms:
            node = self.node_by_id.get(s[1]) if s[0] in ("in", "node") else None
            out.append(f"{self.ident(node)} dim {s[2]}" if node is not None else "?")
        return " vs ".join(out)

    def shape_expr(self, sym) -> str:
        return _tuple(self.dim(d) for d in sym)

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
        ] + self._profile_head() + self.library_imports() + [
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
        for x in p.inputs:
            self.args.append((self.ident(x), x))
        variables = p.variables()
        variables += [var for var, _ in p.updates if var not in variables]  # write-only targets
        for v in variables:
            self.args.append((self.ident(v), v))
        for node in p.nodes:
            if node.op is CONSTANT:
                if node.static_size == 1 and self._only_in_loops(node):
                    self.inline.add(node)
                else:
                    self.args.append((self.ident(node), node))
        self._plan_swaps()
        body = self.w
        body(f"# {len(self.plan.kernels)} loop kernel(s), "
             f"{len(self.plan.steps) - len(self.plan.kernels)} library step(s)")
        self._plan_buffer_reuse()
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
        return [
            '@njit(cache=True, error_model="numpy", fastmath={"contract"})',
            f"def {fn_name}({', '.join([a for a, _ in self.args + self.swaps] + ['ws'])}):",
            ("    ws_used = _rt.ws_counter()  # [bytes of the workspace (internal buffers) this call needs]"
             if any("ws_used" in l and not l.lstrip("\x00PS ").startswith("return ") for l in self.w.lines)
             else "    ws_used = (np.int64(0),)  # no internal buffers: no counter to allocate"),
        ] + (["    wants_parallel = False  # a loop ran serially that entry_par runs on threads"]
             if self.flag_return else []) + (
            [f"    _prof = np.zeros(({len(self.profile_steps)}, 2), np.float64)  # [start ns, duration ns] per step"]
            if self.profile else []) + self.w.lines

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
            for node in reads:
                last[node] = index
        for k in self.plan.kernels:
            for m in k.stored:
                if m not in roots and m not in aliased and m in last:
                    self.reusable.add(m)
                    self.dies_after.setdefault(last[m], []).append(m)

    def _plan_swaps(self):
        """Update values a loop kernel stores, of the Variable's static shape and dtype, that are
        neither outputs nor the value of another update: written straight into the buffer the
        caller swaps in (double buffering: saves copying every new value into its Variable)."""
        p = self.program
        stored = {m for k in self.plan.kernels for m in k.stored}
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
            self.pool.setdefault((self.sym[m], m.dtype), []).append(self.ident(m))

    def _allocate(self, m, shape_t):
        free = self.pool.get((self.sym[m], m.dtype)) if m not in self.program_roots else None
        if m in self.swap_of:
            self.w(f"{self.ident(m)} = {self.swap_of[m]}  # the Variable's next value, swapped in by the caller")
        elif free:
            self.w(f"{self.ident(m)} = {free.pop()}  # reuses a dead buffer")
        elif m in self.program_roots or m.ndim == 0:
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

    def _only_in_loops(self, node) -> bool:
        for user in self.program.nodes:
            for k, i in enumerate(user.inputs):
                if i is node and not (user in self.plan.kernel_of or shape_only(user, k)):
                    return False
        return node not in set(self.program.roots)

    def _member_expr(self, m, val) -> str:
        fn = m.op.extra.get("vector_math")
        if fn is not None and m.dtype.name in ("float32", "float64"):
            # vectorizable arithmetic implementation instead of a scalar libm call (no SVML)
            arg = _cast_to(val(m.inputs[0]), m.inputs[0].dtype, m.dtype)
            return f"_nm.{fn}_{'f32' if m.dtype.name == 'float32' else 'f64'}({arg})"
        if m.op.scalar is not None:  # the njit-compiled scalar function (numba_runtime)
            return f"_rt.{m.op.name}({', '.join(val(i) for i in m.inputs)})"
        return member_template(m, val)

    def _sym_text(self, S) -> str:
        return _tuple(str(d) if not is_symbol(d) else self.dim(d) for d in S)

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
    def _acc_sym(self, s):
        x_sym = self.sym[s.inputs[0]]
        over = s.op.reduction.over
        if over == "all":
            return ()
        if over == "like":
            acc = self.sym[s.inputs[1]]
            return () if all(d == 1 for d in acc) else acc
        axes = s.attrs["axes"]
        acc = tuple(1 if i in axes else d for i, d in enumerate(x_sym))
        return () if all(d == 1 for d in acc) else acc  # everything reduced: a scalar accumulator

    def _acc_dtype(self, s) -> str:
        return s.op.reduction.acc_dtype(s.inputs[0].dtype).name

    def _acc_init(self, s) -> str:
        v = s.op.reduction.identity(self._acc_dtype(s))
        if isinstance(v, float) and math.isinf(v):
            return "math.inf" if v > 0 else "-math.inf"
        return str(v)

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
    def emit_library(self, node):
        w = self.w
        w("")
        w(f"# {self.ident(node)}: {node.op.name}")
        lower = LIBRARY.get(node.op)
        if lower is not None:
            lower(self, node, self.ident(node), [self.ident(i) for i in node.inputs])
        elif node.op.control:
            from .numba_control import emit_control
            emit_control(self, node)
        else:
            raise NotImplementedError(f"numba backend: no code template for op {node.op.name!r}")

    def _lib_matmul(self, node, out, ins):
        self._emit_matmul(node, ins)
        self.fresh.add(node)

    def _lib_transpose(self, node, out, ins):
        if node.attrs["axes"] == (1, 0) and node.inputs[0] not in self.noncontig:
            self.w(f"{out} = {ins[0]}.T")  # an F-ordered view: BLAS takes it without a copy
        else:
            self.w(f"{out} = _rt.transpose({ins[0]}, {_int64_tuple(str(x) for x in node.attrs['axes'])})")
        self.noncontig.add(node)

    def _lib_reshape(self, node, out, ins):
        # a dim no rule relates to the inputs (the -1 of a reshape of a None dim) is this node's
        # own: it cannot be read from the array being made, so numpy's -1 computes it
        own = lambda d: is_symbol(d) and d[0] == "node" and d[1] == node.id  # noqa: E731
        dims = _int64_tuple("-1" if own(d) else self.dim(d) for d in self.sym[node])
        self.w(f"{out} = _rt.contiguous_reshape({ins[0]}, {dims})")

    def _lib_getitem(self, node, out, ins):
        idx = self._index_text(node, ins[0])
        if node.ndim == 0:
            self.w(f"{out} = _rt.scalar_array({ins[0]}[{idx}], np.{node.dtype.name})")
            self.fresh.add(node)
        else:
            self.w(f"{out} = {ins[0]}[{idx}]")
            self.noncontig.add(node)

    def _lib_getitem_grad(self, node, out, ins):
        w = self.w
        idx = self._index_text(node, None, ref=node.inputs[1])
        w(f"{out} = _rt.zeros({self.shape_arg(self.sym[node])}, np.{node.dtype.name})")
        src = f"{ins[0]}.item()" if node.inputs[0].ndim == 0 else ins[0]
        w(f"{out}[{idx}] = {src}")
        self.fresh.add(node)

    def _lib_concatenate(self, node, out, ins):
        w = self.w
        # copies into the result, not np.concatenate of a tuple: numba types a tuple of n
        # arrays in O(n^2) (a 100-way concatenate took minutes to compile)
        ax = node.attrs["axis"] % node.ndim
        offsets = self._concat_offsets(node.inputs, ax)
        # the result's length along the axis is the last offset: its symbol may be this
        # node's own (a run-time dim of a part), which cannot be read from the array being made
        first = self.sym[node.inputs[0]]
        shape = [offsets[-1] if d == ax else self.dim(first[d]) for d in range(node.ndim)]
        w(f"{out} = _rt.empty({_int64_tuple(shape)}, np.{node.dtype.name})")
        for i, part in enumerate(node.inputs):
            if ax == 0:  # a cached helper: slice assignment is a lot of code to type and lower
                w(f"_rt.set_rows({out}, {_int64(offsets[i])}, {offsets[i + 1]}, {self._cast(part, node.dtype)})")
                continue
            idx = ", ".join(":" if d != ax else f"{offsets[i]}:{offsets[i + 1]}" for d in range(node.ndim))
            w(f"{out}[{idx}] = {self._cast(part, node.dtype)}")
        self.fresh.add(node)

    def _lib_concat_part(self, node, out, ins):
        refs = node.inputs[1:]
        ax = node.attrs["axis"] % node.ndim
        offsets = self._concat_offsets(refs, ax)
        k = node.attrs["index"]
        if ax == 0:
            self.w(f"{out} = _rt.rows({ins[0]}, {_int64(offsets[k])}, {offsets[k + 1]})")
        else:
            idx = ", ".join(":" if d != ax else f"{offsets[k]}:{offsets[k + 1]}" for d in range(node.ndim))
            self.w(f"{out} = {ins[0]}[{idx}]")
        self.noncontig.add(node)

    def _lib_count(self, node, out, ins):
        dims = [self.dim(self.sym[node.inputs[0]][ax]) for ax in node.attrs["axes"]]
        self.w(f"{out} = _rt.scalar_array({' * '.join(dims) if dims else '1'}, np.{node.dtype.name})")
        self.fresh.add(node)

    def _concat_offsets(self, parts, axis) -> list:
        """Names of the running offsets of ``parts`` along ``axis`` (n + 1 of them), written once
        per set of parts: each is the previous one plus one length (linear in n, where a sum
        of all the lengths before each part was quadratic)."""
        key = (tuple(id(p) for p in parts), axis)
        names = self._offsets.get(key)
        if names is None:
            names = ["0"]
            for p in parts:
                nxt = self.fresh_name("off")
                self.w(f"{nxt} = {_int64(names[-1])} + {_int64(self.dim(self.sym[p][axis]))}")
                names.append(nxt)
            self._offsets[key] = names
        return names

    def _cast(self, node, dtype) -> str:
        name = self.ident(node)
        return name if node.dtype == dtype else f"_rt.astype({name}, np.{np.dtype(dtype).name})"

    def _index_text(self, node, arr, ref=None) -> str:
        parts = []
        src = node.inputs[0] if ref is None else ref
        dim = 0
        for it in index_of(node):
            if it is None:
                parts.append("None")
                continue
            if isinstance(it, int):
                d = src.shape[dim]
                if d is None:
                    n = self.dim(self.sym[src][dim])
                    self.w(f"if not -{n} <= {it} < {n}:")
                    self.w(f"    raise IndexError(\"index {it} is out of bounds for axis {dim} of {self.ident(src)}\")")
                parts.append(str(it))
            else:
                text = ("" if it.start is None else str(it.start)) + ":" + ("" if it.stop is None else str(it.stop))
                parts.append(text + (f":{it.step}" if it.step is not None else ""))
            dim += 1
        return ", ".join(parts) if parts else "()"

    def _emit_matmul(self, node, ins):
        w = self.w
        a, b = node.inputs
        dt = node.dtype
        out = self.ident(node)
        an, bn = self._cast(a, dt), self._cast(b, dt)
        if dt.kind != "f":
            a2 = f"{an}.reshape((1, -1))" if a.ndim == 1 else an
            b2 = f"{bn}.reshape((-1, 1))" if b.ndim == 1 else bn
            if a.ndim > 2 or b.ndim > 2:
                raise NotImplementedError("numba backend: batched integer matmul")
            w(f"{out} = _rt.matmul_int(np.ascontiguousarray({a2}), np.ascontiguousarray({b2}))"
              f".astype(np.{dt.name}).reshape({self.shape_expr(self.sym[node])})")
            return
        if a.ndim <= 2 and b.ndim <= 2:
            w(f"{out} = _rt.dot({an}, {bn})")
            if node.ndim == 0:
                w(f"{out} = _rt.scalar_array({out}, np.{dt.name})")
            return
        # batched: loop over the broadcast batch dims, one BLAS call per matrix
        shape = self.shape_expr(self.sym[node])
        w(f"{out} = _rt.empty({self.shape_arg(self.sym[node])}, np.{dt.name})")
        nb = node.ndim - (2 if a.ndim >= 2 and b.ndim >= 2 else 1)
        batch = self.sym[node][:nb]
        for p in range(nb):
            w(f"for b{p} in range({self.dim(batch[p])}):")
            w.indent += 1

        def sel(t, name):
            tb = t.ndim - (2 if t.ndim >= 2 else 1)
            if tb <= 0:
                return name
            idx = []
            for j in range(tb):
                p = j + nb - tb
                d = self.sym[t][j]
                idx.append("0" if d == 1 and batch[p] != 1 else f"b{p}")
            return f"{name}[{', '.join(idx)}]"

        w(f"{out}[{', '.join(f'b{p}' for p in range(nb))}] = _rt.dot({sel(a, an)}, {sel(b, bn)})")
        w.indent -= nb
        self.fresh.add(node)

    # --- outputs and updates -------------------------------------------------------------------------
    def emit_epilogue(self):
        w = self.w
        p = self.program
        w("")
        w("# outputs: fresh arrays (sources and views are copied)")
        outs, seen = [], set()
        for o in p.outputs:
            name = self.ident(o)
            if o not in self.fresh or o in seen:
                copy = self.fresh_name("out")
                if self.c_outputs and o.ndim > 0:  # np.copy keeps an F layout; callers want one type
                    w(f"{copy} = _rt.copy_c({name})")
                else:
                    w(f"{copy} = _rt.copy({name})")
                name = copy
            seen.add(o)
            outs.append(name)
        if p.updates:
            w("# updates: computed from pre-update values, checked, then written in place")
            staged = []
            for var, val in p.updates:
                name = self.ident(val)
                if val not in self.fresh:
                    copy = self.fresh_name("upd")
                    w(f"{copy} = _rt.copy({name})")
                    name = copy
                staged.append((var, name))
            for var, name in staged:
                w(f"if {name}.shape != {self.ident(var)}.shape:")
                w(f"    raise ValueError(\"update of Variable {self.ident(var)} has the wrong shape; no Variable was changed\")")
            swapped = {self.ident(val) for _, val in p.updates if val in self.swap_of}
            for var, name in staged:
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


# library steps: the lowering of each op (control ops: numba_control)
LIBRARY = {
    MATMUL: NumbaCodegen._lib_matmul, _sh.TRANSPOSE: NumbaCodegen._lib_transpose,
    _sh.RESHAPE: NumbaCodegen._lib_reshape, _sh.RESHAPE_LIKE: NumbaCodegen._lib_reshape,
    _sh.EXPAND_DIMS: NumbaCodegen._lib_reshape, _sh.SQUEEZE: NumbaCodegen._lib_reshape,
    _sh.GETITEM: NumbaCodegen._lib_getitem, _sh.GETITEM_GRAD: NumbaCodegen._lib_getitem_grad,
    _sh.CONCATENATE: NumbaCodegen._lib_concatenate, _sh.CONCAT_PART: NumbaCodegen._lib_concat_part,
    _rd.COUNT: NumbaCodegen._lib_count,
}


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

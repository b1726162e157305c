"""Code generation for the CUDA backend: a :class:`KernelPlan` -> one module of ``@cuda.jit`` kernels.

The plan is the one the CPU backend compiles (same passes, same fusion); only the last step
differs. The generated module holds:

* one ``@cuda.jit`` kernel per loop kernel of the plan: a grid-stride loop over the flattened
  iteration space; operands of another (broadcast) shape are read through run-time strides
  (0 on broadcast dims), so no broadcast is ever materialized;
* reductions fused into those loops. Sums, products, max, min and norms over every axis
  accumulate per thread, are combined by a shared-memory tree per block, and a second one-block
  kernel (``*_finish``) combines the block partials: the order of every addition is fixed by the
  sizes alone, so results are deterministic. Reductions over some axes use a *segmented* loop:
  each output element is owned by a group of G threads (G a power of two chosen from the sizes,
  1 when there are many outputs) that split its reduced elements and combine them with a tree;
  no atomics;
* library kernels when the plan needs them: a tiled shared-memory matmul (batched, strided
  operands, so a transposed weight is read in place), strided copies (transpose, indexing,
  concatenation, ...) and a fill;
* a host driver ``entry(...)`` (plain Python) that computes run-time shapes and launches the
  kernels in plan order. Every device buffer is a flat 1-D array; the driver tracks shapes as
  tuples, so reshapes are free;
* for control flow (``cond``, ``while_loop``), one more driver function per sub-graph, generated
  from the sub-graph's own plan by a child codegen of the same module (see :mod:`.cuda_control`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..graph import CONSTANT, PLACEHOLDER, VARIABLE
from ..registry import REGISTRY
from ..passes.fuse import KernelPlan, LoopKernel, shape_only
from .codegen_base import CodegenBase, _tuple, _Writer, literal, member_template
from .cuda_library import CudaLibraryMixin, cast, np_type


@dataclass(frozen=True)
class LaunchConfig:
    threads: int      # threads per block of loop kernels (a power of two: trees halve it)
    max_blocks: int   # grid-stride loops cap the grid here (also the number of block partials)
    tile: int         # matmul tile edge (blocks of tile x tile threads)
    target: int       # threads a segmented reduction tries to keep busy (chooses G)


GPU = LaunchConfig(threads=256, max_blocks=2048, tile=16, target=1 << 16)
# The simulator runs every thread as a Python thread: small blocks, few of them (still > 1 block,
# so the block partials and segmented trees are exercised).
SIMULATOR = LaunchConfig(threads=16, max_blocks=2, tile=4, target=32)

# max and min reductions combine with the scalar functions of the maximum and minimum ops
COMBINE_OP = {"max": "maximum", "min": "minimum"}
TREE_STEP = {"sum": "sh[t] + sh[t + w]", "prod": "sh[t] * sh[t + w]",
             "max": "_rt_maximum(sh[t], sh[t + w])", "min": "_rt_minimum(sh[t], sh[t + w])"}
RESERVED = {"np", "math", "cuda", "_host", "_ops", "entry", "THREADS", "MAX_BLOCKS", "TILE", "TARGET", "_grid", "fill", "axpy",
            "k", "t", "o", "j", "q", "w", "n", "M", "R", "G", "lane", "grp", "gpb", "ob", "rem", "remo", "remj",
            "size", "blocks", "seg", "v", "mm", "sh", "tx", "ty", "z", "z0", "z1", "z2", "row", "col", "acc",
            "nparts", "off", "_ws", "_prof", "value", "src", "dst", "sb", "db", "a", "b", "c", "ka", "kb",
            "stack_read", "stack_scatter"}
_RESERVED_PATTERN = re.compile(r"(i|d|v|kp|z|n|st|seg|size|blocks|view|off|mm|out|copy_r|kernel)\d+.*"
                               r"|(sh|part|r|a|z|matmul|_rt|_tree|_sub)_.*|.*_(sh|st|s\d+)")


class CudaCodegen(CudaLibraryMixin, CodegenBase):
    """Turns a plan into module source. ``signatures`` maps each kernel to the argument kinds it is
    launched with (``("i",)`` int64, ``("f",)`` float64, ``("a", dtype)`` a flat C-contiguous array)."""

    BACKEND = "cuda"
    RESERVED = frozenset(RESERVED)
    RESERVED_PATTERN = _RESERVED_PATTERN

    def __init__(self, plan: KernelPlan, config: LaunchConfig = GPU, prefix: str = "", parent=None):
        # a child codegen (a sub-graph's driver function) shares the module's device code;
        # its kernel names carry ``prefix``
        super().__init__(plan, prefix)
        self.cfg = config
        self.w = _Writer(1)              # the driver body
        self.kernels: list = parent.kernels if parent else []   # source blocks of device code
        for x in self.program.inputs:  # an input no output needs is pruned from the nodes
            self.order.setdefault(x, len(self.order))
        self.strided: set = set()        # nodes held as strided views (``<ident>_st``), read only by matmuls
        self.deferred: set = set()       # matmuls computed transposed by their only reader
        self.helpers: set = parent.helpers if parent else set()
        self.library: dict = parent.library if parent else {}        # library kernel name -> source lines
        self.signatures: dict = parent.signatures if parent else {}  # kernel name -> signatures (kinds)
        self.functions: list = parent.functions if parent else []    # sub-graph driver functions (lines)
        self.module_names: dict = parent.module_names if parent else {}  # base name -> count
        self.subprograms: dict = {}      # id(SubGraph) -> its optimized program
        # subfunctions: id(SubGraph) -> (function name, constants, optimized program)
        self.host_ints: dict = {}        # node -> driver expression of its (int scalar) value on the host
        self.host_preds: dict = {}       # cond predicate node -> driver name of its value read back

    def sig(self, kernel: str, kinds: list):
        sigs = self.signatures.setdefault(kernel, [])
        if tuple(kinds) not in sigs:
            sigs.append(tuple(kinds))

    # --- run-time shapes -----------------------------------------------------------------------
    def _dim_read(self, array, axis) -> str:
        return f"{array}_sh[{axis}]"

    def _emit_bdim(self, name, a, b, parts):
        self.w(f"{name} = _host.bdim({a}, {b}, \"{self._describe(parts)}\")")

    def shape_of(self, node) -> str:
        """A driver expression for the run-time shape of ``node``."""
        if node.op in (VARIABLE, CONSTANT):
            return _tuple(str(d) for d in node.shape)
        if node.op is PLACEHOLDER or node not in self.plan.kernel_of:
            return f"{self.ident(node)}_sh"
        return self.shape_expr(self.sym[node])

    @staticmethod
    def size_of(shape: str) -> str:
        return f"_host.size({shape})"

    def alloc(self, node, size: str, dtype=None):
        """Update values get a fresh buffer per call (it becomes the Variable's); outputs one from
        ``_ws.out`` (fresh, or the last call's when the caller copies outputs to the host before
        the next call); intermediates live in the executable's workspace and are reused."""
        dt = np_type(dtype if dtype is not None else node.dtype)
        name = self.ident(node)
        if node in self.roots:
            if any(node is val for _, val in self.program.updates):
                self.w(f"{name} = _host.empty({size}, {dt})")
            else:
                self.w(f"{name} = _ws.out(\"{name}\", {size}, {dt})")
            self.fresh.add(node)
        else:
            self.w(f"{name} = _ws.empty(\"{name}\", {size}, {dt})")

    # --- whole module --------------------------------------------------------------------------
    def driver_lines(self, name: str) -> list:
        """The driver function ``name``: launches the kernels in plan order and returns
        ``([(buffer, shape)] of the outputs, [buffer] of the update values)``. Its parameters are
        ``self.args`` in order (an input as buffer and shape), then ``_ws`` and ``_prof``."""
        p = self.program
        self._collect_args(p.variables())
        self.w(f"# {len(self.plan.kernels)} loop kernel(s), "
               f"{len(self.plan.steps) - len(self.plan.kernels)} library step(s)")
        for step in self.plan.steps:
            if isinstance(step, LoopKernel):
                self.emit_loop_kernel(step)
            else:
                self.emit_library(step)
        self.emit_epilogue()
        params = []  # built last: sub-graphs add the constants they take (see cuda_control)
        for ident, node in self.args:
            params += [ident, f"{ident}_sh"] if node.op is PLACEHOLDER else [ident]
        return [f"def {name}({', '.join(params + ['_ws', '_prof=None'])}):",
                '    """Launches the kernels in plan order; returns ([(buffer, shape)] of the outputs, '
                '[buffer] of the update values)."""'] + self.w.lines

    def generate(self) -> str:
        p = self.program
        driver = self.driver_lines("entry")
        c = self.cfg
        head = [
            "# Generated by staticad (cuda backend). Do not edit: regenerated from the graph.",
            f"# function: {p.name}",
            "import math",
            "import numpy as np",
            "from numba import cuda",
            "from staticad.backends import cuda_backend as _host",
            "from staticad.registry import REGISTRY as _ops",
            "",
            f"THREADS = {c.threads}  # threads per block (a power of two: reduction trees halve it)",
            f"MAX_BLOCKS = {c.max_blocks}  # grid-stride loops cap the grid (and the block partials) here",
            f"TILE = {c.tile}  # matmul tiles: TILE x TILE threads, two TILE x TILE shared-memory tiles",
            f"TARGET = {c.target}  # threads a segmented reduction tries to keep busy",
            "",
            "",
            "def _grid(n):",
            "    return max(1, min((n + THREADS - 1) // THREADS, MAX_BLOCKS))",
        ]
        device = []
        if self.helpers:  # the scalar functions of ops (Op.scalar), compiled for the device
            device += [""] + [f"_rt_{name} = cuda.jit(device=True)(_ops[{name!r}].scalar)"
                              for name in sorted(self.helpers)]
        for lines in self.library.values():
            device += ["", ""] + lines
        for lines in self.kernels:
            device += ["", ""] + lines
        for lines in self.functions:
            device += ["", ""] + lines
        return "\n".join(head + device + ["", ""] + driver) + "\n"

    def tick(self, label: str, ops: str):
        self.w(f"if _prof is not None:")
        self.w(f"    _prof({label!r}, {ops!r})")

    # --- device helpers ---------------------------------------------------------------------
    def use_scalar(self, op) -> str:
        """The device function of ``op``'s scalar function (defined once per module)."""
        if op.scalar is None or REGISTRY.get(op.name) is not op:
            raise NotImplementedError(f"cuda backend: op {op.name!r} has no scalar function")
        self.helpers.add(op.name)
        return f"_rt_{op.name}"

    def use_tree(self, combine: str):
        name = f"_tree_{combine}"
        if name in self.library:
            return name
        if combine in COMBINE_OP:
            self.use_scalar(REGISTRY[COMBINE_OP[combine]])
        self.library[name] = [
            "@cuda.jit(device=True)",
            f"def {name}(sh, t, lane, width, x):",
            f"    # {combine} of x over the `width` threads t - lane ... t - lane + width - 1 (width a power",
            "    # of two); lane 0 gets the result. Every thread of the block must call it (barriers).",
            "    sh[t] = x",
            "    cuda.syncthreads()",
            "    w = width // 2",
            "    while w > 0:",
            "        if lane < w:",
            f"            sh[t] = {TREE_STEP[combine]}",
            "        cuda.syncthreads()",
            "        w //= 2",
            "    r = sh[t]",
            "    cuda.syncthreads()",
            "    return r",
        ]
        return name

    # --- loop kernels ----------------------------------------------------------------------------
    def _acc_init(self, s, dt) -> str:
        return f"{np_type(dt)}({self._identity_text(s, dt)})"

    def _accumulate(self, s, acc, x, dt) -> str:
        red = s.op.reduction
        x = f"{np_type(dt)}({x})"
        if red.squares:
            return f"{acc} = {acc} + {x} * {x}"
        if red.combine == "sum":
            return f"{acc} = {acc} + {x}"
        if red.combine == "prod":
            return f"{acc} = {acc} * {x}"
        return f"{acc} = {self.use_scalar(REGISTRY[COMBINE_OP[red.combine]])}({acc}, {x})"

    def _finish_value(self, s, acc) -> str:
        value = f"math.sqrt({acc})" if s.op.reduction.squares else acc
        return cast(value, s.dtype)

    def _member_expr(self, m, val) -> str:
        if m.op.scalar is not None:
            return f"{self.use_scalar(m.op)}({', '.join(val(i) for i in m.inputs)})"
        return member_template(m, val)

    @staticmethod
    def _reads(node) -> list:
        """The inputs whose values a member or sink reads inside the loop."""
        return [i for k, i in enumerate(node.inputs) if not shape_only(node, k)]

    def emit_loop_kernel(self, k: LoopKernel):
        w = self.w
        S = k.sym
        r = len(S)
        w("")
        names = ", ".join(self.ident(n) for n in k.members)
        sinks = ", ".join(self.ident(n) for n in k.sinks)
        w(f"# {self.prefix}{k.name}: loop over {self._sym_text(S)}" + (f"; fuses {names}" if names else "")
          + (f"; reduces into {sinks}" if sinks else ""))
        D = [self.dim(d) for d in S]
        size = self.fresh_name("size")
        w(f"{size} = {' * '.join(D) if D else '1'}")
        for m in k.stored:
            self.alloc(m, size)
        for s in k.sinks:
            self.alloc(s, self.size_of(self.shape_expr(self.sym[s])))
            if s.op.reduction.needs_elements:
                w(f"if {size} == 0:")
                w(f"    raise ValueError(\"zero-size array to reduction operation {s.op.name} "
                  f"({self.ident(s)}) which has no identity\")")
        # one launch per distinct accumulator shape; scalar reductions ride with the first
        scalar = [s for s in k.sinks if self._acc_sym(s, r) == ()]
        groups: dict = {}
        for s in k.sinks:
            acc = self._acc_sym(s, r)
            if acc != ():
                groups.setdefault(acc, []).append(s)
        launches = [(list(groups)[0] if groups else None, list(groups.values())[0] if groups else [], scalar,
                     k.stored)]
        for acc, group in list(groups.items())[1:]:
            launches.append((acc, group, [], []))
        for index, (acc, partial, zs, stored) in enumerate(launches):
            base = self.prefix + k.name
            kname = base if len(launches) == 1 else f"{base}_{'abcdefghijklmnopqrstuvwxyz'[index % 26]}{index // 26 or ''}"
            self.used.add(kname)
            self.emit_launch(k, kname, D, size, acc, partial, zs, stored)
        ops = ", ".join(n.op.name for n in k.members + k.sinks)
        self.tick(self.prefix + k.name, ops)

    def emit_launch(self, k, kname, D, size, acc, partial, scalar, stored):
        """One ``@cuda.jit`` kernel computing the members that ``stored``, ``partial`` and ``scalar``
        need; flat grid-stride loop when no partial reduction, segmented loop otherwise."""
        w = self.w
        r = len(D)
        sinks = partial + scalar
        needed = set(stored)
        for s in sinks:
            needed.add(s.inputs[0])
        members = []
        for m in reversed(k.members):
            if m in needed:
                members.append(m)
                needed.update(self._reads(m))
        members.reverse()
        member_set = set(members)
        reads = []
        for n in members + sinks:
            for i in self._reads(n):
                if i not in member_set and i not in reads:
                    reads.append(i)
        S = k.sym
        params, kinds, args = [], [], []
        segmented = acc is not None

        def param(name, kind, arg):
            params.append(name)
            kinds.append(kind)
            args.append(arg)

        if segmented:
            seg = self.fresh_name("seg")
            w(f"{seg} = _host.segments({self.shape_expr(acc)}, {_tuple(D)}, THREADS, TARGET, MAX_BLOCKS, "
              f"\"{kname}\")")
            for name in ("M", "R", "G"):
                param(name, ("i",), f"{seg}.{name}")
            for p in range(r):
                param(f"d{p}", ("i",), D[p])
            for p in range(r):
                param(f"kp{p}", ("i",), f"{seg}.kept[{p}]")
            blocks = f"{seg}.blocks"
        else:
            param("size", ("i",), size)
            blocks = self.fresh_name("blocks")
            w(f"{blocks} = _grid({size})")
        scalars, full, strided = {}, [], {}
        for o in reads:
            if o in self.inline:
                scalars[o] = literal(o.attrs["value"].item(), o.dtype)
                continue
            ident = self.ident(o)
            param(ident, ("a", o.dtype), ident)
            if o.static_size == 1:
                scalars[o] = f"r_{ident}"
            elif self.sym[o] == S:
                full.append(o)
            else:
                ro = len(self.sym[o])
                st = self.fresh_name("st")
                w(f"{st} = _host.bstrides({self.shape_of(o)}, {_tuple(D)}, \"{ident} in {kname}\")")
                for j in range(ro):
                    param(f"{ident}_s{j}", ("i",), f"{st}[{j}]")
                strided[o] = ro
        if not segmented and strided:
            for p in range(r):
                param(f"d{p}", ("i",), D[p])
        for m in stored:
            param(self.ident(m), ("a", m.dtype), self.ident(m))
        for s in partial:
            param(self.ident(s), ("a", s.dtype), self.ident(s))
        parts = {}
        for s in scalar:
            part = f"part_{self.ident(s)}"
            parts[s] = part
            w(f"{part} = _ws.empty(\"{part}\", MAX_BLOCKS, {np_type(self._acc_dtype(s))})")
            param(part, ("a", self._acc_dtype(s)), part)
        self.sig(kname, kinds)
        w(f"{kname}[{blocks}, THREADS]({', '.join(args)})")
        if scalar:
            fargs = [blocks] + [a for s in scalar for a in (parts[s], self.ident(s))]
            fkinds = [("i",)] + [kd for s in scalar for kd in (("a", self._acc_dtype(s)), ("a", s.dtype))]
            self.sig(f"{kname}_finish", fkinds)
            w(f"{kname}_finish[1, THREADS]({', '.join(fargs)})")
        # --- the kernel's source
        kw = _Writer(0)
        kw("@cuda.jit(cache=True)")
        kw(f"def {kname}({', '.join(params)}):")
        kw.indent = 1
        what = ", ".join(self.ident(m) for m in members) or "nothing"
        kw(f"# computes {what}" + (f"; stores {', '.join(self.ident(m) for m in stored)}" if stored else "")
           + (f"; reduces into {', '.join(self.ident(s) for s in sinks)}" if sinks else ""))
        kw("t = cuda.threadIdx.x")
        shared = {}
        for s in sinks:
            dt = self._acc_dtype(s)
            if dt not in shared:
                shared[dt] = f"sh_{dt.name}"
                kw(f"sh_{dt.name} = cuda.shared.array(THREADS, {np_type(dt)})")
        for o, name in scalars.items():
            if name.startswith("r_"):
                kw(f"{name} = {self.ident(o)}[0]")
        for s in scalar:
            dt = self._acc_dtype(s)
            kw(f"z_{self.ident(s)} = {self._acc_init(s, dt)}")
        body_args = dict(members=members, stored=stored, full=full, strided=strided, scalars=scalars, r=r)
        if segmented:
            kw("lane = t % G")
            kw("grp = t // G")
            kw("gpb = THREADS // G")
            kw("ob = cuda.blockIdx.x * gpb")
            kw("while ob < M:")
            kw.indent += 1
            kw("o = ob + grp")
            for s in partial:
                dt = self._acc_dtype(s)
                kw(f"a_{self.ident(s)} = {self._acc_init(s, dt)}")
            kw("if o < M:")
            kw.indent += 1
            kw("j = lane")
            kw("while j < R:")
            kw.indent += 1
            kw("remo = o")
            kw("remj = j")
            for p in range(r - 1, -1, -1):
                kw(f"if kp{p} == 1:")
                kw(f"    i{p} = remo % d{p}")
                kw(f"    remo //= d{p}")
                kw("else:")
                kw(f"    i{p} = remj % d{p}")
                kw(f"    remj //= d{p}")
            flat = "i0"
            for p in range(1, r):
                flat = f"({flat}) * d{p} + i{p}" if p > 1 else f"i0 * d1 + i1"
            kw(f"k = {flat}")
            accs = {s: f"a_{self.ident(s)}" for s in partial}
            accs.update({s: f"z_{self.ident(s)}" for s in scalar})
            self._emit_body(kw, sinks, accs, **body_args)
            kw("j += G")
            kw.indent -= 2
            for s in partial:
                a = f"a_{self.ident(s)}"
                self._emit_tree(kw, s, shared, a, "lane", "G", "lane == 0 and o < M",
                                lambda: f"{self.ident(s)}[o] = {self._finish_value(s, a)}")
            kw("ob += cuda.gridDim.x * gpb")
            kw.indent -= 1
        else:
            kw("k = cuda.grid(1)")
            kw("while k < size:")
            kw.indent += 1
            if strided and r > 1:
                kw("rem = k")
                for line in self._unravel([f"i{p}" for p in range(r)], [f"d{p}" for p in range(r)], "rem", 0):
                    kw(line)
            elif strided:
                kw("i0 = k")
            accs = {s: f"z_{self.ident(s)}" for s in scalar}
            self._emit_body(kw, sinks, accs, **body_args)
            kw("k += cuda.gridsize(1)")
            kw.indent -= 1
        for s in scalar:
            z = f"z_{self.ident(s)}"
            self._emit_tree(kw, s, shared, z, "t", "THREADS", "t == 0", lambda: f"{parts[s]}[cuda.blockIdx.x] = {z}")
        self.kernels.append(kw.lines)
        if scalar:
            self._emit_finisher(kname, scalar, parts)

    def _emit_tree(self, kw, s, shared, acc, lane, width, guard, store):
        """Combines accumulator ``acc`` of sink ``s`` over ``width`` threads with the block's tree;
        the thread where ``guard`` holds writes ``store()`` (a statement)."""
        tree = self.use_tree(s.op.reduction.combine)
        kw(f"{acc} = {tree}({shared[self._acc_dtype(s)]}, t, {lane}, {width}, {acc})")
        kw(f"if {guard}:")
        kw(f"    {store()}")

    def _emit_body(self, kw, sinks, accs, members, stored, full, strided, scalars, r):
        member_set = set(members)
        loaded = {}
        for o in full:
            loaded[o] = f"r_{self.ident(o)}"
            kw(f"r_{self.ident(o)} = {self.ident(o)}[k]")
        for o, ro in strided.items():
            ident = self.ident(o)
            offset = " + ".join(f"i{j + r - ro} * {ident}_s{j}" for j in range(ro)) or "0"
            loaded[o] = f"r_{ident}"
            kw(f"r_{ident} = {ident}[{offset}]")

        def val(i):
            if i in member_set:
                return f"v{self.order[i]}"
            if i in scalars:
                return scalars[i]
            return loaded[i]

        for m in members:
            expr = self._member_expr(m, val)
            kw(f"v{self.order[m]} = {expr if m.dtype.kind == 'b' else cast(expr, m.dtype)}")
            if m in stored:
                kw(f"{self.ident(m)}[k] = v{self.order[m]}")
        for s in sinks:
            kw(self._accumulate(s, accs[s], val(s.inputs[0]), self._acc_dtype(s)))

    def _emit_finisher(self, kname, scalar, parts):
        kw = _Writer(0)
        params = ["nparts"] + [a for s in scalar for a in (parts[s], self.ident(s))]
        kw("@cuda.jit(cache=True)")
        kw(f"def {kname}_finish({', '.join(params)}):")
        kw.indent = 1
        kw(f"# second pass of {kname}: one block combines the block partials (fixed order: deterministic)")
        kw("t = cuda.threadIdx.x")
        declared = set()
        for s in scalar:
            dt = self._acc_dtype(s)
            if dt not in declared:
                declared.add(dt)
                kw(f"sh_{dt.name} = cuda.shared.array(THREADS, {np_type(dt)})")
        for s in scalar:
            dt = self._acc_dtype(s)
            z = f"z_{self.ident(s)}"
            step = {"sum": f"{z} + {parts[s]}[q]", "prod": f"{z} * {parts[s]}[q]",
                    "max": f"_rt_maximum({z}, {parts[s]}[q])",
                    "min": f"_rt_minimum({z}, {parts[s]}[q])"}[s.op.reduction.combine]
            kw(f"{z} = {self._acc_init(s, dt)}")
            kw("q = t")
            kw("while q < nparts:")
            kw(f"    {z} = {step}")
            kw("    q += THREADS")
            kw(f"{z} = {self.use_tree(s.op.reduction.combine)}(sh_{dt.name}, t, t, THREADS, {z})")
            kw("if t == 0:")
            kw(f"    {self.ident(s)}[0] = {self._finish_value(s, z)}")
        self.kernels.append(kw.lines)

    # --- library steps -----------------------------------------------------------------------------
    def emit_control(self, node):
        from .cuda_control import emit_control
        emit_control(self, node)

    def _library_done(self, node, out):
        self.tick(out, node.op.name)

    # --- outputs and updates --------------------------------------------------------------------------
    def emit_epilogue(self):
        w = self.w
        p = self.program
        w("")
        w("# outputs: buffers this call allocated; anything else (inputs, Variables, views) is copied")
        nodes = p.outputs + [val for _, val in p.updates]
        outs = list(zip(nodes, self._fresh_outputs(nodes, lambda o, name: f"_host.dcopy({name})")))
        for (var, val), (_, name) in zip(p.updates, outs[len(p.outputs):]):
            w(f"_host.check_update({self.shape_of(val)}, {tuple(var.shape)!r}, \"{var.name}\")")
        ret = ", ".join(f"({name}, {self.shape_of(o)})" for o, name in outs[:len(p.outputs)])
        upd = ", ".join(name for _, name in outs[len(p.outputs):])
        w(f"return [{ret}], [{upd}]")


def generate(plan: KernelPlan, config: LaunchConfig = GPU):
    """``(source, args, signatures)``: the module text, the driver's array parameters ``[(ident,
    node)]`` (inputs, then Variables, then constants) and each kernel's argument kinds."""
    cg = CudaCodegen(plan, config)
    src = cg.generate()
    return src, cg.args, cg.signatures

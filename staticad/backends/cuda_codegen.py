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

import keyword
import re
from dataclasses import dataclass

import numpy as np

from ..graph import CONSTANT, PLACEHOLDER, VARIABLE
from ..ops import reduce as _rd, shape as _sh
from ..ops.linalg import MATMUL
from ..registry import REGISTRY
from ..ops.shape import index_of
from ..passes.fuse import KernelPlan, LoopKernel, shape_only
from ..passes.symshape import is_symbol
from .numba_codegen import literal, member_template


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
RESERVED = {"np", "math", "cuda", "_host", "_ops", "entry", "THREADS", "MAX_BLOCKS", "TILE", "TARGET", "_grid", "fill",
            "k", "t", "o", "j", "q", "w", "n", "M", "R", "G", "lane", "grp", "gpb", "ob", "rem", "remo", "remj",
            "size", "blocks", "seg", "v", "mm", "sh", "tx", "ty", "z", "z0", "z1", "z2", "row", "col", "acc",
            "nparts", "off", "_ws", "_prof", "value", "src", "dst", "sb", "db", "a", "b", "c", "ka", "kb",
            "stack_read", "stack_scatter"}
_RESERVED_PATTERN = re.compile(r"(i|d|v|kp|z|n|st|seg|size|blocks|view|off|mm|out|copy_r|kernel)\d+.*"
                               r"|(sh|part|r|a|z|matmul|_rt|_tree|_sub)_.*|.*_(sh|st|s\d+)")


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def np_type(dtype) -> str:
    return f"np.{np.dtype(dtype).name}"


def cast(expr: str, dtype) -> str:
    dt = np.dtype(dtype)
    return f"({expr} != 0)" if dt.kind == "b" else f"{np_type(dt)}({expr})"


class _Writer:
    def __init__(self, indent=0):
        self.lines: list = []
        self.indent = indent

    def __call__(self, line: str = ""):
        self.lines.append("    " * self.indent + line if line else "")


class CudaCodegen:
    """Turns a plan into module source. ``signatures`` maps each kernel to the argument kinds it is
    launched with (``("i",)`` int64, ``("f",)`` float64, ``("a", dtype)`` a flat C-contiguous array)."""

    def __init__(self, plan: KernelPlan, config: LaunchConfig = GPU, prefix: str = "", parent=None):
        self.plan = plan
        # a child codegen (a sub-graph's driver function) shares the module's device code;
        # its kernel names carry ``prefix``
        self.prefix = prefix
        self.program = plan.program
        self.sym = plan.sym
        self.cfg = config
        self.w = _Writer(1)              # the driver body
        self.kernels: list = parent.kernels if parent else []   # source blocks of device code
        self.idents: dict = {}
        self.used = set(RESERVED)
        self.dims: dict = {}
        self.node_by_id = {n.id: n for n in self.program.nodes}
        self.order = {n: i for i, n in enumerate(self.program.nodes)}
        for x in self.program.inputs:  # an input no output needs is pruned from the nodes
            self.order.setdefault(x, len(self.order))
        self.roots = set(self.program.roots)
        self.args: list = []             # (ident, node) of the driver's array parameters, in order
        self.inline: set = set()
        self.fresh: set = set()          # nodes whose buffer this call allocated and nobody else holds
        self.strided: set = set()        # nodes held as strided views (``<ident>_st``), read only by matmuls
        self.deferred: set = set()       # matmuls computed transposed by their only reader
        self.helpers: set = parent.helpers if parent else set()
        self.library: dict = parent.library if parent else {}        # library kernel name -> source lines
        self.signatures: dict = parent.signatures if parent else {}  # kernel name -> signatures (kinds)
        self.functions: list = parent.functions if parent else []    # sub-graph driver functions (lines)
        self.module_names: dict = parent.module_names if parent else {}  # base name -> count
        self.subprograms: dict = {}      # id(SubGraph) -> its optimized program
        self.subfunctions: dict = {}     # id(SubGraph) -> (function name, constants, optimized program)
        self.host_ints: dict = {}        # node -> driver expression of its (int scalar) value on the host
        self.host_preds: dict = {}       # cond predicate node -> driver name of its value read back
        self.users: dict = {}
        for n in self.program.nodes:
            for k, i in enumerate(n.inputs):
                self.users.setdefault(i, []).append((n, k))
        self._uid = 0

    # --- naming --------------------------------------------------------------------------------
    def ident(self, node) -> str:
        if node in self.idents:
            return self.idents[node]
        if node not in self.order:  # a constant a sub-graph's driver function takes from this one
            self.order[node] = len(self.order)
        name = node.name
        if node.op not in (PLACEHOLDER, VARIABLE) or re.fullmatch(r"(placeholder|Variable)_\d+", name):
            name = f"{'Variable' if node.op is VARIABLE else node.op.name}_{self.order[node]}"
        base = re.sub(r"\W", "_", name)
        if not base or base[0].isdigit() or keyword.iskeyword(base) or _RESERVED_PATTERN.fullmatch(base):
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

    def sig(self, kernel: str, kinds: list):
        sigs = self.signatures.setdefault(kernel, [])
        if tuple(kinds) not in sigs:
            sigs.append(tuple(kinds))

    # --- run-time shapes -----------------------------------------------------------------------
    def dim(self, d) -> str:
        if not is_symbol(d):
            return str(d)
        if d in self.dims:
            return self.dims[d]
        if d[0] in ("in", "node"):
            node = self.node_by_id[d[1]]
            name = self.fresh_name(f"n_{self.ident(node)}_")
            self.w(f"{name} = {self.ident(node)}_sh[{d[2]}]")
        else:  # broadcast of several symbols
            parts = sorted(d[1], key=self._symbol_order)
            name = self.dim(parts[0])
            for q in parts[1:]:
                nxt = self.fresh_name("n_bc")
                self.w(f"{nxt} = _host.bdim({name}, {self.dim(q)}, \"{self._describe(parts)}\")")
                name = nxt
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
        """Outputs and update values get a fresh buffer per call; intermediates live in the
        executable's workspace and are reused by the next call."""
        dt = np_type(dtype if dtype is not None else node.dtype)
        name = self.ident(node)
        if node in self.roots:
            self.w(f"{name} = _host.empty({size}, {dt})")
            self.fresh.add(node)
        else:
            self.w(f"{name} = _ws.empty(\"{name}\", {size}, {dt})")

    # --- whole module --------------------------------------------------------------------------
    def driver_lines(self, name: str) -> list:
        """The driver function ``name``: launches the kernels in plan order and returns
        ``([(buffer, shape)] of the outputs, [buffer] of the update values)``. Its parameters are
        ``self.args`` in order (an input as buffer and shape), then ``_ws`` and ``_prof``."""
        p = self.program
        for x in p.inputs:
            self.args.append((self.ident(x), x))
        for v in p.variables():
            self.args.append((self.ident(v), v))
        for node in p.nodes:
            if node.op is CONSTANT:
                if node.static_size == 1 and self._only_in_loops(node):
                    self.inline.add(node)
                else:
                    self.args.append((self.ident(node), node))
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

    def _only_in_loops(self, node) -> bool:
        for user, k in self.users.get(node, ()):
            if not (user in self.plan.kernel_of or shape_only(user, k)):
                return False
        return node not in self.roots

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

    def use_copy(self, rank: int) -> str:
        name = f"copy_r{rank}"
        if name not in self.library:
            ii = [f"i{p}" for p in range(rank)]
            lines = ["@cuda.jit(cache=True)",
                     f"def {name}(n, src, sb, {', '.join(f'ss{p}' for p in range(rank))}, dst, db, "
                     f"{', '.join(f'ds{p}' for p in range(rank))}, {', '.join(f'd{p}' for p in range(rank))}):",
                     f"    # dst[db + i . ds] = src[sb + i . ss] for every index i of a rank-{rank} box of dims d",
                     "    k = cuda.grid(1)",
                     "    while k < n:",
                     "        rem = k"]
            lines += self._unravel(ii, [f"d{p}" for p in range(rank)], "rem", 2)
            src = " + ".join(["sb"] + [f"{i} * ss{p}" for p, i in enumerate(ii)])
            dst = " + ".join(["db"] + [f"{i} * ds{p}" for p, i in enumerate(ii)])
            lines += [f"        dst[{dst}] = src[{src}]", "        k += cuda.gridsize(1)"]
            self.library[name] = lines
        return name

    @staticmethod
    def _unravel(ii, dd, rem, indent) -> list:
        pad = "    " * indent
        out = []
        for p in range(len(ii) - 1, 0, -1):
            out += [f"{pad}{ii[p]} = {rem} % {dd[p]}", f"{pad}{rem} //= {dd[p]}"]
        out.append(f"{pad}{ii[0]} = {rem}")
        return out

    def use_fill(self):
        if "fill" not in self.library:
            self.library["fill"] = [
                "@cuda.jit(cache=True)",
                "def fill(n, dst, value):",
                "    k = cuda.grid(1)",
                "    while k < n:",
                "        dst[k] = value",
                "        k += cuda.gridsize(1)",
            ]
        return "fill"

    def emit_copy(self, n: str, src: str, src_base: str, src_st: str, dst: str, dst_base: str, dst_st: str,
                  dims: str, rank: int, src_dt, dst_dt):
        name = self.use_copy(rank)
        self.sig(name, [("i",), ("a", src_dt), ("i",)] + [("i",)] * rank + [("a", dst_dt), ("i",)]
                 + [("i",)] * (2 * rank))
        self.w(f"{name}[_grid({n}), THREADS]({n}, {src}, {src_base}, *{src_st}, {dst}, {dst_base}, *{dst_st}, "
               f"*{dims})")

    def emit_fill(self, n: str, dst: str, dtype, value: str):
        name = self.use_fill()
        kind = ("f",) if np.dtype(dtype).kind == "f" else ("i",)
        self.sig(name, [("i",), ("a", dtype), kind])
        self.w(f"{name}[_grid({n}), THREADS]({n}, {dst}, {value})")

    # --- loop kernels ----------------------------------------------------------------------------
    def _acc_sym(self, s, r):
        """The accumulator's symbolic shape aligned to the iteration rank ``r``; () when the
        reduction is over every axis (statically)."""
        over = s.op.reduction.over
        x_sym = self.sym[s.inputs[0]]
        if over == "all":
            return ()
        if over == "like":
            acc = self.sym[s.inputs[1]]
            acc = (1,) * (r - len(acc)) + tuple(acc)
        else:
            axes = s.attrs["axes"]
            acc = tuple(1 if i in axes else d for i, d in enumerate(x_sym))
        return () if all(d == 1 for d in acc) else acc

    @staticmethod
    def _acc_dtype(s) -> np.dtype:
        return s.op.reduction.acc_dtype(s.inputs[0].dtype)

    @staticmethod
    def _acc_init(s, dt) -> str:
        v = s.op.reduction.identity(dt)
        if isinstance(v, float) and np.isinf(v):
            return f"{np_type(dt)}({'math.inf' if v > 0 else '-math.inf'})"
        return f"{np_type(dt)}({v})"

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

    def _sym_text(self, S) -> str:
        return _tuple(str(d) if not is_symbol(d) else self.dim(d) for d in S)

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
                dt = self._acc_dtype(s)
                tree = self.use_tree(s.op.reduction.combine)
                a = f"a_{self.ident(s)}"
                kw(f"{a} = {tree}({shared[dt]}, t, lane, G, {a})")
                kw("if lane == 0 and o < M:")
                kw(f"    {self.ident(s)}[o] = {self._finish_value(s, a)}")
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
            dt = self._acc_dtype(s)
            tree = self.use_tree(s.op.reduction.combine)
            z = f"z_{self.ident(s)}"
            kw(f"{z} = {tree}({shared[dt]}, t, t, THREADS, {z})")
            kw("if t == 0:")
            kw(f"    {parts[s]}[cuda.blockIdx.x] = {z}")
        self.kernels.append(kw.lines)
        if scalar:
            self._emit_finisher(kname, scalar, parts)

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
    def emit_library(self, node):
        out = self.ident(node)
        self.w("")
        self.w(f"# {out}: {node.op.name}")
        lower = LIBRARY.get(node.op)
        if lower is not None:
            if lower(self, node, out, [self.ident(i) for i in node.inputs]) is False:
                return  # nothing runs for it here: no profile tick
        elif node.op.control:
            from .cuda_control import emit_control
            emit_control(self, node)
        else:
            raise NotImplementedError(f"cuda backend: no code for op {node.op.name!r} ({out})")
        self.tick(out, node.op.name)

    def _lib_matmul(self, node, out, ins):
        if self._transposed_product(node) is not None:
            self.w(f"# computed transposed, by {self.ident(self._transposed_product(node))}")
            return False
        self._emit_matmul(node)

    def _lib_transpose(self, node, out, ins):
        w = self.w
        if node.inputs[0] in self.deferred:
            self._emit_matmul(node.inputs[0], into=node)
            return
        axes = node.attrs["axes"]
        src = self.shape_of(node.inputs[0])
        v = self.fresh_name("view")
        w(f"{v} = _host.permuted({src}, {axes!r})")
        w(f"{out}_sh = {v}.shape")
        if node not in self.roots and self.users.get(node) and all(
                u.op is MATMUL for u, _ in self.users[node]) and node.inputs[0] not in self.strided:
            w(f"{out}_st = {v}.strides  # a strided view: the matmul reads it in place, no copy")
            w(f"{out} = {ins[0]}")
            self.strided.add(node)
            return False
        self.alloc(node, f"{v}.size")
        self.emit_copy(f"{v}.size", ins[0], "0", f"{v}.strides", out, "0", f"{v}.cstrides", f"{v}.dims",
                       max(1, node.ndim), node.inputs[0].dtype, node.dtype)

    def _lib_reshape(self, node, out, ins):
        a = node.attrs
        src = self.shape_of(node.inputs[0])
        if node.op is _sh.RESHAPE:
            shape = f"_host.reshape_shape({src}, {a['shape']!r}, \"{out}\")"
        elif node.op is _sh.RESHAPE_LIKE:
            shape = f"_host.reshape_shape({src}, {self.shape_of(node.inputs[1])}, \"{out}\")"
        elif node.op is _sh.EXPAND_DIMS:
            shape = f"_host.expand_shape({src}, {a['axes']!r})"
        else:
            shape = f"_host.squeeze_shape({src}, {a['axes']!r}, \"{out}\")"
        self.w(f"{out}_sh = {shape}")
        self.w(f"{out} = {ins[0]}  # same buffer, new shape")

    def _lib_getitem(self, node, out, ins):
        w = self.w
        v = self.fresh_name("view")
        w(f"{v} = _host.getitem_view({self.shape_of(node.inputs[0])}, {self._index_text(node)}, \"{out}\")")
        w(f"{out}_sh = {v}.shape")
        self.alloc(node, f"{v}.size")
        self.emit_copy(f"{v}.size", ins[0], f"{v}.base", f"{v}.strides", out, "0", f"{v}.cstrides",
                       f"{v}.dims", max(1, node.ndim), node.inputs[0].dtype, node.dtype)

    def _lib_getitem_grad(self, node, out, ins):
        w = self.w
        g = node.inputs[0]
        w(f"{out}_sh = {self.shape_of(node.inputs[1])}")
        self.alloc(node, f"_host.size({out}_sh)")
        self.emit_fill(f"_host.size({out}_sh)", out, node.dtype, "0" if node.dtype.kind != "f" else "0.0")
        v = self.fresh_name("view")
        w(f"{v} = _host.getitem_view({out}_sh, {self._index_text(node)}, \"{out}\")")
        self.emit_copy(f"{v}.size", ins[0], "0", f"_host.aligned_strides({self.shape_of(g)}, {v}.dims, \"{out}\")",
                       out, f"{v}.base", f"{v}.strides", f"{v}.dims", max(1, g.ndim), g.dtype, node.dtype)

    def _lib_concatenate(self, node, out, ins):
        w = self.w
        ax = node.attrs["axis"]
        shapes = [self.shape_of(i) for i in node.inputs]
        w(f"{out}_sh = _host.concat_shape({_tuple(shapes)}, {ax}, \"{out}\")")
        self.alloc(node, f"_host.size({out}_sh)")
        off = self.fresh_name("off")
        w(f"{off} = 0")
        for i, shape in zip(node.inputs, shapes):
            v = self.fresh_name("view")
            w(f"{v} = _host.slot({out}_sh, {ax}, {off}, {shape})")
            self.emit_copy(f"{v}.size", self.ident(i), "0", f"{v}.cstrides", out, f"{v}.base", f"{v}.strides",
                           f"{v}.dims", max(1, node.ndim), i.dtype, node.dtype)
            w(f"{off} += {shape}[{ax}]")

    def _lib_concat_part(self, node, out, ins):
        w = self.w
        a = node.attrs
        ax = a["axis"]
        refs = node.inputs[1:]
        start = " + ".join(f"{self.shape_of(r)}[{ax}]" for r in refs[:a["index"]]) or "0"
        v = self.fresh_name("view")
        w(f"{v} = _host.slot({self.shape_of(node.inputs[0])}, {ax}, {start}, {self.shape_of(refs[a['index']])})")
        w(f"{out}_sh = {v}.shape")
        self.alloc(node, f"{v}.size")
        self.emit_copy(f"{v}.size", ins[0], f"{v}.base", f"{v}.strides", out, "0", f"{v}.cstrides", f"{v}.dims",
                       max(1, node.ndim), node.inputs[0].dtype, node.dtype)

    def _lib_count(self, node, out, ins):
        self.w(f"{out}_sh = ()")
        self.alloc(node, "1")
        value = f"_host.count({self.shape_of(node.inputs[0])}, {node.attrs['axes']!r})"
        self.emit_fill("1", out, node.dtype, f"float({value})" if node.dtype.kind == "f" else value)

    def _index_text(self, node) -> str:
        return _tuple(repr(it) for it in index_of(node))

    def strides_of(self, node) -> str:
        if node in self.strided:
            return f"{self.ident(node)}_st"
        return f"_host.cstrides({self.shape_of(node)})"

    def use_matmul(self, dtype) -> str:
        dt = np.dtype(dtype)
        name = f"matmul_{dt.name}"
        if name in self.library:
            return name
        acc_dt = dt if dt.kind == "f" else np.dtype("int64")
        store = "acc" if dt.kind != "b" else "acc != 0"
        self.library[name] = [
            "@cuda.jit(cache=True)",
            f"def {name}(M, N, K, nb, a, a_rs, a_cs, b, b_rs, b_cs, c, bd1, bd2, a_b0, a_b1, a_b2, b_b0, b_b1, b_b2):",
            "    # c[z] = a[z] @ b[z] (M x K times K x N) for batch z = blockIdx.z; each block computes a",
            "    # TILE x TILE tile of c, staging TILE x TILE tiles of a and b in shared memory. Operands are",
            "    # read through strides (rows, columns, up to 3 batch dims; 0 on broadcast batch dims).",
            f"    sa = cuda.shared.array((TILE, TILE), {np_type(acc_dt)})",
            f"    sb = cuda.shared.array((TILE, TILE), {np_type(acc_dt)})",
            "    tx = cuda.threadIdx.x",
            "    ty = cuda.threadIdx.y",
            "    z = cuda.blockIdx.z",
            "    z2 = z % bd2",
            "    z1 = (z // bd2) % bd1",
            "    z0 = z // (bd2 * bd1)",
            "    a0 = z0 * a_b0 + z1 * a_b1 + z2 * a_b2",
            "    b0 = z0 * b_b0 + z1 * b_b1 + z2 * b_b2",
            "    row = cuda.blockIdx.y * TILE + ty",
            "    col = cuda.blockIdx.x * TILE + tx",
            f"    acc = {np_type(acc_dt)}(0)",
            "    for t0 in range(0, K, TILE):",
            "        ka = t0 + tx",
            "        if row < M and ka < K and z < nb:",
            "            sa[ty, tx] = a[a0 + row * a_rs + ka * a_cs]",
            "        else:",
            "            sa[ty, tx] = 0",
            "        kb = t0 + ty",
            "        if kb < K and col < N and z < nb:",
            "            sb[ty, tx] = b[b0 + kb * b_rs + col * b_cs]",
            "        else:",
            "            sb[ty, tx] = 0",
            "        cuda.syncthreads()",
            "        for q in range(TILE):",
            "            acc += sa[ty, q] * sb[q, tx]",
            "        cuda.syncthreads()",
            "    if row < M and col < N and z < nb:",
            f"        c[(z * M + row) * N + col] = {store}",
        ]
        return name

    def _transposed_product(self, node):
        """The transpose that is the only reader of matmul ``node`` and swaps its last two axes:
        ``(a @ b).T`` is computed as ``b.T @ a.T`` straight into that transpose's buffer."""
        users = self.users.get(node, ())
        if node in self.roots or len(users) != 1 or node.ndim < 2 or min(i.ndim for i in node.inputs) < 2:
            return None
        t = users[0][0]
        n = node.ndim
        if t.op is not _sh.TRANSPOSE or t.attrs["axes"] != tuple(range(n - 2)) + (n - 1, n - 2):
            return None
        self.deferred.add(node)
        return t

    def _emit_matmul(self, node, into=None):
        """``node = a @ b`` with the tiled kernel; with ``into`` (a transpose of ``node``), that
        transpose is computed instead, as ``b.T @ a.T`` (swapped operands, swapped strides)."""
        w = self.w
        a, b = node.inputs
        target = into if into is not None else node
        out = self.ident(target)
        kernel = self.use_matmul(node.dtype)
        mm = self.fresh_name("mm")
        w(f"{mm} = _host.matmul_plan({self.shape_of(a)}, {self.strides_of(a)}, {self.shape_of(b)}, "
          f"{self.strides_of(b)}, TILE, \"{self.ident(node)}\"{', transposed=True' if into is not None else ''})")
        w(f"{out}_sh = {mm}.shape")
        self.alloc(target, f"{mm}.size")
        if into is not None:
            a, b = b, a
        self.sig(kernel, [("i",)] * 4 + [("a", a.dtype)] + [("i",)] * 2 + [("a", b.dtype)] + [("i",)] * 2
                 + [("a", node.dtype)] + [("i",)] * 8)
        w(f"{kernel}[{mm}.grid, (TILE, TILE)]({mm}.M, {mm}.N, {mm}.K, {mm}.nb, {self.ident(a)}, {mm}.a_rs, "
          f"{mm}.a_cs, {self.ident(b)}, {mm}.b_rs, {mm}.b_cs, {out}, {mm}.bd1, {mm}.bd2, *{mm}.a_bst, *{mm}.b_bst)")

    # --- outputs and updates --------------------------------------------------------------------------
    def emit_epilogue(self):
        w = self.w
        p = self.program
        w("")
        w("# outputs: buffers this call allocated; anything else (inputs, Variables, views) is copied")
        outs, seen = [], set()
        for o in p.outputs + [val for _, val in p.updates]:
            name = self.ident(o)
            if o not in self.fresh or o in seen:
                copy = self.fresh_name("out")
                w(f"{copy} = _host.dcopy({name})")
                name = copy
            seen.add(o)
            outs.append((o, name))
        for (var, val), (_, name) in zip(p.updates, outs[len(p.outputs):]):
            w(f"_host.check_update({self.shape_of(val)}, {tuple(var.shape)!r}, \"{var.name}\")")
        ret = ", ".join(f"({name}, {self.shape_of(o)})" for o, name in outs[:len(p.outputs)])
        upd = ", ".join(name for _, name in outs[len(p.outputs):])
        w(f"return [{ret}], [{upd}]")


# library steps: the lowering of each op (control ops: cuda_control)
LIBRARY = {
    MATMUL: CudaCodegen._lib_matmul, _sh.TRANSPOSE: CudaCodegen._lib_transpose,
    _sh.RESHAPE: CudaCodegen._lib_reshape, _sh.RESHAPE_LIKE: CudaCodegen._lib_reshape,
    _sh.EXPAND_DIMS: CudaCodegen._lib_reshape, _sh.SQUEEZE: CudaCodegen._lib_reshape,
    _sh.GETITEM: CudaCodegen._lib_getitem, _sh.GETITEM_GRAD: CudaCodegen._lib_getitem_grad,
    _sh.CONCATENATE: CudaCodegen._lib_concatenate, _sh.CONCAT_PART: CudaCodegen._lib_concat_part,
    _rd.COUNT: CudaCodegen._lib_count,
}


def generate(plan: KernelPlan, config: LaunchConfig = GPU):
    """``(source, args, signatures)``: the module text, the driver's array parameters ``[(ident,
    node)]`` (inputs, then Variables, then constants) and each kernel's argument kinds."""
    cg = CudaCodegen(plan, config)
    src = cg.generate()
    return src, cg.args, cg.signatures

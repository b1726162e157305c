"""What the Numba (CPU) and CUDA code generators share: :class:`CodegenBase`.

Both turn a :class:`~staticad.passes.fuse.KernelPlan` into Python source. They name nodes the
same way, read run-time dims the same way (only the text of one dim read differs: ``x.shape[0]``
on the CPU, ``x_sh[0]`` in the CUDA driver), know the same facts about reduction accumulators and
dispatch library steps through one table, :data:`LIBRARY` (op -> name of the ``_lib_*`` method
each backend supplies). The subclasses (:class:`~.numba_codegen.NumbaCodegen`,
:class:`~.cuda_codegen.CudaCodegen`) write loops, launches and the entry point or driver.
"""
from __future__ import annotations

import keyword
import math
import re

import numpy as np

from ..graph import CONSTANT, PLACEHOLDER, VARIABLE
from ..ops import elementwise as _ew, reduce as _rd, shape as _sh
from ..ops.linalg import GEMM_UPDATE, MATMUL
from ..passes.fuse import KernelPlan, shape_only
from ..passes.symshape import is_symbol


def literal(value, dtype) -> str:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return "True" if value else "False"
    if dt.kind == "f":
        v = float(value)
        if math.isnan(v):
            text = "math.nan"
        elif math.isinf(v):
            text = "math.inf" if v > 0 else "-math.inf"
        else:
            text = repr(v)
        return f"np.{dt.name}({text})"
    return f"np.{dt.name}({int(value)})"


def member_template(m, val) -> str:
    """A loop member's ``Op.expr`` filled in: ``{k}`` the value of input k (``val(input)``; inputs
    read for their shape only are never loaded), ``{value}`` the literal of ``attrs["value"]``."""
    if m.op is _ew.ASTYPE and m.dtype.kind == "b":  # a cast to bool is a comparison with zero
        return f"({val(m.inputs[0])} != 0)"
    args = ["" if shape_only(m, k) else val(i) for k, i in enumerate(m.inputs)]
    value = literal(m.attrs["value"], m.dtype) if "value" in m.attrs else None
    return m.op.expr.format(*args, value=value)


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


class _Writer:
    """Lines of source at an indent; ``only`` prefixes each line (the numba backend's markers of
    lines that only one entry-point variant has)."""

    def __init__(self, indent=1):
        self.lines: list[str] = []
        self.indent = indent
        self.only = ""

    def __call__(self, line: str = ""):
        self.lines.append(self.only + ("    " * self.indent + line if line else ""))


class CodegenBase:
    """Naming, run-time dims, accumulator facts and the library-step dispatch of a code generator."""

    BACKEND = "?"                 # the backend's name, in error messages
    RESERVED: frozenset = frozenset()   # names the generated module uses itself
    RESERVED_PATTERN = None       # a regex of more such names (an ident matching it gets ``t_``)
    NO_LOWERING = "{backend} backend: no code for op {op!r} ({out})"

    def __init__(self, plan: KernelPlan, prefix: str = ""):
        self.plan = plan
        # sub-graphs of control nodes become functions of the same module; their kernel names
        # carry a prefix
        self.prefix = prefix
        self.program = plan.program
        self.sym = plan.sym
        self.idents: dict = {}
        self.used: set = set(self.RESERVED)
        self.dims: dict = {}
        self.node_by_id = {n.id: n for n in self.program.nodes}
        self.order = {n: i for i, n in enumerate(self.program.nodes)}
        self.roots = set(self.program.roots)
        self.args: list = []     # (ident, node) of the entry point's / driver's array parameters, in order
        self.inline: set = set()  # scalar constants written into the loops as literals
        self.fresh: set = set()   # nodes whose buffer this call allocated and nobody else holds
        self.subfunctions: dict = {}  # id(SubGraph) -> its function (see the *_control modules)
        self.users: dict = {}
        for n in self.program.nodes:
            for k, i in enumerate(n.inputs):
                self.users.setdefault(i, []).append((n, k))
        self._uid = 0

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
        if (not base or base[0].isdigit() or keyword.iskeyword(base)
                or (self.RESERVED_PATTERN is not None and self.RESERVED_PATTERN.fullmatch(base))):
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
        if d[0] in ("in", "node"):
            node = self.node_by_id[d[1]]
            name = self.fresh_name(f"n_{self.ident(node)}_")
            self.w(f"{name} = {self._dim_read(self.ident(node), d[2])}")
        else:  # broadcast of several symbols
            parts = sorted(d[1], key=self._symbol_order)
            name = self.dim(parts[0])
            for q in parts[1:]:
                nxt = self.fresh_name("n_bc")
                self._emit_bdim(nxt, name, self.dim(q), parts)
                name = nxt
        self.dims[d] = name
        return name

    def _dim_read(self, array: str, axis: int) -> str:
        """The text reading dim ``axis`` of the array named ``array`` at run time."""
        raise NotImplementedError

    def _emit_bdim(self, name: str, a: str, b: str, parts):
        """Writes ``name = `` the broadcast of dims ``a`` and ``b`` (symbols ``parts``), checked."""
        raise NotImplementedError

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

    def _sym_text(self, S) -> str:
        return _tuple(str(d) if not is_symbol(d) else self.dim(d) for d in S)

    # --- parameters -----------------------------------------------------------------------------
    def _collect_args(self, variables):
        """``self.args``: the inputs, then ``variables``, then the constants that are not written
        into the loops as literals (scalars only loops read)."""
        p = self.program
        for x in p.inputs:
            self.args.append((self.ident(x), x))
        for v in variables:
            self.args.append((self.ident(v), v))
        for node in p.nodes:
            if node.op is CONSTANT:
                if node.static_size == 1 and self._only_in_loops(node):
                    self.inline.add(node)
                else:
                    self.args.append((self.ident(node), node))

    def _only_in_loops(self, node) -> bool:
        for user, k in self.users.get(node, ()):
            if not (user in self.plan.kernel_of or shape_only(user, k)):
                return False
        return node not in self.roots

    # --- reductions ---------------------------------------------------------------------------
    def _acc_sym(self, s, r=None):
        """The accumulator's symbolic shape (aligned to the iteration rank ``r`` when given); ()
        when the reduction is over every axis (statically)."""
        over = s.op.reduction.over
        if over == "all":
            return ()
        if over == "like":
            acc = self.sym[s.inputs[1]]
            if r is not None:
                acc = (1,) * (r - len(acc)) + tuple(acc)
        else:
            axes = s.attrs["axes"]
            acc = tuple(1 if i in axes else d for i, d in enumerate(self.sym[s.inputs[0]]))
        return () if all(d == 1 for d in acc) else acc  # everything reduced: a scalar accumulator

    def _acc_dtype(self, s):
        return s.op.reduction.acc_dtype(s.inputs[0].dtype)

    @staticmethod
    def _identity_text(s, acc_dtype) -> str:
        """The reduction's initial value in ``acc_dtype`` as Python text (``math.inf`` for inf)."""
        v = s.op.reduction.identity(acc_dtype)
        if isinstance(v, float) and math.isinf(v):
            return "math.inf" if v > 0 else "-math.inf"
        return str(v)

    # --- outputs ------------------------------------------------------------------------------------
    def _fresh_outputs(self, nodes, copy) -> list:
        """The names to return for ``nodes``: a node whose buffer this call did not allocate (or
        that was returned already) is copied first into a fresh ``out<n>`` (``copy(node, name)``:
        the text of the copy)."""
        outs, seen = [], set()
        for o in nodes:
            name = self.ident(o)
            if o not in self.fresh or o in seen:
                fresh = self.fresh_name("out")
                self.w(f"{fresh} = {copy(o, name)}")
                name = fresh
            seen.add(o)
            outs.append(name)
        return outs

    # --- library steps ------------------------------------------------------------------------------
    def emit_library(self, node):
        out = self.ident(node)
        self.w("")
        self.w(f"# {out}: {node.op.name}")
        lower = LIBRARY.get(node.op)
        if lower is not None:
            if getattr(self, lower)(node, out, [self.ident(i) for i in node.inputs]) is False:
                return  # nothing runs for it here
        elif node.op.control:
            self.emit_control(node)
        else:
            raise NotImplementedError(self.NO_LOWERING.format(backend=self.BACKEND, op=node.op.name, out=out))
        self._library_done(node, out)

    def emit_control(self, node):
        """A control node (``cond``, ``while_loop``): the backend's ``*_control`` module."""
        raise NotImplementedError

    def _library_done(self, node, out):
        """Called after a library step that runs (the CUDA driver's profile tick)."""


def open_while(w, count: str, limit):
    """Writes the head of a ``while_loop``'s loop: ``while True:`` (indented after), stopping
    at ``max_iterations`` (``limit``) when given."""
    w("while True:")
    w.indent += 1
    if limit is not None:
        w(f"if {count} >= {limit}:  # max_iterations")
        w("    break")


def loop_vars_checked(node) -> list:
    """The loop variables of ``while_loop`` ``node`` whose shape is not fully known at build time
    (on the way in or out of the body): checked after each iteration, like the numpy backend."""
    body_outs = node.attrs["body"].outputs
    return [i for i in range(node.attrs["n_vars"])
            if None in node.inputs[i].shape or None in body_outs[i].shape]


# library steps: the name of the method lowering each op (control ops: emit_control)
LIBRARY = {
    MATMUL: "_lib_matmul", GEMM_UPDATE: "_lib_gemm_update", _sh.TRANSPOSE: "_lib_transpose",
    _sh.RESHAPE: "_lib_reshape", _sh.RESHAPE_LIKE: "_lib_reshape",
    _sh.EXPAND_DIMS: "_lib_reshape", _sh.SQUEEZE: "_lib_reshape",
    _sh.GETITEM: "_lib_getitem", _sh.GETITEM_GRAD: "_lib_getitem_grad",
    _sh.CONCATENATE: "_lib_concatenate", _sh.CONCAT_PART: "_lib_concat_part",
    _rd.COUNT: "_lib_count",
}

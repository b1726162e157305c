"""Fusion: partition a program into loop kernels and library calls (``KernelPlan``).

A :class:`LoopKernel` is one loop nest over an iteration space (a symbolic shape, see
:mod:`.symshape`). Its *members* are elementwise nodes (and broadcasts/fills) with exactly that
run-time shape; its *sinks* are reductions (sum, max, min, prod, sum_to_like, norm) whose input
has that shape and that accumulate inside the same loop. Nodes of equal iteration space join one
kernel greedily in topological order whenever that creates no cycle between kernels, so
forward and backward elementwise work over the same tensor share a single pass (e.g. ``sin(x)``
and its gradient ``g*cos(x)``). Everything else (matmul, views, indexing...) is a library step.

The rule for memory traffic: a value computed in a kernel is stored to memory only when a
node outside that kernel (or an output) reads it; values used only inside the loop stay in
registers.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field

import networkx as nx

from .symshape import broadcast_sym, is_symbol, symbolic_shapes

# Numba's compile time and memory grow faster than linearly with a function's length: one kernel
# fusing a 1000-op elementwise chain took 23 GB and was killed. Past this many ops a kernel is
# split (one stored intermediate per split, which is nothing beside hundreds of ops per element).
MAX_KERNEL_OPS = 128
# A backend that does not compile its large kernels (numba interprets them) says which nodes it
# can run that way (``long_ok``); kernels of such nodes only grow up to this many ops, which
# bounds the interpreter's registers (one row of a block each).
MAX_LONG_KERNEL_OPS = 50_000
# Independent loops over one space fuse side by side (the Adam updates of every layer of a
# width), but LLVM's cost for one loop grows faster than linearly with the arrays it touches:
# an MLP of 32 layers + Adam had loops over ~60 arrays each and took 65 s to compile. A value
# that would make a kernel read more than this many arrays it does not compute starts another
# (scalars, literals among them, do not count).
MAX_KERNEL_INPUTS = 32


def is_member_op(node) -> bool:
    return node.op.loop


def shape_only(node, k: int) -> bool:
    return k in node.op.shape_only(node)


@dataclass(eq=False)
class LoopKernel:
    index: int
    sym: tuple
    members: list = field(default_factory=list)
    sinks: list = field(default_factory=list)
    stored: list = field(default_factory=list)
    operands: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"kernel{self.index}"

    def nodes(self) -> list:
        return self.members + self.sinks


@dataclass
class KernelPlan:
    steps: list            # LoopKernel or library node (Tensor), in execution order
    kernel_of: dict        # node -> LoopKernel (members and sinks)
    sym: dict              # node -> symbolic shape
    program: object        # the optimized program the steps compute
    # set by passes.plan.make_plan: the program as declared, the passes' report, and the plans of
    # control-flow sub-graphs (id(SubGraph) -> (SubGraph, KernelPlan)), made on first request
    original: object = None
    pass_report: list = field(default_factory=list)
    subplans: dict = field(default_factory=dict, repr=False)
    equal_dims: tuple = ()  # input dims taken as equal (see passes.plan.make_plan)

    @property
    def kernels(self) -> list:
        return [s for s in self.steps if isinstance(s, LoopKernel)]

    @property
    def fused_ops(self) -> int:
        return sum(len(k.nodes()) for k in self.kernels if len(k.nodes()) > 1)


def value_inputs(node, sym) -> list:
    """Inputs whose values (not only shapes) a node needs; shapes with node-derived dims count too."""
    only = node.op.shape_only(node)
    if not only:
        return list(node.inputs)
    out = []
    for k, inp in enumerate(node.inputs):
        if k in only and not _node_dims(sym[inp]):
            continue
        out.append(inp)
    return out


def _node_dims(s) -> bool:
    try:
        return _has_node_dim(s)
    except TypeError:  # an unhashable symbol: not memoized
        return _has_node_dim.__wrapped__(s)


@functools.lru_cache(maxsize=4096)
def _has_node_dim(s) -> bool:
    """Whether the symbolic shape ``s`` has a dim derived from a node (memoized: a concatenate's
    gradient parts read every part's shape, n * n checks of a few distinct shapes)."""
    return any(is_symbol(d) and d[0] == "node" for d in s)


def fuse_elementwise(program, long_ok=None) -> KernelPlan:
    """Partition ``program`` into loop kernels and library steps (see module docstring).
    ``long_ok(node)``: whether ``node`` may be in a kernel longer than ``MAX_KERNEL_OPS`` (None: none)."""
    nodes = program.nodes
    sym = symbolic_shapes(nodes)
    kernel_of: dict = {}
    kernels: list = []
    by_space: dict = {}    # iteration space -> kernels, newest last
    steps = nx.DiGraph()   # dependencies between kernels and library steps placed so far
    long_kernel: dict = {}  # kernel -> whether every node in it is long_ok
    member_set: dict = {}   # kernel -> set(kernel.members): membership tests stay O(1) in long kernels
    external: dict = {}     # kernel -> the arrays (not 0-d values) it reads that it does not compute

    def outside(k, inputs) -> set:
        """The arrays among ``inputs`` that kernel ``k`` does not compute."""
        members = member_set[k]
        return {i for i in inputs if i not in members and sym[i] != ()}

    def full(k, node, inputs):
        size = len(k.members) + len(k.sinks)
        if size and len(external[k] | outside(k, inputs)) > MAX_KERNEL_INPUTS:
            return True
        if size < MAX_KERNEL_OPS:
            return False
        return not (long_ok is not None and size < MAX_LONG_KERNEL_OPS and long_kernel[k] and long_ok(node))

    def step_of(node):
        return kernel_of.get(node, node)

    def blocked(kernel, inputs):
        # joining is illegal when the kernel already feeds (directly or not) one of the inputs
        members = member_set[kernel]
        for i in inputs:
            if i.op.source or i in members:
                continue
            src = step_of(i)
            if src is kernel or (kernel in steps and src in steps and nx.has_path(steps, kernel, src)):
                return True
        return False

    def place(node, space, inputs):
        for k in reversed(by_space.get(space, [])):
            if full(k, node, inputs):
                continue  # full: the next value starts a kernel of its own
            if space == () and not any(i in k.members for i in inputs):
                continue  # scalar work gains nothing from sibling fusion, and it adds false dependencies
            if not blocked(k, inputs):
                return k
        k = LoopKernel(len(kernels), space)
        member_set[k] = set()
        external[k] = set()
        kernels.append(k)
        by_space.setdefault(space, []).append(k)
        return k

    for node in nodes:
        if node.op.source:
            continue
        vin = value_inputs(node, sym)
        if is_member_op(node):
            k = place(node, sym[node], vin)
            k.members.append(node)
            member_set[k].add(node)
            kernel_of[node] = k
        elif node.op.reduction is not None:
            k = place(node, sym[node.inputs[0]], vin)
            k.sinks.append(node)
            kernel_of[node] = k
        if node in kernel_of:
            k = kernel_of[node]
            external[k] |= outside(k, vin)
        if node in kernel_of and long_ok is not None:
            long_kernel[k] = long_kernel.get(k, True) and bool(long_ok(node))
        here = step_of(node)
        steps.add_node(here)
        for i in vin:
            if not i.op.source and step_of(i) is not here:
                steps.add_edge(step_of(i), here)

    steps = _order_steps(program, kernels, kernel_of, sym)
    _collect_operands(kernels, sym)
    _recompute_cheap_values(steps, kernel_of, sym, {n: i for i, n in enumerate(nodes)})
    _mark_stores(program, kernels, kernel_of, sym)
    _drop_dead_members(kernels, sym)
    # a kernel whose every value is recomputed where it is used has nothing left to do
    steps = [s for s in steps if not isinstance(s, LoopKernel) or s.members or s.sinks]
    return KernelPlan(steps, kernel_of, sym, program)


def _drop_dead_members(kernels, sym):
    """Members neither stored nor read inside their kernel (recomputed elsewhere) are dropped."""
    for k in kernels:
        needed = set(k.stored)
        for n in k.sinks:
            needed.update(i for i in value_inputs(n, sym))
        for m in reversed(k.members):
            if m in needed:
                needed.update(value_inputs(m, sym))
        k.members = [m for m in k.members if m in needed]


def _collect_operands(kernels, sym):
    for k in kernels:
        members = set(k.members)
        k.operands = []
        for n in k.nodes():
            for i in value_inputs(n, sym):
                if i not in members and i not in k.operands:
                    k.operands.append(i)


MAX_RECOMPUTED_OPS = 4


def _recompute_cheap_values(steps, kernel_of, sym, position):
    """Recompute instead of store: a later kernel over the same iteration space that reads a
    value of an earlier kernel recomputes it from that kernel's inputs when the value is cheap
    (at most ``MAX_RECOMPUTED_OPS`` ops flagged ``Op.cheap``, no transcendental) and doing so reads
    at most one extra full-size array. The earlier kernel then no longer writes the value
    (unless someone else needs it): one store and one load per element saved, one load at most
    added. Example: the relu mask of a training step is recomputed by the backward kernel."""
    for k2 in [s for s in steps if isinstance(s, LoopKernel)]:
        for o in list(k2.operands):
            k1 = kernel_of.get(o)
            if k1 is None or k1 is k2 or o not in k1.members or not _broadcasts_into(k1.sym, k2.sym):
                continue
            sub, leaves, stack, ok = [], [], [o], True
            while stack and ok:
                n = stack.pop()
                if n in sub:
                    continue
                if not n.op.cheap or len(sub) >= MAX_RECOMPUTED_OPS:
                    ok = False
                    break
                sub.append(n)
                for i in value_inputs(n, sym):
                    if i in k1.members:
                        stack.append(i)
                    elif i not in leaves:
                        leaves.append(i)
            if not ok:
                continue
            new_leaves = [leaf for leaf in leaves if leaf not in k2.operands]
            if sum(1 for leaf in new_leaves if _spans(sym[leaf], k2.sym)) > 1:
                continue
            # a value recomputed for an earlier operand is not recomputed twice; program order
            # is topological, so sorting by it keeps every member after its inputs
            in_sub, in_k2 = set(sub), set(k2.members)
            order = [m for m in k1.members if m in in_sub and m not in in_k2]
            k2.members = sorted(order + k2.members, key=position.__getitem__)
            k2.operands.remove(o)
            k2.operands += new_leaves


def _broadcasts_into(space, target) -> bool:
    """Every index of ``target`` maps to one of ``space`` by broadcasting (equal spaces too):
    values of a kernel over ``space`` can be recomputed, elementwise, inside one over ``target``
    (e.g. ``x*w + b`` over ``x``'s rows inside ``(x*w + b - y)**2`` over ``bcast(x, y)``)."""
    return len(space) == len(target) and broadcast_sym(target, space) == target


def _spans(shape, space) -> bool:
    """A tensor of symbolic ``shape`` read in a loop over ``space`` is as large as the loop (not
    a row, column or scalar broadcast over it)."""
    return len(shape) == len(space) and all(d != 1 or s == 1 for d, s in zip(shape, space))


def _mark_stores(program, kernels, kernel_of, sym):
    """A member is written to memory only when it is an output or a node outside every kernel
    computing it reads it, and only by the kernel that owns it: a kernel that recomputes a
    value never writes it again (its buffer may already hold another, later value)."""
    roots = set(program.roots)
    readers: dict = {}
    for r in program.nodes:
        for i in value_inputs(r, sym):
            readers.setdefault(i, []).append(r)
    kernels_of: dict = {}
    for k in kernels:
        for n in k.nodes():
            kernels_of.setdefault(n, []).append(k)
    members = {k: set(k.members) for k in kernels}

    def needs_store(m, r):
        # every kernel computing the reader must also compute m; a reader that is a library step
        # (in no kernel), or computed (e.g. recomputed) in one kernel without m, reads the buffer
        ks = kernels_of.get(r)
        return not ks or any(m not in members[kk] for kk in ks)

    for k in kernels:
        k.stored = [m for m in k.members if kernel_of.get(m) is k and (m in roots or any(
            needs_store(m, r) for r in readers.get(m, ())))]


def _order_steps(program, kernels, kernel_of, sym):
    """Topological order of kernels and library steps (ties broken by first appearance)."""
    g = nx.DiGraph()
    position = {}
    for idx, node in enumerate(program.nodes):
        if node.op.source:
            continue
        step = kernel_of.get(node, node)
        if step not in position:
            position[step] = idx
            g.add_node(step)
        for i in value_inputs(node, sym):
            if i.op.source:
                continue
            src = kernel_of.get(i, i)
            if src is not step:
                g.add_edge(src, step)
    return list(nx.lexicographical_topological_sort(g, key=lambda s: position[s]))

"""Large fused elementwise kernels as programs of the interpreter :mod:`.numba_vm` (numba backend).

A loop kernel of at least ``MIN_OPS`` ops, all of them ops the interpreter has (float32 or
float64 arithmetic and math, broadcasts, fills; full reductions), is not compiled: the entry
point calls ``_vm.run`` with the kernel's program, which this module writes (Python only: µs
per op, where numba spends 5-10 ms per compiled statement). Every kernel's program is a slice
of two arrays the entry point takes after the graph's constants (``vm_code``, ``vm_consts``),
so the generated source holds no program data and stays the same for the same graph structure.

Because such kernels are not compiled, the fuse pass lets them grow past
``passes.fuse.MAX_KERNEL_OPS`` (:func:`interpretable` is the backend's ``LONG_KERNELS``): a deep
chain and its gradient become one kernel whose forward values stay in block registers.
"""
from __future__ import annotations

import numpy as np

from ..graph import constant
from ..ops import creation as _cr, elementwise as _ew, shape as _sh
from ..passes.fuse import shape_only
from . import numba_vm as vm
from .numba_source import _PAR_ONLY, _SERIAL_ONLY, _int64, _tuple

# The threaded interpreter, written into each entry module that uses it: numba's cached parallel
# code must not be called from another module's cached code (see numba_kernels). Groups are
# independent and their totals combine in order, so threads change no result bit.
PAR_FUNCTION = [
    '@njit(cache=True, error_model="numpy", fastmath={"contract"}, no_cpython_wrapper=True, '
    'no_cfunc_wrapper=True, parallel=True)',
    "def vm_run_par(code, consts, bufs, n):",
    "    parts = _vm.new_parts(code, n)",
    "    n_groups = _vm.groups(n)",
    "    chunks = _rt.min_int(n_groups, 64)  # a few per thread: balance without much scratch",
    "    for c in prange(chunks):",
    "        _vm.run_groups(code, consts, bufs, n, c * n_groups // chunks, (c + 1) * n_groups // chunks, parts)",
    "    return _vm.finish(code, parts)",
]

# Kernels with fewer ops are compiled: per call a compiled kernel is faster, and below the fuse
# pass's cap its compile time is bounded (tests lower this to run small graphs interpreted).
MIN_OPS = 128

_UNARY = {_ew.NEGATIVE: vm.NEG, _ew.ABS: vm.ABS, _ew.SQUARE: vm.SQUARE, _ew.SQRT: vm.SQRT, _ew.SIGN: vm.SIGN,
          _ew.RELU: vm.RELU, _ew.EXP: vm.EXP, _ew.LOG: vm.LOG, _ew.LOG1P: vm.LOG1P, _ew.SIN: vm.SIN,
          _ew.COS: vm.COS, _ew.TAN: vm.TAN, _ew.TANH: vm.TANH, _ew.SIGMOID: vm.SIGMOID,
          # value-preserving members: the operand's value at each element
          _sh.BROADCAST_LIKE: vm.MOV, _sh.BROADCAST_TO: vm.MOV, _ew.ASTYPE: vm.MOV}
_BINARY = {_ew.ADD: vm.ADD, _ew.SUBTRACT: vm.SUB, _ew.MULTIPLY: vm.MUL, _ew.DIVIDE: vm.DIV,
           _ew.POWER: vm.POW, _ew.MAXIMUM: vm.MAX, _ew.MINIMUM: vm.MIN}
_LOGICAL = {_ew.LESS: vm.LT, _ew.LESS_EQUAL: vm.LE, _ew.GREATER: vm.GT, _ew.GREATER_EQUAL: vm.GE,
            _ew.EQUAL: vm.EQ, _ew.NOT_EQUAL: vm.NE, _ew.LOGICAL_AND: vm.AND, _ew.LOGICAL_OR: vm.OR}
_FILLS = (_cr.FULL, _cr.FULL_LIKE)
_BOOL = np.dtype(bool)
_REDUCE = {"sum": vm.SUM, "prod": vm.PROD, "max": vm.AMAX, "min": vm.AMIN}
_FLOATS = (np.dtype("float32"), np.dtype("float64"))


def _value_inputs(node) -> list:
    """The inputs whose values the interpreter reads (fills read none)."""
    if node.op in _FILLS:
        return []
    return [i for k, i in enumerate(node.inputs) if not shape_only(node, k)]


def interpretable(node) -> bool:
    """Whether the interpreter runs ``node`` as a member or sink of a loop kernel: a float op of
    its table on operands of the node's own dtype, or a sum/prod/max/min to a scalar."""
    red = node.op.reduction
    if red is not None:
        x = node.inputs[0]
        return (red.combine in _REDUCE and (not red.squares or red.combine == "sum") and x.dtype in _FLOATS
                and all(d == 1 for d in node.shape))
    ins = [i.dtype for i in _value_inputs(node)]
    if node.op in _LOGICAL or node.op is _ew.LOGICAL_NOT:  # floats of one dtype, or booleans
        return node.dtype == _BOOL and len(set(ins)) == 1 and (ins[0] in _FLOATS or ins[0] == _BOOL)
    if node.dtype not in _FLOATS:
        return False
    if node.op is _ew.WHERE:
        return ins[0] == _BOOL and ins[1] == ins[2] == node.dtype
    if node.op is _ew.ASTYPE and ins[0] == _BOOL:
        return True  # 0.0 / 1.0: what the register holds already
    if not (node.op in _UNARY or node.op in _BINARY or node.op in _FILLS):
        return False
    return all(d == node.dtype for d in ins)


class InterpretedKernelMixin:
    """The part of :class:`~.numba_codegen.NumbaCodegen` that writes interpreted kernels."""

    def emit_interpreted(self, k, arrays, arr_name, scalars, accs, D) -> bool:
        """Writes kernel ``k`` as a call of the interpreter when it qualifies; False otherwise."""
        nodes = list(k.members) + list(k.sinks)
        if self.prefix or len(nodes) < MIN_OPS or not k.sym or not all(interpretable(n) for n in nodes):
            return False  # (sub-graph functions are not given the program arrays)
        # one float dtype in registers and arrays; booleans live in registers only
        dtypes = {n.dtype for n in k.members if n.dtype != _BOOL} | {s.inputs[0].dtype for s in k.sinks}
        # a boolean scalar operand (e.g. ``s == 0`` computed before the loop) is a 0.0/1.0 register
        dtypes |= {o.dtype for o in k.operands if not (o.dtype == _BOOL and o in scalars)}
        if (len(dtypes) != 1 or any(a["array"] for a in accs.values()) or not (arrays or k.stored)
                or any(m.dtype == _BOOL for m in k.stored)):
            return False
        w = self.w
        size = " * ".join(D) if D else "1"
        shape_t = "(" + ", ".join(D) + ("," if len(D) == 1 else "") + ")"
        bufs, buf_of = [], {}
        for o in arrays:
            buf_of[o] = len(bufs)
            if self.sym[o] == k.sym:
                bufs.append(f"{arr_name[o]}.reshape({size})")
            else:  # broadcast at run time: the interpreter reads full-size operands only
                bufs.append(f"_vm.broadcast_copy({arr_name[o]}, {_int64_tuple_text(D)}).reshape({size})")
        for m in k.stored:
            buf_of[m] = len(bufs)
            bufs.append(f"{self.ident(m)}.reshape({size})")
        code, consts = _program(k, scalars, self.inline, buf_of, bufs, self.ident, next(iter(dtypes)))
        c0, k0 = self._vm_append(code, consts)
        w(f"# {k.name} is interpreted (numba_vm): program vm_code[{c0}:{c0 + len(code)}], "
          f"{code[0] + code[1]} instructions, {code[2]} registers")
        call = (f"_vm.run(vm_code[{c0}:{c0 + len(code)}], vm_consts[{k0}:{k0 + len(consts)}], "
                f"[{', '.join(bufs)}], {_int64(size)})")
        result = self.fresh_name("r")
        static = int(np.prod([int(d) for d in D])) if all(d.isdigit() for d in D) else None
        if self.parallel_ok and (static is None or static >= self.PARALLEL_MIN):
            self.uses_prange = True
            self.local_kernels.setdefault("\n".join(PAR_FUNCTION), ("vm_run_par", PAR_FUNCTION))
            w.only = _PAR_ONLY  # the threaded entry point: threads above PARALLEL_MIN elements
            if static is None:
                w(f"if {size} >= PARALLEL_MIN:")
                w(f"    {result} = {call.replace('_vm.run(', 'vm_run_par(', 1)}")
                w("else:")
                w(f"    {result} = {call}")
            else:
                w(f"{result} = {call.replace('_vm.run(', 'vm_run_par(', 1)}")
            w.only = _SERIAL_ONLY
            w(f"{result} = {call}")
            if static is None:
                w(f"if {size} >= PARALLEL_MIN:")
                w("    wants_parallel = True")
            else:
                w("wants_parallel = True")
            w.only = ""
        else:
            w(f"{result} = {call}")
        for i, s in enumerate(k.sinks):
            self._combine(s, accs[s]["name"], f"np.{self._acc_dtype(s)}({result}[{i}])")
        return True

    def _vm_append(self, code, consts):
        """Appends a program to this module's arrays; returns where its code and constants start."""
        if not hasattr(self, "vm_code"):
            self.vm_code, self.vm_consts = [], []
        c0, k0 = len(self.vm_code), len(self.vm_consts)
        self.vm_code += code
        self.vm_consts += consts
        return c0, k0

    def vm_args(self):
        """Adds the program arrays to the entry point's constant arguments (after the graph's)."""
        if hasattr(self, "vm_code"):
            self.args.append(("vm_code", constant(np.array(self.vm_code, np.int64), name="vm_code")))
            self.args.append(("vm_consts", constant(np.array(self.vm_consts + [0.0], np.float64), name="vm_consts")))

    def vm_head(self) -> list:
        # The digest puts the interpreter's text into the cache key of the modules that call it:
        # their cached code holds the interpreter as compiled when they were (its opcodes too).
        return [f"from staticad.backends import numba_vm as _vm  # interpreter {_vm_digest()}"] if hasattr(
            self, "vm_code") else []


def _vm_digest() -> str:
    import hashlib
    from pathlib import Path
    return hashlib.sha256(Path(vm.__file__).read_bytes()).hexdigest()[:16]


def _int64_tuple_text(D) -> str:
    return _tuple(_int64(d) if d.isdigit() else d for d in D)


def _program(k, scalars, inline, buf_of, bufs, ident, dtype="float64"):
    """``k`` as interpreter instructions: ``(code, consts)`` (see :mod:`.numba_vm`); ``dtype``:
    the float dtype of its registers and arrays."""
    nodes = list(k.members) + list(k.sinks)
    last = {}
    for idx, n in enumerate(nodes):
        for i in _value_inputs(n):
            last[i] = idx
    prologue, body, consts = [], [], []
    reg_of, pinned, free = {}, set(), []
    count = [0]

    def new_reg():
        if free:
            return free.pop()
        count[0] += 1
        return count[0] - 1

    def pin(node, op, a):
        r = new_reg()
        prologue.append((op, r, a, 0, 0))
        reg_of[node] = r
        pinned.add(node)

    for n in nodes:  # literals and scalar operands: registers filled once per call
        if n.op in _FILLS:
            consts.append(float(np.asarray(n.attrs["value"]).item()))
            pin(n, vm.CONST, len(consts) - 1)
        for i in _value_inputs(n):
            if i in scalars and i not in reg_of:
                if i in inline:
                    consts.append(float(i.attrs["value"].item()))
                    pin(i, vm.CONST, len(consts) - 1)
                else:
                    buf_of[i] = len(bufs)
                    buf = f"_rt.contiguous_reshape({ident(i)}, (np.int64(1),))"
                    # a boolean scalar as 0.0/1.0 (the buffers are of the registers' dtype)
                    bufs.append(f"{buf}.astype(np.{np.dtype(dtype).name})" if i.dtype == _BOOL else buf)
                    pin(i, vm.SCALAR, buf_of[i])
    sinks = {s: t for t, s in enumerate(k.sinks)}
    stored = set(k.stored)
    for idx, n in enumerate(nodes):
        srcs = []
        for i in _value_inputs(n):
            if i not in reg_of:  # an array operand: loaded into a register at its first use
                reg_of[i] = new_reg()
                body.append((vm.LOAD, reg_of[i], buf_of[i], 0, 0))
            srcs.append(reg_of[i])
        for i in set(_value_inputs(n)):
            if last[i] == idx and i not in pinned:
                free.append(reg_of[i])
        if n in sinks:
            red = n.op.reduction
            body.append((vm.SUMSQ if red.squares else _REDUCE[red.combine], sinks[n], srcs[0], 0, 0))
            continue
        if n not in pinned:
            reg_of[n] = new_reg()
            if n.op is _ew.WHERE:  # dst <- a if c else b, c in the fifth slot
                body.append((vm.WHERE, reg_of[n], srcs[1], srcs[2], srcs[0]))
            else:
                op = (_UNARY.get(n.op) or _BINARY.get(n.op) or _LOGICAL.get(n.op)
                      or (vm.NOT if n.op is _ew.LOGICAL_NOT else None))
                body.append((op, reg_of[n], srcs[0], srcs[1] if len(srcs) > 1 else 0, 0))
        if n in stored:
            body.append((vm.STORE, buf_of[n], reg_of[n], 0, 0))
        if n not in last and n not in pinned:
            free.append(reg_of[n])  # stored only
    header = (len(prologue), len(body), max(count[0], 1), len(k.sinks), 0)
    code = list(header)
    for ins in prologue + body:
        code += list(ins)
    return code, consts


def disassemble(code, consts) -> list:
    """The program as text, one instruction a line (for reading and debugging)."""
    n_pro, n_body = int(code[0]), int(code[1])
    lines = [f"; {n_pro} prologue + {n_body} body instructions, {int(code[2])} registers, {int(code[3])} totals"]
    for j in range(n_pro + n_body):
        op, d, a, b, c = (int(v) for v in code[vm.WIDTH * (j + 1): vm.WIDTH * (j + 2)])
        name = vm.OPCODE_NAMES[op]
        if op == vm.CONST:
            lines.append(f"r{d} = {consts[a]!r}")
        elif op == vm.SCALAR:
            lines.append(f"r{d} = bufs[{a}][0]")
        elif op == vm.LOAD:
            lines.append(f"r{d} = bufs[{a}][block]")
        elif op == vm.STORE:
            lines.append(f"bufs[{d}][block] = r{a}")
        elif op == vm.WHERE:
            lines.append(f"r{d} = r{a} if r{c} else r{b}")
        elif op == vm.NOT:
            lines.append(f"r{d} = not(r{a})")
        elif op >= vm.LT:
            lines.append(f"r{d} = {name}(r{a}, r{b})")
        elif op >= vm.SUM:
            lines.append(f"total{d} {name}= r{a}")
        elif op >= vm.ADD:
            lines.append(f"r{d} = {name}(r{a}, r{b})")
        else:
            lines.append(f"r{d} = {name}(r{a})")
    return lines

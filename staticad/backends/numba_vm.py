"""The interpreter of large fused elementwise kernels (numba backend): one fixed ``@njit`` function.

numba types and lowers a generated kernel at about 5-10 ms of CPU per scalar statement, so a
fused chain of thousands of elementwise ops cannot be compiled in reasonable time (and a 1000-op
kernel made numba use 23 GB). A kernel above ``numba_vm_codegen.MIN_OPS`` ops is instead written
as a *program* (int64 instructions, float64 constants: arrays the entry point receives like the
graph's constants) that :func:`run` executes block by block: registers are rows of a scratch
array of ``BLOCK`` elements, each instruction one tight loop over the block calling the same
numba_math helpers the compiled kernels call. This module is compiled once per dtype and cached
like the other helpers, so a new graph costs only the Python that writes its program.

Program layout (``code``, int64): a header of ``WIDTH`` slots ``[prologue instructions, body
instructions, registers, totals]``, then ``WIDTH`` slots per instruction ``[opcode, dst, a, b]``.
The prologue fills registers that stay constant (literals, scalar operands) once per call; the
body runs once per block. ``bufs``: the kernel's flat arrays (operands, then stored values; a
scalar operand as a 1-element array). Totals of reductions are staged per element and combined
per ``GROUP`` elements with numba_runtime's block reductions, as the compiled kernels do.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from . import numba_math as _nm
from . import numba_runtime as _rt

BLOCK = 512   # elements per register row: a few rows stay in L1/L2, dispatch is amortized
SCRATCH = 1 << 25  # bytes of registers past which rows get shorter (a kernel of very many live values)
GROUP = 4096  # elements per partial reduction: numba_source.BLOCK, the compiled kernels' grouping
WIDTH = 5     # int64 slots per instruction (and of the header)

# prologue (once per call): dst <- consts[a] / bufs[a][0]
CONST, SCALAR = 0, 1
# body (once per block)
LOAD, STORE, MOV = 2, 3, 4                      # dst <- bufs[a]; bufs[dst] <- a; dst <- a
NEG, ABS, SQUARE, SQRT, SIGN, RELU = 5, 6, 7, 8, 9, 10
EXP, LOG, LOG1P, SIN, COS, TAN, TANH, SIGMOID = 11, 12, 13, 14, 15, 16, 17, 18
ADD, SUB, MUL, DIV, POW, MAX, MIN = 19, 20, 21, 22, 23, 24, 25
SUM, SUMSQ, PROD, AMAX, AMIN = 26, 27, 28, 29, 30  # totals[dst] (.) a
# booleans are 1.0 / 0.0 in the registers (the fuse pass keeps them out of arrays of this kernel)
LT, LE, GT, GE, EQ, NE, AND, OR = 31, 32, 33, 34, 35, 36, 37, 38
NOT, WHERE = 39, 40  # dst <- not a; dst <- a if c else b (c in the fifth slot)

OPCODE_NAMES = ("const", "scalar", "load", "store", "mov", "neg", "abs", "square", "sqrt", "sign", "relu",
                "exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid",
                "add", "sub", "mul", "div", "pow", "max", "min", "sum", "sumsq", "prod", "amax", "amin",
                "lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not", "where")

_OPTS = dict(cache=True, error_model="numpy", fastmath={"contract"})


# --- the numba_math function of the register dtype, chosen when numba types the interpreter --------
def _per_dtype(f32, f64):
    def stub(x):  # called as Python only under NUMBA_DISABLE_JIT=1
        return f32(x) if isinstance(x, np.float32) else f64(x)

    @overload(stub)
    def _impl(x):
        if x == types.float32:
            return lambda x: f32(x)
        return lambda x: f64(x)
    return stub


_exp = _per_dtype(_nm.exp_f32, _nm.exp_f64)
_log = _per_dtype(_nm.log_f32, _nm.log_f64)
_log1p = _per_dtype(_nm.log1p_f32, _nm.log1p_f64)
_sin = _per_dtype(_nm.sin_f32, _nm.sin_f64)
_cos = _per_dtype(_nm.cos_f32, _nm.cos_f64)
_tan = _per_dtype(_nm.tan_f32, _nm.tan_f64)
_tanh = _per_dtype(_nm.tanh_f32, _nm.tanh_f64)
_sigmoid = _per_dtype(_nm.sigmoid_f32, _nm.sigmoid_f64)
# sin/cos/tan over |x| <= TRIG_FAST_LIMIT_F32 / _F64 (the compiled kernels' fast path)
_sin_fast = _per_dtype(_nm.sin_fast_f32, _nm.sin_fast_f64)
_cos_fast = _per_dtype(_nm.cos_fast_f32, _nm.cos_fast_f64)
_tan_fast = _per_dtype(_nm.tan_fast_f32, _nm.tan_fast_f64)


@njit(**_OPTS)
def _fast_limit_f32(x):
    return _nm.TRIG_FAST_LIMIT_F32


@njit(**_OPTS)
def _fast_limit_f64(x):
    return _nm.TRIG_FAST_LIMIT_F64


_fast_limit = _per_dtype(_fast_limit_f32, _fast_limit_f64)


@njit(**_OPTS)
def _fast_range(a, m):
    """Whether every argument of a sin/cos/tan is in the fast-path range (NaN is not)."""
    _rt.wide_vectors()  # 512-bit vectors where the CPU has them
    n_slow = 0
    for i in range(m):
        n_slow += not abs(a[i]) <= _fast_limit(a[i])
    return n_slow == 0


@njit(**_OPTS)
def _unary(op, out, a, m):
    _rt.wide_vectors()  # 512-bit vectors where the CPU has them
    # one loop per opcode: each vectorizes on its own (a switch inside the loop would not)
    if op == MOV:
        for i in range(m):
            out[i] = a[i]
    elif op == NEG:
        for i in range(m):
            out[i] = -a[i]
    elif op == ABS:
        for i in range(m):
            out[i] = abs(a[i])
    elif op == SQUARE:
        for i in range(m):
            out[i] = a[i] * a[i]
    elif op == SQRT:
        for i in range(m):
            out[i] = math.sqrt(a[i])
    elif op == SIGN:
        for i in range(m):
            out[i] = _rt.sign(a[i])
    elif op == RELU:
        for i in range(m):
            out[i] = _rt.relu(a[i])
    elif op == EXP:
        for i in range(m):
            out[i] = _exp(a[i])
    elif op == LOG:
        for i in range(m):
            out[i] = _log(a[i])
    elif op == LOG1P:
        for i in range(m):
            out[i] = _log1p(a[i])
    elif op == TANH:
        for i in range(m):
            out[i] = _tanh(a[i])
    elif op == SIGMOID:
        for i in range(m):
            out[i] = _sigmoid(a[i])
    elif _fast_range(a, m):
        if op == SIN:
            for i in range(m):
                out[i] = _sin_fast(a[i])
        elif op == COS:
            for i in range(m):
                out[i] = _cos_fast(a[i])
        else:
            for i in range(m):
                out[i] = _tan_fast(a[i])
    elif op == SIN:
        for i in range(m):
            out[i] = _sin(a[i])
    elif op == COS:
        for i in range(m):
            out[i] = _cos(a[i])
    else:
        for i in range(m):
            out[i] = _tan(a[i])


@njit(**_OPTS)
def _binary(op, out, a, b, m):
    _rt.wide_vectors()  # 512-bit vectors where the CPU has them
    if op == ADD:
        for i in range(m):
            out[i] = a[i] + b[i]
    elif op == SUB:
        for i in range(m):
            out[i] = a[i] - b[i]
    elif op == MUL:
        for i in range(m):
            out[i] = a[i] * b[i]
    elif op == DIV:
        for i in range(m):
            out[i] = a[i] / b[i]
    elif op == POW:
        for i in range(m):
            out[i] = a[i] ** b[i]
    elif op == MAX:
        for i in range(m):
            out[i] = _rt.maximum(a[i], b[i])
    else:
        for i in range(m):
            out[i] = _rt.minimum(a[i], b[i])


@njit(**_OPTS)
def _logical(op, out, a, b, m):
    _rt.wide_vectors()  # 512-bit vectors where the CPU has them
    if op == LT:
        for i in range(m):
            out[i] = 1.0 if a[i] < b[i] else 0.0
    elif op == LE:
        for i in range(m):
            out[i] = 1.0 if a[i] <= b[i] else 0.0
    elif op == GT:
        for i in range(m):
            out[i] = 1.0 if a[i] > b[i] else 0.0
    elif op == GE:
        for i in range(m):
            out[i] = 1.0 if a[i] >= b[i] else 0.0
    elif op == EQ:
        for i in range(m):
            out[i] = 1.0 if a[i] == b[i] else 0.0
    elif op == NE:
        for i in range(m):
            out[i] = 1.0 if a[i] != b[i] else 0.0
    elif op == AND:
        for i in range(m):
            out[i] = 1.0 if a[i] != 0 and b[i] != 0 else 0.0
    elif op == OR:
        for i in range(m):
            out[i] = 1.0 if a[i] != 0 or b[i] != 0 else 0.0
    else:
        for i in range(m):
            out[i] = 1.0 if a[i] == 0 else 0.0


@njit(**_OPTS)
def _where(out, c, a, b, m):
    _rt.wide_vectors()  # 512-bit vectors where the CPU has them
    for i in range(m):
        out[i] = a[i] if c[i] != 0 else b[i]


@njit(**_OPTS)
def _stage(op, staged, a, m):
    """Each element's contribution to a reduction, as the compiled kernels stage it (float64)."""
    _rt.wide_vectors()  # 512-bit vectors where the CPU has them
    if op == SUMSQ:
        for i in range(m):
            staged[i] = np.float64(a[i]) * np.float64(a[i])
    else:
        for i in range(m):
            staged[i] = a[i]


@njit(**_OPTS)
def _block_total(op, staged, m):
    """A group's contribution to a total, reduced like the compiled kernels reduce a block."""
    if op == SUM or op == SUMSQ:
        return _rt.block_sum(staged, m)
    if op == PROD:
        return _rt.block_prod(staged, m)
    if op == AMAX:
        return _rt.block_max(staged, m)
    return _rt.block_min(staged, m)


@njit(**_OPTS)
def groups(n):
    """Reduction groups of ``n`` elements: the unit of work of :func:`run_groups`."""
    return (n + GROUP - 1) // GROUP


@njit(**_OPTS)
def run_groups(code, consts, bufs, n, g0, g1, parts):
    """Runs the program over groups ``g0 <= g < g1`` (``GROUP`` elements each, the last one
    shorter); ``parts[g, t]``: group ``g``'s contribution to total ``t``. Groups are independent,
    so any split of them between threads computes the same values."""
    n_pro, n_body, n_reg = code[0], code[1], code[2]
    rows = BLOCK
    while rows > 64 and n_reg * rows * bufs[0].itemsize > SCRATCH:
        rows //= 2  # still a power of two: blocks stay aligned to the reduction groups
    rows = min(rows, n) if n > 0 else 1
    regs = np.empty((n_reg, rows), bufs[0].dtype)
    staged = np.empty((code[3], GROUP), np.float64)
    body = WIDTH * (1 + n_pro)
    for p in range(WIDTH, body, WIDTH):
        if code[p] == CONST:
            regs[code[p + 1], :] = consts[code[p + 2]]
        else:
            regs[code[p + 1], :] = bufs[code[p + 2]][0]
    end = body + WIDTH * n_body
    for g in range(g0, g1):
        for k0 in range(g * GROUP, min(n, g * GROUP + GROUP), rows):
            m = min(rows, n - k0)
            off = k0 - g * GROUP  # position of this block in its group
            for p in range(body, end, WIDTH):
                op, d, a = code[p], code[p + 1], code[p + 2]
                if op == LOAD:
                    regs[d, :m] = bufs[a][k0:k0 + m]
                elif op == STORE:
                    bufs[d][k0:k0 + m] = regs[a, :m]
                elif op < ADD:
                    _unary(op, regs[d], regs[a], m)
                elif op < SUM:
                    _binary(op, regs[d], regs[a], regs[code[p + 3]], m)
                elif op < LT:
                    _stage(op, staged[d, off:], regs[a], m)
                    if off + m == GROUP or k0 + m == n:
                        parts[g, d] = _block_total(op, staged[d], off + m)
                elif op < WHERE:
                    _logical(op, regs[d], regs[a], regs[code[p + 3]], m)
                else:
                    _where(regs[d], regs[code[p + 4]], regs[a], regs[code[p + 3]], m)


@njit(**_OPTS)
def new_parts(code, n):
    return np.empty((groups(n), code[3]), np.float64)


@njit(**_OPTS)
def finish(code, parts):
    """The totals: each reduction's identity combined with its groups' parts, in group order."""
    totals = np.zeros(code[3], np.float64)
    body = WIDTH * (1 + code[0])
    for p in range(body, body + WIDTH * code[1], WIDTH):
        op, t = code[p], code[p + 1]
        if op < SUM or op >= LT:
            continue
        total = 1.0 if op == PROD else -math.inf if op == AMAX else math.inf if op == AMIN else 0.0
        for g in range(parts.shape[0]):
            if op == SUM or op == SUMSQ:
                total += parts[g, t]
            elif op == PROD:
                total *= parts[g, t]
            elif op == AMAX:
                total = _rt.maximum(total, parts[g, t])
            else:
                total = _rt.minimum(total, parts[g, t])
        totals[t] = total
    return totals


@njit(**_OPTS)
def run(code, consts, bufs, n):
    """Runs the program ``code`` over the ``n`` elements of ``bufs``; returns the reductions' totals
    (float64, each from its identity; the caller combines them into its accumulators)."""
    parts = new_parts(code, n)
    run_groups(code, consts, bufs, n, 0, groups(n), parts)
    return finish(code, parts)


@njit(cache=True, error_model="numpy")
def broadcast_copy(a, shape):
    """``a`` broadcast to ``shape`` as a fresh C-contiguous array (an operand the interpreter reads
    flat; the compiled kernels index such operands in a loop nest instead)."""
    return np.broadcast_to(a, shape).copy()

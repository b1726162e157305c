"""Text helpers shared by the Numba backend's code generators (entry point and kernel library)."""
from __future__ import annotations

import re

import numpy as np

from ..ops import elementwise as _ew
from .codegen_base import _tuple, _Writer, literal, member_template  # noqa: F401  (the numba modules import them from here)

BLOCK = 4096
PARALLEL_MIN = 1 << 17
# Threads pay for themselves by work, not by elements: a kernel of math calls (exp, sin, tanh...)
# costs ~10x an add per element, so its loop goes to threads at fewer elements. ``parallel_min``
# scales PARALLEL_MIN by a kernel's cost per element, down to PARALLEL_MIN_FLOOR (chain d/dx
# sum(...sin, exp, tanh...) float32, 2 threads: n=1e5 went from 274 us serial to ~150 us).
PARALLEL_MIN_FLOOR = 1 << 14
_PLAIN_COST, _MATH_COST = 1, 8  # per element and op; PARALLEL_MIN is for kernels of cost <= 4


def parallel_min(ops) -> int:
    """Elements from which a flat loop of ``ops`` (the kernel's member ops) runs on threads."""
    cost = sum(_MATH_COST if op.extra.get("vector_math") else _PLAIN_COST for op in ops)
    return max(PARALLEL_MIN_FLOOR, PARALLEL_MIN * 4 // max(cost, 4))


# the suffix of numba_math's functions of each float dtype (exp_f32, sincos_f64, ...)
MATH_SUFFIX = {"float32": "f32", "float64": "f64"}


def _static_shape(sym):
    """``sym`` as a tuple of ints, or ``None`` when a dim is only known at run time."""
    return tuple(sym) if all(isinstance(d, (int, np.integer)) for d in sym) else None


# the first statement of every generated function: its loops use 512-bit vectors where the CPU
# has them (numba_runtime.WIDE_ATTRIBUTES)
VECTOR_HINT = "    _rt.wide_vectors()"
INLINE_MAX = 4096  # static loop sizes up to this keep their loop nest (no flat variant)


def _int64(expr: str) -> str:
    """``expr`` typed int64 for numba when it is a constant (see NumbaCodegen.shape_arg)."""
    return f"np.int64({expr})" if re.fullmatch(r"[\d\s*+()-]+", expr) else expr


# Fused-loop values are typed: each operand text has its node's dtype (arrays, ``np.float32(..)``
# literals, ``.item()`` scalars, earlier values). Where numba's arithmetic already gives the
# value's dtype, no cast is written: every ``np.float32(..)`` is one more call for numba to type,
# and typing is most of a large kernel's compile time.
_FLOAT_PRESERVING = frozenset({_ew.ADD, _ew.SUBTRACT, _ew.MULTIPLY, _ew.DIVIDE, _ew.NEGATIVE, _ew.SQUARE})


def _cast_to(text: str, dtype, target) -> str:
    return text if np.dtype(dtype) == np.dtype(target) else f"np.{np.dtype(target).name}({text})"


def _keeps_float_dtype(m) -> bool:
    """Whether numba computes member ``m`` in its own dtype without a cast: float arithmetic on
    operands of that same dtype, and the vectorizable math helpers (``_nm.*_f32/_f64``)."""
    if m.dtype.kind != "f" or m.dtype.name not in ("float32", "float64"):
        return False
    if m.op.extra.get("vector_math"):
        return True
    return m.op in _FLOAT_PRESERVING and all(i.dtype == m.dtype for i in m.inputs)


def _split_tuple(text: str) -> list:
    """The items of a tuple text made by _tuple (dims: names and integer expressions)."""
    return [d.strip() for d in text.strip()[1:-1].split(",") if d.strip()]


def _int64_tuple(items) -> str:
    return _tuple(_int64(d) for d in items)


# Lines only the parallel entry point (``entry_par``) or only the serial one (``entry``) has.
_PAR_ONLY, _SERIAL_ONLY = "\x00P", "\x00S"


def _variant(lines, parallel: bool) -> list:
    """The lines of one entry-point variant: the other variant's lines dropped, markers removed."""
    keep, drop = (_PAR_ONLY, _SERIAL_ONLY) if parallel else (_SERIAL_ONLY, _PAR_ONLY)
    return [l[len(keep):] if l.startswith(keep) else l for l in lines if not l.startswith(drop)]

"""The CUDA backend: a :class:`KernelPlan` -> ``@cuda.jit`` kernels + a host driver -> disk cache.

The plan is the CPU backend's (same passes, same fusion: :mod:`staticad.compiler`);
:mod:`.cuda_codegen` turns it into a module of kernels. This module holds what runs on the host: availability
checks, the run-time helpers the generated driver calls (shapes, strides, launch sizes), device
residency of Variables, and the executable.

Needs numba's CUDA target with a GPU (``pip install staticad[cuda]``: numba-cuda), or the CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` set before numba.cuda is first imported; slow, for tests).

Device residency: every Variable a CUDA function touches keeps a device copy (the Variable's
``_device``, see :class:`~staticad.graph.Variable`), and updates replace that copy on the device;
the host copy is refreshed lazily, the first time ``Variable.value`` (or any host reader) asks
after an update. A training step therefore moves
only its inputs in and its requested outputs out.

Control flow (``cond``, ``while_loop``) runs as host loops and branches over the sub-graphs'
driver functions (:mod:`.cuda_control`), with the helpers below (predicate readbacks, trip
counts of counter loops, device-resident stacks); loop values never leave the device.
"""
from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from typing import NamedTuple

import numpy as np

from ..clock import now_ns
from ..graph import CONSTANT, VARIABLE, _format_shape
from ..passes.fuse import KernelPlan
from . import cache as _cache
from .base import CompileOptions, ExecStats, ExecutableBase, convert_input

NAME = "cuda"
OPTIMIZES = True
REBINDS = False

ENABLE_HINT = ("enable either: set NUMBA_ENABLE_CUDASIM=1 in the environment before starting Python "
               "(numba's CUDA simulator runs the kernels on the CPU, slowly: for tests), or use a machine "
               "with an NVIDIA GPU and driver and `pip install staticad[cuda]` (numba-cuda; add "
               "`pip install numba-cuda[cu12]` where no CUDA toolkit is installed)")


class CudaUnavailableError(RuntimeError):
    """``backend="cuda"`` without a CUDA GPU or the CUDA simulator."""


# --- availability -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _cuda():
    """``numba.cuda`` (imported once, quietly; the drivers allocate through it on every call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from numba import cuda
    return cuda


def is_simulator() -> bool:
    """Whether numba.cuda is the simulator (decided when numba.cuda was first imported)."""
    try:
        return "simulator" in _cuda().jit.__module__
    except Exception:
        return False


def unavailable_reason():
    """None when kernels can run here (a GPU or the simulator), else why not and how to fix it."""
    try:
        cuda = _cuda()
        if cuda.is_available():
            return None
        why = "numba.cuda.is_available() is False (no CUDA GPU or driver found)"
    except Exception as exc:
        why = f"numba.cuda cannot be imported ({type(exc).__name__}: {exc})".splitlines()[0]
    sim = os.environ.get("NUMBA_ENABLE_CUDASIM", "").strip()
    if sim not in ("", "0") and not is_simulator():
        why += ("; NUMBA_ENABLE_CUDASIM is set, but numba.cuda had already been imported without it "
                "(set it before anything imports numba.cuda)")
    return why


def is_available() -> bool:
    return unavailable_reason() is None


def require_available():
    why = unavailable_reason()
    if why is not None:
        raise CudaUnavailableError(f"backend='cuda' cannot run here: {why}. To {ENABLE_HINT}.")


# --- run-time helpers called by the generated driver ----------------------------------------------
def _per_shape(fn):
    """Memoised: the shape helpers below are pure functions of run-time shapes and static values
    (their results immutable), called on every launch; a training loop repeats the same shapes, so
    the host work of a call is dictionary lookups. Errors are not cached (raised again each call);
    an unhashable argument (a slice before Python 3.12) is computed as is."""
    cached = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return cached(*args, **kwargs)
        except TypeError:
            return fn(*args, **kwargs)
    return call


def size(shape) -> int:
    return math.prod(shape)


def bdim(a: int, b: int, what: str) -> int:
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    raise ValueError(f"shapes are incompatible at run time: {what} ({a} vs {b})")


@_per_shape
def cstrides(shape, pad=False) -> tuple:
    """Element strides of a C-contiguous array (``pad``: a 0-d shape gives ``(0,)``)."""
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step *= d
    out = tuple(reversed(out))
    return out if out or not pad else (0,)


@_per_shape
def bstrides(shape, dims, what) -> tuple:
    """Strides of a contiguous operand of ``shape`` read inside a loop over ``dims`` (aligned right,
    numpy broadcasting): one per operand dim, 0 where it is broadcast."""
    lead = len(dims) - len(shape)
    if lead < 0:
        raise ValueError(f"run-time shape {_format_shape(shape)} of {what} has more dims than the loop "
                         f"{_format_shape(dims)}")
    out = []
    for j, (d, st) in enumerate(zip(shape, cstrides(shape))):
        if d == 1:
            out.append(0)
        elif d == dims[lead + j]:
            out.append(st)
        else:
            raise ValueError(f"run-time shape {_format_shape(shape)} of {what} does not broadcast to "
                             f"{_format_shape(dims)}")
    return tuple(out)


@_per_shape
def aligned_strides(shape, dims, what) -> tuple:
    """:func:`bstrides` padded with zeros for the leading dims the operand lacks."""
    return (0,) * (len(dims) - len(shape)) + bstrides(shape, dims, what)


class Segments(NamedTuple):
    M: int         # output elements (product of the kept dims)
    R: int         # elements reduced into each output
    G: int         # threads per output (a power of two)
    blocks: int
    kept: tuple    # per loop dim: 1 kept, 0 reduced


@_per_shape
def segments(acc_shape, dims, threads, target, max_blocks, what) -> Segments:
    """Launch plan of a reduction over some axes: ``acc_shape`` (aligned to ``dims``, 1 on reduced
    dims) is the accumulator's run-time shape."""
    kept, M, R = [], 1, 1
    for a, d in zip(acc_shape, dims):
        if a != 1 and a != d:
            raise ValueError(f"run-time shape {_format_shape(acc_shape)} of the reduction in {what} does not "
                             f"match the loop {_format_shape(dims)}")
        kept.append(1 if a != 1 else 0)
        if a != 1:
            M *= d
        else:
            R *= d
    G = 1
    while G < threads and 2 * G <= R and M * G < target:
        G *= 2
    blocks = max(1, min(-(-M // (threads // G)), max_blocks))
    return Segments(M, R, G, blocks, tuple(kept))


class View(NamedTuple):
    """A strided box inside a flat buffer; ``dims``/``strides``/``cstrides`` are padded to rank >= 1
    for the copy kernels."""
    shape: tuple
    base: int
    strides: tuple

    @property
    def size(self) -> int:
        return size(self.shape)

    @property
    def dims(self) -> tuple:
        return self.shape or (1,)

    @property
    def cstrides(self) -> tuple:
        return cstrides(self.shape, pad=True)


def _view(shape, base, strides) -> View:
    return View(tuple(shape), base, tuple(strides) or (0,))


@_per_shape
def permuted(shape, axes) -> View:
    st = cstrides(shape)
    return _view(tuple(shape[k] for k in axes), 0, tuple(st[k] for k in axes))


@_per_shape
def getitem_view(shape, index, what) -> View:
    """Basic indexing (ints, slices, None; already normalized) of a contiguous array of ``shape``."""
    st = cstrides(shape)
    base, out, out_st, dim = 0, [], [], 0
    for it in index:
        if it is None:
            out.append(1)
            out_st.append(0)
            continue
        d = shape[dim]
        if isinstance(it, int):
            i = it + d if it < 0 else it
            if not 0 <= i < d:
                raise IndexError(f"{what}: index {it} is out of bounds for axis {dim} with size {d}")
            base += i * st[dim]
        else:
            start, stop, step = it.indices(d)
            n = len(range(start, stop, step))
            if n:
                base += start * st[dim]
            out.append(n)
            out_st.append(step * st[dim])
        dim += 1
    return _view(out, base, out_st)


@_per_shape
def slot(shape, axis, start, part_shape) -> View:
    """The box of ``part_shape`` starting at ``start`` along ``axis`` in a contiguous array of ``shape``."""
    st = cstrides(shape)
    return _view(part_shape, start * st[axis], st)


@_per_shape
def reshape_shape(src, shape, what) -> tuple:
    n = size(src)
    shape = tuple(shape)
    if -1 in shape:
        rest = size(d for d in shape if d != -1)
        if rest == 0 or n % rest:
            raise ValueError(f"{what}: cannot reshape {_format_shape(src)} into {shape!r}")
        shape = tuple(n // rest if d == -1 else d for d in shape)
    if size(shape) != n:
        raise ValueError(f"{what}: cannot reshape {_format_shape(src)} (size {n}) into {_format_shape(shape)}")
    return shape


@_per_shape
def expand_shape(src, axes) -> tuple:
    out = list(src)
    for ax in axes:
        out.insert(ax, 1)
    return tuple(out)


@_per_shape
def squeeze_shape(src, axes, what) -> tuple:
    for ax in axes:
        if src[ax] != 1:
            raise ValueError(f"{what}: cannot squeeze axis {ax} of run-time size {src[ax]}")
    return tuple(d for i, d in enumerate(src) if i not in axes)


@_per_shape
def concat_shape(shapes, axis, what) -> tuple:
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != axis):
            raise ValueError(f"{what}: run-time shapes {', '.join(map(_format_shape, shapes))} differ outside "
                             f"axis {axis}")
    return tuple(sum(s[axis] for s in shapes) if i == axis else d for i, d in enumerate(first))


@_per_shape
def count(shape, axes) -> int:
    return size(shape[a] for a in axes)


class MatmulPlan(NamedTuple):
    shape: tuple
    M: int
    N: int
    K: int
    nb: int
    a_rs: int
    a_cs: int
    b_rs: int
    b_cs: int
    bd1: int
    bd2: int
    a_bst: tuple
    b_bst: tuple
    grid: tuple

    @property
    def size(self) -> int:
        return size(self.shape)


@_per_shape
def matmul_plan(a_sh, a_st, b_sh, b_st, tile, what, transposed=False) -> MatmulPlan:
    """numpy matmul semantics (1-D operands promoted, batch dims broadcast) as strides for the kernel.
    ``transposed``: plan ``b.T @ a.T`` (the kernel gets b first), which is ``(a @ b)`` with its last
    two axes swapped (both operands of rank >= 2)."""
    if len(a_sh) == 1:
        M, K, a_rs, a_cs, a_batch, a_bs = 1, a_sh[0], 0, a_st[0], (), ()
    else:
        M, K, a_rs, a_cs, a_batch, a_bs = a_sh[-2], a_sh[-1], a_st[-2], a_st[-1], a_sh[:-2], a_st[:-2]
    if len(b_sh) == 1:
        Kb, N, b_rs, b_cs, b_batch, b_bs = b_sh[0], 1, b_st[0], 0, (), ()
    else:
        Kb, N, b_rs, b_cs, b_batch, b_bs = b_sh[-2], b_sh[-1], b_st[-2], b_st[-1], b_sh[:-2], b_st[:-2]
    if K != Kb:
        raise ValueError(f"{what}: run-time shapes {_format_shape(a_sh)} and {_format_shape(b_sh)} are not "
                         f"aligned (inner dims {K} != {Kb})")
    rank = max(len(a_batch), len(b_batch))
    if rank > 3:
        raise NotImplementedError(f"{what}: cuda backend supports at most 3 batch dims in matmul")
    batch = []
    for i in range(-rank, 0):
        dims = [s[i] for s in (a_batch, b_batch) if len(s) >= -i]
        batch.append(bdim(dims[0], dims[-1], f"{what} batch dims {_format_shape(a_sh)} and {_format_shape(b_sh)}"))

    def batch_strides(dims, strides):
        out = [0] * (3 - rank)
        for i in range(-rank, 0):
            out.append(strides[i] if len(dims) >= -i and dims[i] != 1 else 0)
        return tuple(out)

    bd = [1] * (3 - rank) + batch
    nb = size(batch)
    a_bst, b_bst = batch_strides(a_batch, a_bs), batch_strides(b_batch, b_bs)
    if transposed:
        M, N, a_rs, a_cs, b_rs, b_cs, a_bst, b_bst = N, M, b_cs, b_rs, a_cs, a_rs, b_bst, a_bst
    shape = tuple(batch) + ((M,) if len(a_sh) >= 2 else ()) + ((N,) if len(b_sh) >= 2 else ())
    grid = (max(1, -(-N // tile)), max(1, -(-M // tile)), max(1, nb))
    if grid[1] > 65535 or grid[2] > 65535:
        raise NotImplementedError(f"{what}: matmul of {M} rows x {nb} batches exceeds the CUDA grid")
    return MatmulPlan(shape, M, N, K, nb, a_rs, a_cs, b_rs, b_cs, bd[1], bd[2], a_bst, b_bst, grid)


def empty(n: int, dtype):
    return _cuda().device_array(n, dtype)


def dcopy(buf):
    """A fresh device copy of a flat device buffer."""
    out = _cuda().device_array(buf.shape, buf.dtype)
    if buf.size:
        out.copy_to_device(buf)
    return out


def check_update(shape, expected, name):
    if tuple(shape) != tuple(expected):
        raise ValueError(f"update of Variable {name!r} has run-time shape {_format_shape(shape)}; expected "
                         f"{_format_shape(expected)} (no Variable was changed)")


class Workspace:
    """Intermediate buffers of one executable, kept across calls (sized by the last call that
    needed them). Output buffers too when ``reuse_outputs`` (the executable copies every output
    to the host before its next call): a steady-state call then allocates only its update
    values, which become the Variables' buffers. Sub-graph workspaces never reuse outputs (a
    loop's outputs are the next iteration's inputs)."""

    def __init__(self, reuse_outputs=False):
        self.buffers: dict = {}
        self.reuse_outputs = reuse_outputs

    def empty(self, name, n, dtype):
        buf = self.buffers.get(name)
        if buf is None or buf.shape[0] != n or buf.dtype != dtype:
            buf = self.buffers[name] = empty(n, dtype)
        return buf

    def out(self, name, n, dtype):
        """The buffer of output ``name``: fresh, or kept across calls when ``reuse_outputs``."""
        if not self.reuse_outputs:
            return empty(n, dtype)
        return self.empty(("out", name), n, dtype)

    def sub(self, name) -> "Workspace":
        """The workspace of the sub-graph driver function ``name`` (control flow), kept like a buffer."""
        ws = self.buffers.get(name)
        if ws is None:
            ws = self.buffers[name] = Workspace()
        return ws


# --- control flow (cuda_control): what the host loop and branch need --------------------------------
STACK_START = 16  # first capacity (rows) of a recorded stack when the trip count is unknown; doubles


def read_pred(buf) -> bool:
    """The value of a 1-element bool device buffer (a device-to-host copy: one synchronization)."""
    return bool(buf.copy_to_host()[0])


def read_int(buf) -> int:
    return int(buf.copy_to_host()[0])


def scalar(value, dtype):
    """A 1-element device buffer holding ``value``."""
    return _cuda().to_device(np.array([value], dtype))


def trip_count(lo: int, hi: int, step: int, limit=None) -> int:
    """Iterations of ``i = lo; while i < hi (step > 0) or i > hi (step < 0): i += step``."""
    gap = hi - lo if step > 0 else lo - hi
    n = max(0, -(-gap // abs(step)))
    return n if limit is None else min(n, limit)


def check_loop_var(k, new_shape, shape):
    if tuple(new_shape) != tuple(shape):
        raise ValueError(f"while_loop: loop variable {k} changed from shape {_format_shape(shape)} to "
                         f"{_format_shape(new_shape)} at run time")


class DeviceStack:
    """The rows a recording ``while_loop`` pushes (a loop variable's value at the start of each
    iteration), in one flat device buffer: ``capacity`` rows first (the trip count when it is
    known before the loop), doubling when full. Rows are copied device to device."""

    def __init__(self, row_shape, dtype, capacity=STACK_START):
        self.row_shape = tuple(row_shape)
        self.n = size(self.row_shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.buf = empty(max(1, capacity) * self.n, self.dtype)

    def push(self, value):
        n, used = self.n, self.rows * self.n
        if n:
            if used + n > self.buf.shape[0]:
                grown = empty(2 * self.buf.shape[0], self.dtype)
                if used:
                    grown[:used].copy_to_device(self.buf[:used])
                self.buf = grown
            self.buf[used:used + n].copy_to_device(value)
        self.rows += 1

    def value(self) -> tuple:
        """``(buffer, shape)`` of the stacked rows: shape ``(rows,) + row shape``."""
        return self.buf[:self.rows * self.n], (self.rows,) + self.row_shape


# --- device residency of Variables ------------------------------------------------------------------
def device_value(var):
    """The flat device copy of ``var``'s current value (uploaded when missing: a host write dropped it)."""
    buf = var._device
    if buf is None:
        buf = _cuda().to_device(np.ascontiguousarray(var._storage).reshape(-1))
        var._set_device(buf, newer=False)
    return buf


def set_device_value(var, buf):
    """An update computed on the device: the newest value, fetched by host readers when they ask."""
    var._set_device(buf, newer=True)


# --- the executable ---------------------------------------------------------------------------------
def _type_name(dtype) -> str:
    dt = np.dtype(dtype)
    return "boolean" if dt.kind == "b" else dt.name


def signature_text(kinds) -> str:
    parts = []
    for kind in kinds:
        if kind[0] == "i":
            parts.append("int64")
        elif kind[0] == "f":
            parts.append("float64")
        else:
            parts.append(f"{_type_name(kind[1])}[::1]")
    return f"void({', '.join(parts)})"


class _Timer:
    """Per-step timings (``run(arrays, timings)``): synchronizes after every launch group."""

    def __init__(self, timings):
        self.timings = timings
        _cuda().synchronize()
        self.t = now_ns()

    def __call__(self, name, ops):
        _cuda().synchronize()
        now = now_ns()
        self.timings.append((name, "entry" if name == "entry" else "kernel", ops, self.t, now - self.t))
        self.t = now


def _is_device_array(v) -> bool:
    return bool(getattr(v, "__cuda_ndarray__", False)) or hasattr(v, "__cuda_array_interface__")


class CudaExecutable(ExecutableBase):
    """Runs the generated driver; Variables stay on the device between calls."""

    timer = "the cuda backend's own step timing (synchronized after each launch group), from Python"

    def __init__(self, plan: KernelPlan, options: CompileOptions):
        require_available()
        from .cuda_codegen import GPU, SIMULATOR, CudaCodegen

        self.options = options
        self.plan = plan
        self.original = plan.original
        self.program = plan.program
        self.simulator = is_simulator()
        self.config = SIMULATOR if self.simulator else GPU
        cg = CudaCodegen(plan, self.config)
        self.source = cg.generate()
        self.args, self.signatures, self._names = cg.args, cg.signatures, dict(cg.idents)
        self.module, self.path, existed = _cache.load_module(self.source)
        self.stats = ExecStats(NAME, len(plan.program.nodes), len(plan.kernels), plan.fused_ops,
                               self._compile(existed), list(plan.pass_report))
        cuda = _cuda()
        self._variables = [node for _, node in self.args if node.op is VARIABLE]
        self._constants = [cuda.to_device(np.ascontiguousarray(node.attrs["value"]).reshape(-1))
                           for _, node in self.args if node.op is CONSTANT]
        self._targets = [var for var, _ in self.program.updates]
        self._keep_outputs = options.device_outputs
        # outputs copied to the host (the default) leave their device buffers free for the next
        # call: no device allocation per output and call; device outputs are the caller's
        self._ws = Workspace(reuse_outputs=not options.device_outputs)
        self._lock = threading.Lock()  # the workspace is per executable: one call at a time

    @property
    def cache_hit(self) -> bool:
        return bool(self.stats.cache_hit)

    def _compile(self, existed) -> bool:
        """Compile every kernel for the argument types it is launched with (on a GPU; the simulator
        interprets Python). True when the module was cached and no kernel had to be compiled."""
        if self.simulator:
            return existed
        with _cache.locked([self.module.__name__]):
            hit = compile_kernels(self.module, self.signatures) and existed
            _cache.record_compiled(self.module)  # the next process may load what Numba just wrote
        return hit

    def ptx(self, cc=(8, 0)) -> dict:
        """PTX of every kernel for compute capability ``cc`` (see :func:`kernel_ptx`)."""
        return kernel_ptx(self.module, self.signatures, cc)

    def step_names(self) -> dict:
        return self._names

    def convert_input(self, p, value):
        """numpy-convertible values as usual; device arrays are checked and stay on the device."""
        if not _is_device_array(value):
            return convert_input(p, value)
        if not getattr(value, "__cuda_ndarray__", False):
            value = _cuda().as_cuda_array(value)
        if value.dtype != p.dtype:
            return convert_input(p, value.copy_to_host())
        if len(value.shape) != len(p.shape) or any(d is not None and d != a for d, a in zip(p.shape, value.shape)):
            raise ValueError(f"input {p.name!r}: expected shape {_format_shape(p.shape)}, "
                             f"received {_format_shape(value.shape)}")
        return value

    # --- running -----------------------------------------------------------------------------------
    def _to_device(self, a, index):
        cuda = _cuda()
        if _is_device_array(a):
            if not getattr(a, "__cuda_ndarray__", False):
                a = cuda.as_cuda_array(a)
            if a.is_c_contiguous():
                return a.reshape(a.size), tuple(a.shape)
            a = a.copy_to_host()
        a = np.asarray(a)
        flat = np.ascontiguousarray(a).reshape(-1)
        # a host input goes into this input's device buffer of the last call (calls are
        # serialized; the copy is ordered after the last call's kernels on the stream): no
        # device allocation per input and call. The generated code never returns or keeps an
        # input's buffer (outputs and update values that are inputs are copied).
        buf = self._ws.empty(("in", index), flat.size, flat.dtype)
        if flat.size:
            buf.copy_to_device(flat)
        return buf, a.shape

    def run(self, arrays: list, timings=None):
        """Outputs (device arrays with ``CompileOptions(device_outputs=True)``); the updates are
        written on the device. ``timings``: one step per launch group (synchronized)."""
        with self._lock:
            return self._run(arrays, timings)

    def _run(self, arrays, timings):
        args = []
        for index, a in enumerate(arrays):
            args += self._to_device(a, index)
        args += [device_value(v) for v in self._variables]
        args += self._constants
        prof = _Timer(timings) if timings is not None else None
        outs, updates = self.module.entry(*args, self._ws, prof)
        keep = self._keep_outputs
        results = [buf.reshape(shape) if keep else buf.copy_to_host().reshape(shape) for buf, shape in outs]
        for var, buf in zip(self._targets, updates):
            set_device_value(var, buf)
        return results, ()


def compile_kernels(module, signatures) -> bool:
    """Compile each kernel of ``module`` for its signatures; True when none needed compiling (every
    one was in memory already or came from numba's disk cache). A kernel counts as compiled when
    its dispatcher's ``_cache_misses`` counter grows (or when the dispatcher has no counter)."""
    compiled = 0
    for name, sigs in signatures.items():
        disp = getattr(module, name)
        for kinds in sigs:
            text = signature_text(kinds)
            misses = getattr(disp, "_cache_misses", None)
            before = misses.get(text, 0) if misses is not None else None
            disp.compile(text)
            if misses is None or misses.get(text, 0) > before:
                compiled += 1
    return compiled == 0


def kernel_ptx(module, signatures, cc=(8, 0)) -> dict:
    """``{(kernel, signature): PTX}`` for a generated module: type-checks and compiles every kernel
    for a GPU of compute capability ``cc`` without needing one (NVVM is enough, e.g. from
    ``pip install numba-cuda[cu12]``); not available under the simulator."""
    import contextlib
    import sys
    cuda = _cuda()
    if not signatures:  # a graph of views and reshapes only: no kernel
        return {}
    patch = contextlib.nullcontext()
    if not cuda.is_available():
        # device functions called by a kernel compile for the current device's compute capability;
        # without a GPU, name the one asked for
        dispatcher = sys.modules[type(getattr(module, next(iter(signatures)))).__module__]
        if hasattr(dispatcher, "get_current_device"):
            from unittest import mock
            fake = type("Device", (), {"compute_capability": tuple(cc)})()
            patch = mock.patch.object(dispatcher, "get_current_device", lambda: fake)
    out = {}
    with patch:
        for name, sigs in signatures.items():
            disp = getattr(module, name)
            for kinds in sigs:
                text = signature_text(kinds)
                out[(name, text)] = cuda.compile_ptx(disp.py_func, text, cc=cc)[0]
    return out


def generate_for_gpu(program):
    """The GPU module for ``program`` without running anything: ``(module, signatures, source)``.
    Works on a machine without a GPU (kernels compile lazily), e.g. to look at or compile
    (:func:`kernel_ptx`) the code a GPU would run."""
    from ..passes.plan import make_plan
    from .cuda_codegen import GPU, generate
    source, _, signatures = generate(make_plan(program), GPU)
    module, _, _ = _cache.load_module(source)
    return module, signatures, source


def compile_plan(plan: KernelPlan, options: CompileOptions) -> CudaExecutable:
    return CudaExecutable(plan, options)

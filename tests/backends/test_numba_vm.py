"""Interpreted loop kernels (numba_vm): every op against the numpy backend, gradients through
them, reductions, broadcasting, and a deep chain past the fuse pass's cap."""
import weakref

import numpy as np
import pytest

import staticad as sad
from staticad import compiler
from staticad.backends import numba_vm, numba_vm_codegen
from staticad.passes import fuse

RTOL = {"float32": 2e-5, "float64": 1e-12}


@pytest.fixture
def interpret_all(monkeypatch):
    """Every interpretable kernel is interpreted, and no executable compiled before is reused."""
    monkeypatch.setattr(numba_vm_codegen, "MIN_OPS", 1)
    monkeypatch.setattr(compiler, "_COMPILED", weakref.WeakValueDictionary())


def _both(ins, outs, *args):
    f = sad.function(ins, outs, backend="numba")
    ref = sad.function(ins, outs, backend="numpy")
    return f, f(*args), ref(*args)


def _check(got, ref, dtype):
    for g, r in zip(got, ref):
        assert np.asarray(g).dtype == np.asarray(r).dtype
        np.testing.assert_allclose(g, r, rtol=RTOL[dtype], atol=RTOL[dtype])


UNARY = {
    "sin": (sad.sin, None), "cos": (sad.cos, None), "tan": (sad.tan, (-1.2, 1.2)), "tanh": (sad.tanh, None),
    "exp": (sad.exp, None), "log": (sad.log, (0.1, 5.0)), "log1p": (sad.log1p, (-0.5, 5.0)),
    "sqrt": (sad.sqrt, (0.1, 5.0)), "square": (sad.square, None), "abs": (sad.abs, None),
    "sign": (sad.sign, None), "relu": (sad.relu, None), "sigmoid": (sad.sigmoid, None),
    "negative": (sad.negative, None),
}
BINARY = {
    "add": sad.add, "subtract": sad.subtract, "multiply": sad.multiply, "divide": sad.divide,
    "maximum": sad.maximum, "minimum": sad.minimum, "power": sad.power,
}


def _values(rng, n, dtype, lo=-3.0, hi=3.0):
    return rng.uniform(lo, hi, n).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_and_their_gradients(interpret_all, name, dtype):
    fn, dom = UNARY[name]
    x = sad.placeholder((None,), dtype, name="x")
    y = fn(x * 1.0)
    loss = sad.sum(y)
    outs = [y, loss] + ([sad.grad(loss, x)] if name != "sign" else [])
    a = _values(np.random.default_rng(1), 1000, dtype, *(dom or (-3.0, 3.0)))
    f, got, ref = _both([x], outs, a)
    assert "_vm.run(" in f.source
    _check(got, ref, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_with_arrays_scalars_and_literals(interpret_all, name, dtype):
    fn = BINARY[name]
    x = sad.placeholder((None, 3), dtype, name="x")
    y = sad.placeholder((None, 3), dtype, name="y")
    s = sad.placeholder((), dtype, name="s")
    rng = np.random.default_rng(2)
    lo = 0.2 if name in ("power", "divide") else -2.0
    a, b = _values(rng, 60, dtype, lo, 2.0).reshape(20, 3), _values(rng, 60, dtype, lo, 2.0).reshape(20, 3)
    c = np.asarray(_values(rng, 1, dtype, 0.5, 1.5)[0])
    outs = [fn(x, y), fn(x, s), fn(1.5, y)]
    loss = sad.sum(outs[0]) + sad.sum(outs[1]) + sad.sum(outs[2])
    f, got, ref = _both([x, y, s], outs + [loss] + sad.grad(loss, [x, y, s]), a, b, c)
    assert "_vm.run(" in f.source
    _check(got, ref, dtype)


def test_operand_broadcast_at_run_time(interpret_all):
    x = sad.placeholder((None, None), "float64", name="x")
    b = sad.placeholder((None,), "float64", name="b")
    y = sad.tanh(x + b) * 2.0
    # (its gradient wrt x is a sum down to x's run-time shape: an array accumulator, compiled)
    f, got, ref = _both([x, b], [y, sad.sum(y)], np.ones((4, 3)) * 0.3, np.arange(3.0))
    assert "_vm.run(" in f.source
    _check(got, ref, "float64")
    with pytest.raises(ValueError):
        f(np.ones((4, 3)), np.ones(2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [0, 1, 511, 513, 4096 * 2 + 7])
def test_reductions_over_many_blocks(interpret_all, dtype, n):
    x = sad.placeholder((None,), dtype, name="x")
    h = sad.sin(x) + 1.5
    outs = [sad.sum(h), sad.prod(h * 0.5 + 0.5), sad.norm(h)]
    if n:
        outs += [sad.max(h), sad.min(h)]
    a = _values(np.random.default_rng(3), n, dtype)
    f, got, ref = _both([x], outs, a)
    assert "_vm.run(" in f.source
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-4 if dtype == "float32" else 1e-10)


def test_interpreted_matches_compiled_kernels_bitwise_for_single_ops(monkeypatch):
    x = sad.placeholder((None,), "float32", name="x")
    outs = [fn(x) for name, (fn, dom) in sorted(UNARY.items()) if dom is None]
    a = _values(np.random.default_rng(4), 5000, "float32", -20, 20)
    compiled = sad.function([x], outs, backend="numba")(a)
    monkeypatch.setattr(numba_vm_codegen, "MIN_OPS", 1)
    monkeypatch.setattr(compiler, "_COMPILED", weakref.WeakValueDictionary())
    f = sad.function([x], outs, backend="numba")
    interpreted = f(a)
    assert "_vm.run(" in f.source
    for c, i in zip(compiled, interpreted):
        np.testing.assert_array_max_ulp(c, i, maxulp=1)


def test_deep_chain_and_gradient_is_one_interpreted_kernel():
    x = sad.placeholder((None,), "float32", name="x")
    h = x
    for i in range(200):
        h = sad.sin(h) if i % 2 == 0 else sad.tanh(h) * 1.01
    loss = sad.sum(h)
    a = np.random.default_rng(5).standard_normal(1500).astype(np.float32)
    f, got, ref = _both([x], [loss, sad.grad(loss, x)], a)
    assert f.stats["kernels"] == 1 and f.stats["fused_ops"] > fuse.MAX_KERNEL_OPS
    assert "_vm.run(" in f.source and "def k_" not in f.source  # nothing compiled per op
    _check(got, ref, "float32")


def test_fuse_cap_holds_for_nodes_the_backend_cannot_run_long():
    x = sad.placeholder((None,), "float32", name="x")
    h = x
    for _ in range(300):
        h = sad.sin(h)
    program = sad.function([x], [h], backend="numpy")
    prog = next(v for v in vars(program).values() if type(v).__name__ == "Program")
    capped = fuse.fuse_elementwise(prog)
    assert max(len(k.nodes()) for k in capped.kernels) <= fuse.MAX_KERNEL_OPS
    long = fuse.fuse_elementwise(prog, numba_vm_codegen.interpretable)
    assert len(long.kernels) == 1
    # one node the backend cannot run long: its kernel keeps the cap, the next one grows past it
    some = fuse.fuse_elementwise(prog, lambda n: n.op.name != "sin" or n.inputs[0] is not x)
    sizes = [len(k.nodes()) for k in some.kernels]
    assert sizes == [fuse.MAX_KERNEL_OPS, 300 - fuse.MAX_KERNEL_OPS]


def test_program_disassembles():
    x = sad.placeholder((None,), "float64", name="x")
    f = sad.function([x], [sad.sum(sad.exp(x) * 2.0)], backend="numpy")
    prog = next(v for v in vars(f).values() if type(v).__name__ == "Program")
    k = fuse.fuse_elementwise(prog).kernels[0]
    code, consts = numba_vm_codegen._program(k, {k.members[1].inputs[1]: "2.0"}, {k.members[1].inputs[1]},
                                             {x: 0}, ["x"], str)
    text = "\n".join(numba_vm_codegen.disassemble(code, consts))
    assert "r0 = 2.0" in text and "exp(" in text and "total0 sum= " in text
    assert len(code) == numba_vm.WIDTH * (1 + code[0] + code[1])


def test_threads_change_no_result_bit(interpret_all):
    from staticad.backends.numba_source import PARALLEL_MIN
    x = sad.placeholder((None,), "float32", name="x")
    h = sad.tanh(sad.sin(x) * 1.5)
    loss = sad.sum(h) + sad.max(h)
    f = sad.function([x], [h, loss, sad.grad(loss, x)], backend="numba")
    a = np.random.default_rng(6).standard_normal(PARALLEL_MIN + 4096 * 3 + 5).astype(np.float32)
    serial = f(a)    # the serial entry point, which asks for the threaded one
    threaded = f(a)  # entry_par: groups of elements on threads
    assert "def vm_run_par(" in f.source
    for s, t in zip(serial, threaded):
        np.testing.assert_array_equal(s, t)
    ref = sad.function([x], [h, loss, sad.grad(loss, x)], backend="numpy")(a)
    _check(threaded, ref, "float32")


def test_boolean_scalar_operands_are_interpreted(interpret_all):
    """A boolean computed before the loop (``s == 0`` of a 0-d input, from power's gradient)
    is a 0.0/1.0 register: the kernel reading it is still interpreted."""
    x = sad.placeholder((None, 3), "float64", name="x")
    s = sad.placeholder((), "float64", name="s")
    y = sad.where(s == 0.0, x * 2.0, sad.exp(x) - s)
    f, got, ref = _both([x, s], [y, sad.sum(y)], np.linspace(-1, 1, 60).reshape(20, 3), np.asarray(0.5))
    assert "_vm.run(" in f.source
    k = next(k for k in f._exec.plan.kernels if k.sym)
    assert any(o.dtype == bool and o.ndim == 0 for o in k.operands)
    _check(got, ref, "float64")
    ref_f = sad.function([x, s], [y, sad.sum(y)], backend="numpy")
    for sv in (0.0, 1.5):
        for g, r in zip(f(np.ones((4, 3)), np.asarray(sv)), ref_f(np.ones((4, 3)), np.asarray(sv))):
            np.testing.assert_allclose(g, r, rtol=1e-12)

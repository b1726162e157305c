"""Graph size is never limited by Python's recursion limit: every pass, walker and code
generator over the graph is iterative. The walkers run under a recursion limit far below the
graph's depth; a recursive one raises RecursionError."""
import sys

import numpy as np
import pytest

import staticad as sad

DEPTH = 3000


def _chain(x, depth):
    y = x
    for i in range(depth):
        y = y + sad.sin(y) * 0.001 if i % 2 else y * 1.0001 - 0.0001
    return y


def _reference(v, depth):
    y = v
    for i in range(depth):
        y = y + np.sin(y) * 0.001 if i % 2 else y * 1.0001 - 0.0001
    return y


class _shallow_stack:
    """A recursion limit 150 frames above the current depth (far below the graph's depth)."""

    def __enter__(self):
        depth, frame = 0, sys._getframe()
        while frame is not None:
            depth, frame = depth + 1, frame.f_back
        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(depth + 150)

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.old)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_two_hundred_independent_outputs(backend):
    x = sad.placeholder((None,), "float64", name="x")
    outs = [x * float(i) if i % 2 else sad.sum(x * float(i)) for i in range(200)]
    f = sad.function([x], outs, backend=backend)
    v = np.arange(3.0)
    got = f(v)
    assert len(got) == 200
    for i in (0, 1, 198, 199):
        np.testing.assert_allclose(got[i], v * i if i % 2 else np.sum(v * i))


def test_deep_chain_and_its_gradient_numpy():
    x = sad.placeholder((None,), "float64", name="x")
    with _shallow_stack():
        y = _chain(x, DEPTH)
        g = sad.grad(sad.sum(y), x)
        f = sad.function([x], [y, g], backend="numpy")
        out, grad = f(np.array([0.1, -0.2]))
    np.testing.assert_allclose(out, _reference(np.array([0.1, -0.2]), DEPTH), rtol=1e-12)
    eps = 1e-6
    fd = (_reference(np.array([0.1 + eps]), DEPTH) - _reference(np.array([0.1 - eps]), DEPTH)) / (2 * eps)
    np.testing.assert_allclose(grad[0], fd[0], rtol=1e-5)


def test_numba_passes_and_codegen_are_iterative_on_a_deep_chain():
    # the numba backend's own walkers (optimize, fuse, codegen, dot) on a deep chain and its
    # gradient; compiling the result is Numba's time, left to the test above's scale
    from staticad.backends.numba_codegen import generate
    from staticad.passes import optimize
    from staticad.passes.fuse import fuse_elementwise
    x = sad.placeholder((None,), "float64", name="x")

    def pipeline(depth):
        y = _chain(x, depth)
        outs = [y, sad.grad(sad.sum(y), x)]
        program = sad.function([x], outs, backend="numpy").program
        optimized, _ = optimize(program)
        return generate(fuse_elementwise(optimized))[0], sad.to_dot(outs)

    pipeline(2)  # imports (numba's own are deep but do not grow with the graph) before the limit
    with _shallow_stack():
        source, dot = pipeline(400)
    compile(source, "<generated>", "exec")
    assert "def entry(" in source and dot.count("->") > 800


def test_a_long_elementwise_chain_is_split_into_bounded_kernels():
    # one kernel fusing a 1000-op chain made Numba take 23 GB; kernels stay below the cap
    from staticad.passes import optimize
    from staticad.passes.fuse import MAX_KERNEL_OPS, fuse_elementwise
    x = sad.placeholder((None,), "float64", name="x")
    y = _chain(x, 400)
    program = sad.function([x], [y, sad.grad(sad.sum(y), x)], backend="numpy").program
    plan = fuse_elementwise(optimize(program)[0])
    sizes = [len(k.members) + len(k.sinks) for k in plan.kernels]
    assert len(sizes) > 1 and max(sizes) <= MAX_KERNEL_OPS + 8, sizes  # + cheap values recomputed

"""fuse_gemm_updates: ``W - lr * (a @ b)`` update values become one ``gemm_update`` node."""
import numpy as np
import pytest

import staticad as sad
from staticad.passes import optimize
from staticad.passes.gemm_update import fuse_gemm_updates
from staticad.passes.plan import make_plan

from .helpers import assert_same_values, op_counts, program

RNG = np.random.default_rng(15)


def _mlp(dtype="float32", momentum=0.0, batch=None, lr=0.01, extra_outputs=()):
    """A linear-relu-linear SGD step (the bench's mlp, small); returns (inputs, outputs, updates, arrays)."""
    w1 = sad.Variable(RNG.standard_normal((7, 5)).astype(dtype), name="W1")
    b1 = sad.Variable(RNG.standard_normal(5).astype(dtype), name="b1")
    w2 = sad.Variable(RNG.standard_normal((5, 3)).astype(dtype), name="W2")
    x = sad.placeholder((batch, 7), dtype, name="x")
    t = sad.placeholder((batch, 3), dtype, name="t")
    h = sad.relu(x @ w1 + b1)
    loss = ((h @ w2 - t) ** 2).sum()
    params = [w1, b1, w2]
    updates = sad.optim.SGD(lr, momentum=momentum).updates(loss, params)
    arrays = [RNG.standard_normal((4, 7)).astype(dtype), RNG.standard_normal((4, 3)).astype(dtype)]
    outputs = [loss] + [f(params) for f in extra_outputs]
    return [x, t], outputs, updates, arrays, params


def _fused(prog):
    return fuse_gemm_updates(optimize(prog)[0])


@pytest.mark.parametrize("batch", [None, 4])
def test_fires_on_sgd_weight_updates(batch):
    inputs, outputs, updates, arrays, _ = _mlp(batch=batch)
    before = optimize(program(inputs, outputs, updates))[0]
    after = fuse_gemm_updates(before)
    counts = op_counts(after)
    assert counts.get("gemm_update") == 2  # W1 and W2; b1's update has no product
    assert counts.get("matmul", 0) == op_counts(before)["matmul"] - 2
    by_var = {v.name: val for v, val in after.updates}
    assert by_var["W1"].op.name == "gemm_update" and by_var["b1"].op.name == "subtract"
    assert by_var["W1"].attrs["alpha"] == pytest.approx(-0.01)
    assert_same_values(before, after, arrays, rtol=1e-5, atol=1e-6)


def test_momentum_update_fires_with_alpha_one():
    inputs, outputs, updates, arrays, _ = _mlp(dtype="float64", momentum=0.9)
    before = optimize(program(inputs, outputs, updates))[0]
    after = fuse_gemm_updates(before)
    fused = [val for _, val in after.updates if val.op.name == "gemm_update"]
    # v_new = 0.9 * v + grad (read by the weight update too, still a product read once)
    assert sorted(val.attrs["alpha"] for val in fused) == [1.0, 1.0]
    assert_same_values(before, after, arrays, rtol=1e-12, atol=1e-12)


def test_does_not_fire_when_the_product_has_another_reader():
    inputs, outputs, updates, arrays, params = _mlp()
    w1 = params[0]
    loss = outputs[0]
    g1 = sad.grad(loss, w1)  # the same product the W1 update scales: CSE makes it one node
    before = optimize(program(inputs, [loss, g1], updates))[0]
    after = fuse_gemm_updates(before)
    by_var = {v.name: val for v, val in after.updates}
    assert by_var["W1"].op.name == "subtract"  # its product is an output too
    assert by_var["W2"].op.name == "gemm_update"
    assert_same_values(before, after, arrays, rtol=1e-5, atol=1e-6)


def test_does_not_fire_outside_updates_or_on_broadcasts_or_zero_rate():
    a = sad.placeholder((3, 4), "float32", name="a")
    b = sad.placeholder((4, 2), "float32", name="b")
    c = sad.placeholder((3, 2), "float32", name="c")
    row = sad.Variable(np.zeros((1, 2), np.float32), name="row")
    w = sad.Variable(np.zeros((3, 2), np.float32), name="w")
    prog = program([a, b, c], [c - 0.5 * (a @ b)],
                   [(row, row - 0.5 * (a @ b)),            # row broadcasts against the product
                    (w, w - 0.0 * (a @ b))])               # alpha 0: BLAS would skip a NaN product
    after = fuse_gemm_updates(prog)
    assert "gemm_update" not in op_counts(after)


def test_plan_runs_the_pass():
    inputs, outputs, updates, _, _ = _mlp()
    plan = make_plan(program(inputs, outputs, updates))
    assert op_counts(plan.program)["gemm_update"] == 2
    assert plan.pass_report[-1].name == "fuse_gemm_updates"


def _run_steps(backend, dtype, momentum, steps=3, **kw):
    global RNG
    RNG = np.random.default_rng(7)
    inputs, outputs, updates, arrays, params = _mlp(dtype=dtype, momentum=momentum, **kw)
    f = sad.function(inputs, outputs, updates=updates, backend=backend)
    losses = [f(*arrays)[0] for _ in range(steps)]
    return losses, [p.value.copy() for p in params], f


@pytest.mark.parametrize("dtype, momentum", [("float32", 0.0), ("float64", 0.0), ("float32", 0.9)])
def test_numba_matches_the_numpy_backend_over_steps(dtype, momentum):
    ref_losses, ref_params, _ = _run_steps("numpy", dtype, momentum)
    losses, params, f = _run_steps("numba", dtype, momentum)
    assert "_rt.gemm_update(" in f.source
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(losses, ref_losses, rtol=tol)
    for got, want in zip(params, ref_params):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_numba_update_value_that_is_also_an_output():
    # the new W1 is returned too: no swap buffer, the step writes a fresh array
    w = sad.Variable(np.arange(6.0).reshape(3, 2), name="w")
    a = sad.placeholder((3, 4), "float64", name="a")
    b = sad.placeholder((4, 2), "float64", name="b")
    new = w - 0.25 * (a @ b)
    av, bv = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    want = np.arange(6.0).reshape(3, 2) - 0.25 * (av @ bv)
    f = sad.function([a, b], new, updates=[(w, new)])
    assert "_rt.gemm_update(" in f.source
    out = f(av, bv)
    np.testing.assert_allclose(out, want, rtol=1e-12)
    np.testing.assert_allclose(w.value, want, rtol=1e-12)
    out[...] = 0  # the output is not the Variable's storage
    np.testing.assert_allclose(w.value, want, rtol=1e-12)


def _update_inputs():
    """w (3, 2) and the placeholders of ``w - 0.5 * (a @ b)`` plus two of run-time length."""
    w = sad.Variable(np.arange(6.0, dtype=np.float32).reshape(3, 2), name="w")
    a = sad.placeholder((3, 4), "float32", name="a")
    b = sad.placeholder((4, 2), "float32", name="b")
    u = sad.placeholder((None,), "float32", name="u")
    v = sad.placeholder((None,), "float32", name="v")
    return w, a, b, u, v


def _failing_call_changes_nothing(f, w):
    """u, v of different lengths make the call fail: w keeps its value; then a call that works."""
    av, bv = RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal((4, 2)).astype(np.float32)
    before = w.value.copy()
    with pytest.raises(ValueError):
        f(av, bv, np.ones(3, np.float32), np.ones(2, np.float32))
    np.testing.assert_array_equal(w.value, before)
    f(av, bv, np.ones(3, np.float32), np.ones(3, np.float32))
    np.testing.assert_allclose(w.value, before - 0.5 * (av @ bv), rtol=1e-5, atol=1e-6)


def test_failing_call_leaves_the_variable_unchanged():
    w, a, b, u, v = _update_inputs()
    new = w - 0.5 * (a @ b)
    # the failing broadcast reads the fused update, so it runs after the GEMM wrote its buffer
    out = (sad.sum(new) + u) + v
    f = sad.function([a, b, u, v], out, updates=[(w, new)])
    assert "_rt.gemm_update(" in f.source
    _failing_call_changes_nothing(f, w)


def test_failing_call_leaves_an_in_place_update_unchanged():
    # nothing else reads the new w: the GEMM accumulates into w's own storage, in the epilogue
    w, a, b, u, v = _update_inputs()
    f = sad.function([a, b, u, v], (sad.sum(a) + u) + v, updates=[(w, w - 0.5 * (a @ b))])
    assert "accumulated into in the epilogue" in f.source
    _failing_call_changes_nothing(f, w)


def test_products_of_variables_updated_in_place_read_their_old_values():
    # w1's product reads w2 (a view), w2's reads w1 and w2 itself: no GEMM may see a new value
    def run(backend):
        rng = np.random.default_rng(5)
        w1 = sad.Variable(rng.standard_normal((3, 3)), name="w1")
        w2 = sad.Variable(rng.standard_normal((3, 3)), name="w2")
        x = sad.placeholder((3, 3), "float64", name="x")
        f = sad.function([x], sad.sum(x), updates=[(w1, w1 - 0.1 * (sad.transpose(w2) @ x)),
                                                   (w2, w2 - 0.2 * (w1 @ w2))], backend=backend)
        xv = rng.standard_normal((3, 3))
        for _ in range(3):
            f(xv)
        return w1.value, w2.value, f

    want1, want2, _ = run("numpy")
    got1, got2, f = run("numba")
    assert f.source.count("_rt.gemm_update(") == 2
    np.testing.assert_allclose(got1, want1, rtol=1e-12)
    np.testing.assert_allclose(got2, want2, rtol=1e-12)

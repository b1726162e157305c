"""optimize: the whole pipeline, on the TinyModel training step and on random graphs."""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import staticad as sad
from staticad.passes import PassStat, format_report, optimize

from .helpers import assert_same_values, op_counts, program


def tiny_model_step():
    """TinyModel: batch x (None, 1000) -> 100 (relu) -> 10, sum of squared errors, one SGD step."""
    rng = np.random.default_rng(0)
    x = sad.placeholder((None, 1000), name="x")
    y = sad.placeholder((None, 10), name="y")
    w1 = sad.Variable(rng.normal(size=(1000, 100)).astype("float32") * 0.03, name="W1")
    b1 = sad.Variable(rng.normal(size=100).astype("float32") * 0.1, name="b1")
    w2 = sad.Variable(rng.normal(size=(100, 10)).astype("float32") * 0.1, name="W2")
    b2 = sad.Variable(np.zeros(10, "float32"), name="b2")
    out = sad.relu(x @ w1 + b1) @ w2 + b2
    loss = ((out - y) ** 2).sum()
    updates = sad.optim.SGD(0.001).updates(loss, [w1, b1, w2, b2])
    return program([x, y], [loss], updates)


def test_tiny_model_training_step():
    before = tiny_model_step()
    after, report = optimize(before)

    assert all(isinstance(s, PassStat) for s in report)
    names = [s.name for s in report]
    assert names[:4] == ["prune_to_outputs", "fold_constants", "simplify", "eliminate_common_subexpressions"]
    assert report[0].nodes_before == len(before.nodes) and report[-1].nodes_after == len(after.nodes)
    assert all(a.nodes_after == b.nodes_before for a, b in zip(report, report[1:]))
    assert len(after.nodes) < len(before.nodes)
    print("\n" + format_report(report))

    counts = op_counts(after)
    assert "broadcast_like" not in counts and "full_like" not in counts and "expand_dims" not in counts
    # kept: out - y back to out (y's batch may be 1), and the bias gradients of b1 and b2
    assert counts["sum_to_like"] == 3
    assert counts["constant"] == 3                      # 2.0, 0.0 (relu') and the shared lr
    assert counts["matmul"] == 5 and counts["relu"] == 1

    rng = np.random.default_rng(1)
    xs = rng.normal(size=(8, 1000)).astype("float32")
    assert_same_values(before, after, [xs, rng.normal(size=(8, 10)).astype("float32")])
    assert_same_values(before, after, [xs, rng.normal(size=(1, 10)).astype("float32")])


def test_optimize_is_idempotent_on_its_result():
    after, _ = optimize(tiny_model_step())
    again, report = optimize(after)
    assert len(again.nodes) == len(after.nodes)
    assert all(s.removed == 0 for s in report)


# --- random graphs: optimized and unoptimized programs give the same numbers ------------------------
BATCHES = (4, 1)  # run-time size of each input's None dim: a batch of 1 broadcasts against 4
SHAPES = [(None, 3), (3,), ()]
W = np.linspace(-1.0, 1.0, 9).reshape(3, 3)

UNARY = [
    sad.sin, sad.cos, sad.tanh, sad.sigmoid, sad.negative, sad.square, sad.relu, sad.abs,
    lambda t: sad.exp(sad.tanh(t)), lambda t: sad.log1p(sad.square(t)),
    lambda t: t * 1.0, lambda t: 0.0 + t, lambda t: t - 0.0, lambda t: t / 1.0, lambda t: -(-t),
    lambda t: t * -1.0, lambda t: t ** 1.0, lambda t: t ** 2.0, sad.stop_gradient,
    lambda t: sad.ones_like(t) * t, lambda t: t + sad.zeros_like(t),
    lambda t: sad.astype(sad.astype(t, "float32"), "float64"),
    lambda t: sad.where(t > 0, t, sad.zeros_like(t)),
    lambda t: t * sad.constant(np.ones(3)) if t.ndim and t.shape[-1] == 3 else t * 2.0,
]
BINARY = [
    sad.add, sad.subtract, sad.multiply, sad.maximum, sad.minimum,
    lambda a, b: a / (1.0 + sad.square(b)), lambda a, b: sad.where(a > b, a, b),
    lambda a, b: sad.ones_like(a) * b, lambda a, b: b + sad.zeros_like(a),
]
REDUCTIONS = [
    lambda t: t.sum(), lambda t: t.mean(), lambda t: t.max(),
    lambda t: t.sum(axis=0), lambda t: t.mean(axis=0), lambda t: t.sum(axis=-1, keepdims=True),
    lambda t: t.max(axis=-1, keepdims=True), lambda t: sad.ops.broadcast_like(2.0 * t.sum(), t).sum(),
]


def _matmul(t):
    if t.ndim >= 1 and t.shape[-1] == 3:
        return t @ sad.constant(W)
    return None


def _build(data):
    n_inputs = data.draw(st.integers(1, 3), label="inputs")
    shapes = [data.draw(st.sampled_from(SHAPES), label=f"shape{k}") for k in range(n_inputs)]
    inputs = [sad.placeholder(s, "float64", name=f"in{k}") for k, s in enumerate(shapes)]
    pool = list(inputs)
    for _ in range(data.draw(st.integers(5, 40), label="ops")):
        kind = data.draw(st.sampled_from(["unary", "binary", "binary", "reduce", "matmul"]))
        a = data.draw(st.sampled_from(pool))
        if kind == "unary":
            new = data.draw(st.sampled_from(UNARY))(a)
        elif kind == "binary":
            b = data.draw(st.sampled_from(pool))
            new = data.draw(st.sampled_from(BINARY))(a, b)
        elif kind == "reduce":
            if a.ndim == 0:
                continue
            new = data.draw(st.sampled_from(REDUCTIONS))(a)
            if new.ndim == 1 and new.shape[0] is None:   # (None,) would not broadcast with (3,)
                continue
        else:
            new = _matmul(a)
            if new is None:
                continue
        pool.append(new)
    picks = data.draw(st.lists(st.sampled_from(pool[n_inputs:] or pool), min_size=1, max_size=3))
    outputs = [pool[-1]] + picks
    loss = sad.add(*[o.sum() for o in outputs[:2]]) if len(outputs) > 1 else outputs[0].sum()
    grads = sad.grad(loss, inputs)
    return inputs, shapes, outputs + [loss] + list(grads)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31 - 1))
def test_random_graphs_and_their_gradients_evaluate_the_same(data, seed):
    inputs, shapes, outputs = _build(data)
    before = program(inputs, outputs)
    after, report = optimize(before)
    assert report[-1].nodes_after == len(after.nodes)
    rng = np.random.default_rng(seed)
    batches = [data.draw(st.sampled_from(BATCHES), label=f"batch{k}") for k in range(len(shapes))]
    arrays = [rng.normal(size=tuple(n if d is None else d for d in s)) for s, n in zip(shapes, batches)]
    assert_same_values(before, after, arrays, rtol=1e-10, atol=1e-12)

"""sad.save / sad.load (API.md §10): round trips give the same source and numbers; bad files are
ValueErrors naming the defect; nothing is pickled or run while loading."""
import base64
import json
from collections import namedtuple

import numpy as np
import pytest

import staticad as sad
from staticad import serialize

BACKENDS = ["numpy", "numba"]


def mlp_training_step(optimizer):
    """A TinyModel-like training step (float32) with its optimizer's updates."""
    rng = np.random.default_rng(0)
    x = sad.placeholder((None, 20), name="x")
    y = sad.placeholder((None, 3), name="y")
    w1 = sad.Variable(rng.normal(size=(20, 8)).astype("float32") * 0.3, name="W1")
    b1 = sad.Variable(np.zeros(8, "float32"), name="b1")
    w2 = sad.Variable(rng.normal(size=(8, 3)).astype("float32") * 0.3, name="W2")
    out = sad.relu(x @ w1 + b1) @ w2
    loss = ((out - y) ** 2).mean()
    updates = optimizer.updates(loss, [w1, b1, w2])
    data = (rng.normal(size=(5, 20)).astype("float32"), rng.normal(size=(5, 3)).astype("float32"))
    return [x, y], loss, updates, data


def control_flow_graph():
    """while + cond + a captured Variable, differentiated (recorded stacks, nested sub-graphs)."""
    a = sad.placeholder((4,), dtype="float64", name="a")
    w = sad.Variable(np.array([0.9, 1.1, 0.7, 1.3]), name="w", dtype="float64")
    b = sad.while_loop(lambda b: b.norm() < 100.0, lambda b: b * 2 + sad.sin(b) * w, a * 2)
    c = sad.cond(b.sum() > 0, lambda b: b[1:3].sum() * w[0], lambda b: 100 * b.max(), b)
    fl = sad.fori_loop(0, 3, lambda i, v: v * 1.5 + sad.cond(v.sum() > 0, lambda q: q, lambda q: -q, v), a)
    loss = c + fl.sum() + sad.full((2,), float("inf"), "float64").min() * 0
    grads = sad.grad(loss, [a, w])
    return [a], {"loss": loss, "grads": grads}, np.array([0.3, -0.2, 0.5, 0.1])


def roundtrip(obj, tmp_path, **kw):
    path = tmp_path / "g.json"
    sad.save(path, obj, **kw)
    return sad.load(path), path


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_training_step_round_trip_same_source_and_numbers(tmp_path, backend, opt):
    make = (lambda: sad.optim.SGD(0.1, momentum=0.9)) if opt == "sgd" else (lambda: sad.optim.Adam(0.01))
    inputs, loss, updates, data = mlp_training_step(make())
    f = sad.function(inputs, loss, updates=updates, backend=backend, name="train")
    g, _ = roundtrip(f, tmp_path)
    f2 = g.function(backend=backend)
    assert f2.source == f.source
    assert [p.name for p in g.inputs] == ["x", "y"]
    assert sorted(v.name for v in g.variables) == sorted({v.name for v, _ in updates} | {"W1", "b1", "W2"})
    for _ in range(3):  # state (momentum / Adam moments and step count) travels and evolves alike
        np.testing.assert_array_equal(f(*data), f2(*data))
    for var, _ in updates:
        np.testing.assert_array_equal(g.variable(var.name).value, var.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_control_flow_round_trip_same_source_and_numbers(tmp_path, backend):
    inputs, outputs, av = control_flow_graph()
    f = sad.function(inputs, outputs, backend=backend)
    g, path = roundtrip(f, tmp_path)
    doc = json.loads(path.read_text())
    assert any("subgraph" in e for e in doc["nodes"])
    f2 = g.function(backend=backend)
    assert f2.source == f.source
    r1, r2 = f(av), f2(av)
    assert set(r2) == {"loss", "grads"} and isinstance(r2["grads"], list)
    np.testing.assert_array_equal(r1["loss"], r2["loss"])
    for x, y in zip(r1["grads"], r2["grads"]):
        np.testing.assert_array_equal(x, y)


def test_outputs_form_and_structure(tmp_path):
    x = sad.placeholder((None, 3), name="x")
    k = sad.placeholder((), dtype="int64", name="k")
    c = sad.constant(np.arange(6, dtype="int32").reshape(2, 3), name="c")
    P = namedtuple("P", "a b")
    outs = P(a=[x[:, ::2].sum(axis=0, keepdims=True), x.T[None, ..., 1]], b=(c.astype("float32") * k, sad.equal(k, 2)))
    g, _ = roundtrip(outs, tmp_path)
    assert [p.name for p in g.inputs] == ["x", "k"]  # the placeholders the outputs reach, in graph order
    assert isinstance(g.outputs, tuple) and isinstance(g.outputs[0], list)  # namedtuples come back as tuples
    xv = np.arange(12, dtype="float32").reshape(4, 3)
    want = sad.function([x, k], outs, backend="numpy")(xv, 2)
    got = g.function(backend="numpy")(xv, 2)
    for a, b in zip(sum(map(list, want), []), sum(map(list, got), [])):
        np.testing.assert_array_equal(a, b)
    assert got[1][0].dtype == want[1][0].dtype and got[1][1].dtype == np.bool_


def test_explicit_inputs_order_and_updates_only(tmp_path):
    a = sad.placeholder((2,), name="a")
    b = sad.placeholder((2,), name="b")
    v = sad.Variable(np.ones(2, "float32"), name="v", trainable=False)
    g, _ = roundtrip(None, tmp_path, inputs=[b, a], updates={v: v + a - b})
    assert [p.name for p in g.inputs] == ["b", "a"]
    assert g.variable("v").trainable is False
    f = g.function(backend="numpy")
    assert f(np.ones(2, "float32"), np.full(2, 3, "float32")) is None
    np.testing.assert_array_equal(g.variable("v").value, [3, 3])
    np.testing.assert_array_equal(v.value, [1, 1])  # the loaded Variables are new ones


def test_deep_graph_does_not_recurse(tmp_path):
    x = sad.placeholder((), dtype="float64", name="x")
    y = x
    for i in range(5000):
        y = y * 1.0001 + 1e-6 if i % 2 else sad.sin(y)
    g, _ = roundtrip(y, tmp_path)
    assert len(json.loads((tmp_path / "g.json").read_text())["nodes"]) > 10000


def test_document_is_strict_json_with_format_and_version():
    inputs, loss, updates, _ = mlp_training_step(sad.optim.Adam())
    text = serialize.dumps(loss, inputs=inputs, updates=updates)
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["format"] == "staticad.graph" and doc["version"] == serialize.VERSION
    assert serialize.document_hash(text) == serialize.document_hash(serialize.dumps(loss, inputs=inputs, updates=updates))


# --- defects: each a ValueError naming it -----------------------------------------------------------
@pytest.fixture(scope="module")
def doc():
    x = sad.placeholder((None, 3), name="x")
    w = sad.Variable(np.ones((3, 2), "float64"), name="w")
    y = sad.cond(x.sum() > 0, lambda t: t @ w, lambda t: t @ w * 2, x.astype("float64"))
    return json.loads(serialize.dumps({"y": y.sum()}, inputs=[x]))


def _entry(doc, op):
    return next(e for e in doc["nodes"] if e.get("op") == op)


def _tamper(doc, edit):
    d = json.loads(json.dumps(doc))
    edit(d)
    return json.dumps(d)


def test_valid_document_loads(doc):
    assert serialize.loads(json.dumps(doc)).inputs[0].name == "x"


@pytest.mark.parametrize("edit, message", [
    (lambda d: _entry(d, "matmul").update(op="evil_op"), "unknown op 'evil_op'"),
    (lambda d: _entry(d, "matmul")["inputs"].pop(), "do not fit op matmul"),
    (lambda d: _entry(d, "sum").update(shape=[7]), "inference gives"),
    (lambda d: _entry(d, "astype").update(dtype="float16"), "inference gives"),
    (lambda d: _entry(d, "variable").update(data=base64.b64encode(b"\0" * 40).decode()), "holds 40 bytes"),
    (lambda d: _entry(d, "variable").update(data="not base64!"), "not valid base64"),
    (lambda d: _entry(d, "variable").update(dtype="object"), "unsupported dtype"),
    (lambda d: _entry(d, "astype")["attrs"].update(dtype={"pickle": "x"}), "unknown attribute encoding"),
    (lambda d: _entry(d, "cond")["attrs"].update(true={"subgraph": 0}), "not an earlier sub-graph"),
    (lambda d: _entry(d, "matmul")["inputs"].__setitem__(0, 10 ** 6), "not an earlier entry"),
    (lambda d: d.update(version=serialize.VERSION + 1), "newer than this staticad reads"),
    (lambda d: d.update(format="something"), "not a staticad graph document"),
    (lambda d: d.update(outputs={"set": []}), "unknown structure"),
    (lambda d: d.update(inputs=[len(d["nodes"]) - 1]), "expected placeholder"),
    (lambda d: _entry(d, "cond")["attrs"]["types"]["tuple"][0]["tuple"][1].update(dtype="int32"),
     "'types' does not match"),
])
def test_tampered_document_is_a_value_error_naming_the_defect(doc, edit, message):
    with pytest.raises(ValueError, match=message):
        serialize.loads(_tamper(doc, edit))


@pytest.mark.parametrize("depth", [3000, 100000])
def test_deeply_nested_document_is_a_value_error(doc, depth):
    deep = '{"list":[' * depth + "null" + "]}" * depth
    with pytest.raises(ValueError, match="nest"):
        serialize.loads(json.dumps(dict(doc, outputs="HERE")).replace('"HERE"', deep))


def test_truncated_file_is_a_value_error(doc, tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc)[:-40])
    with pytest.raises(ValueError, match="truncated"):
        sad.load(path)


def test_unencodable_attribute_is_named_at_save():
    from staticad.graph import apply
    from staticad.ops.shape import RESHAPE
    x = sad.placeholder((4,), name="x")
    y = apply(RESHAPE, (x,), shape=(2, 2))
    y.attrs["shape"] = object()  # what no op records: save must refuse, not guess
    with pytest.raises(ValueError, match="no JSON encoding"):
        serialize.dumps(y)


def test_same_numba_source_whatever_the_node_id_counter(monkeypatch):
    import itertools

    from staticad import graph

    def build():
        x, y, z = (sad.placeholder((None,), "float64", name=n) for n in "xyz")
        out = (sad.sin(x) * y + z).sum()
        return sad.function([x, y, z], [out, sad.grad(out, [x, y, z])], backend="numba")

    monkeypatch.setattr(graph, "_ids", itertools.count(8))
    f = build()
    monkeypatch.setattr(graph, "_ids", itertools.count(995))
    assert serialize.loads(serialize.dumps(f)).function(backend="numba").source == f.source

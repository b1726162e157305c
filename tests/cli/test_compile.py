"""``staticad compile``: the report (text and JSON), --emit-source/--dot, loading modules and
files, and the one-line errors with their exit statuses.

Numba compiles are shared through module-scoped fixtures; wall-clock times are never asserted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from .helpers import run_cli as _run

REPO = Path(__file__).resolve().parents[2]

MODELS = '''
import numpy as np
import staticad as sad


def _graph():
    rng = np.random.default_rng(0)
    W1 = sad.Variable(rng.standard_normal((6, 5)).astype("float32") * 0.3, name="W1")
    b1 = sad.Variable(np.zeros(5, "float32"), name="b1")
    W2 = sad.Variable(rng.standard_normal((5, 2)).astype("float32") * 0.3, name="W2")
    x = sad.placeholder((None, 6), name="x")
    y = sad.placeholder((None, 2), name="y")
    loss = ((sad.tanh(x @ W1 + b1) @ W2 - y) ** 2).sum()
    return x, y, [W1, b1, W2], loss


def build():
    x, y, params, loss = _graph()
    return [x, y], [loss], sad.optim.SGD(lr=0.01).updates(loss, params)


def pair():
    x, y, params, loss = _graph()
    return [x, y], [loss, *sad.grad(loss, params)]


def as_function():
    inputs, outputs, updates = build()
    return sad.function(inputs, outputs, updates=updates, backend="numpy", name="compiled_here")


def returns_int():
    return 42


def shape_error():
    a = sad.placeholder((3,), name="a")
    b = sad.placeholder((4,), name="b")
    return [a, b], a + b


def unclosed():
    a = sad.placeholder((3,), name="a")
    other = sad.placeholder((3,), name="other")
    return [a], a * other


def boom():
    raise RuntimeError("kaboom\\nsecond line")


def needs_arg(n):
    return n


def warns():
    import warnings
    warnings.warn("heads up\\nsecond line", UserWarning)
    warnings.warn("heads up\\nsecond line", UserWarning)
    return pair()


def warns_then_fails():
    import warnings
    warnings.warn("heads up", UserWarning)
    raise TypeError("bad graph")


not_callable = 3
'''



@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    path = d / "cli_models.py"
    path.write_text(MODELS)
    return path


@pytest.fixture(scope="module")
def numba_text(models, tmp_path_factory):
    """One numba compile through the CLI, with --emit-source and --dot."""
    out_dir = tmp_path_factory.mktemp("compile_out")
    src, dot = out_dir / "sub" / "step.py", out_dir / "step.dot"
    rc, out, err = _run(["compile", f"{models}:build", "--emit-source", str(src), "--dot", str(dot)])
    return types.SimpleNamespace(rc=rc, out=out, err=err, src=src, dot=dot)


@pytest.fixture(scope="module")
def numba_json(models, numba_text):
    rc, out, err = _run(["compile", f"{models}:build", "--json"])
    assert rc == 0, err
    return json.loads(out)


# --------------------------------------------------------------------------------------------
# compile: reports


def test_compile_text_report(numba_text):
    assert numba_text.rc == 0, numba_text.err
    out = numba_text.out
    for word in ("function", "backend numba", "inputs", "x (None, 6) float32", "updates", "W1, b1, W2",
                 "declared", "after passes", "compile", "cache", "passes", "prune_to_outputs", "before",
                 "after", "removed", "loop kernel(s)", "library step(s)", "kernel0", "matmul", "tanh",
                 "reduces"):
        assert word in out, word
    assert "source written to" in out and "DOT graph written to" in out


def test_compile_json_matches_the_function(numba_json, models):
    from staticad.cli.target import build_function, load_target
    rep = numba_json
    assert rep["backend"] == "numba" and rep["function"] == "build"
    assert rep["cache_hit"] in (True, False)
    assert rep["compile_seconds"] > 0
    # passes: a chain of node counts from the declared graph to the compiled one
    passes = rep["passes"]
    assert passes and passes[0]["name"] == "prune_to_outputs"
    assert passes[0]["nodes_before"] == rep["nodes_declared"]
    assert passes[-1]["nodes_after"] == rep["nodes_after_passes"]
    for a, b in zip(passes, passes[1:]):
        assert a["nodes_after"] == b["nodes_before"]
    for p in passes:
        assert p["removed"] == p["nodes_before"] - p["nodes_after"] >= 0
    # the same function compiled in-process has the same plan
    f, _ = build_function(load_target(f"{models}:build"), "build")
    assert [tuple(p.values())[:3] for p in passes] == [tuple(p) for p in f._exec.stats.passes]
    plan = f._exec.plan
    assert [k["name"] for k in rep["kernels"]] == [k.name for k in plan.kernels]
    for k, pk in zip(rep["kernels"], plan.kernels):
        assert k["ops"] == [n.op.name for n in pk.nodes()]
        assert [m["op"] for m in k["members"]] == [n.op.name for n in pk.members]
        assert [s["op"] for s in k["sinks"]] == [n.op.name for n in pk.sinks]
    assert len(rep["steps"]) == len(plan.steps)
    assert {s["op"] for s in rep["library_steps"]} >= {"matmul"}
    assert rep["fused_ops"] == plan.fused_ops
    # library step names are the generated source's names (the profiler uses them too)
    for s in rep["library_steps"]:
        assert f"# {s['name']}: {s['op']}" in f.source


def test_compile_emit_source_and_dot(numba_text):
    src = numba_text.src.read_text()
    assert "def entry(" in src and "@njit" in src and "_tm.now_ns" not in src
    dot = numba_text.dot.read_text()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "subgraph cluster_kernel0" in dot
    assert dot.count("{") == dot.count("}")
    assert 'label="update"' in dot  # updates drawn as edges into their Variables


def test_compile_numpy_backend_and_pair(models):
    rc, out, err = _run(["compile", f"{models}:pair", "--backend", "numpy"])
    assert rc == 0, err
    assert "backend numpy" in out and "passes: none" in out and "interpreted" in out
    assert "no disk cache" in out


def test_compile_returned_function_is_used_as_is(models, tmp_path):
    rc, out, err = _run(["compile", f"{models}:as_function", "--json", "--emit-source", str(tmp_path / "s.txt")])
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["function"] == "compiled_here" and rep["backend"] == "numpy"
    assert rep["cache_hit"] is None  # nothing generated, nothing cached
    assert "numpy schedule" in (tmp_path / "s.txt").read_text()


def test_compile_returned_function_recompiled_for_backend(models, numba_text):
    rc, out, err = _run(["compile", f"{models}:as_function", "--backend", "numba", "--json"])
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["backend"] == "numba" and rep["kernels"]


def test_compile_dotted_module_name(models, monkeypatch):
    monkeypatch.syspath_prepend(str(models.parent))
    rc, out, err = _run(["compile", "cli_models:pair", "--backend", "numpy", "--dot", "-"])
    assert rc == 0, err
    assert "digraph" in out and "backend numpy" in out


@pytest.mark.parametrize("target, needle, status", [
    ("no_such_module_xyz:build", "no module named 'no_such_module_xyz'", 1),
    ("{dir}/missing_file.py:build", "no such file", 1),
    ("{models}:missing", "has no function 'missing'", 1),
    ("{models}:not_callable", "not a function", 1),
    ("{models}:needs_arg", "without arguments", 1),
    ("{models}:returns_int", "returned int; expected a sad.function", 1),
    ("{models}:shape_error", "graph error in shape_error(): ValueError", 1),
    ("{models}:unclosed", "placeholder 'other'", 1),
    ("{models}:boom", "boom() raised RuntimeError: kaboom", 1),
    ("no_colon_here", "expected MODULE:FUNCTION", 2),
])
def test_compile_errors_are_one_line(models, target, needle, status):
    target = target.format(models=models, dir=models.parent)
    rc, out, err = _run(["compile", target, "--backend", "numpy"])
    assert rc == status
    assert out == ""
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("staticad compile: error:") and "Traceback" not in err


def test_compile_warnings_one_line_each_and_dropped_on_error(models):
    rc, out, err = _run(["compile", f"{models}:warns", "--backend", "numpy", "--json"])
    assert rc == 0
    assert err.strip().splitlines() == ["staticad compile: warning: UserWarning: heads up"]
    assert json.loads(out)["warnings"] == ["UserWarning: heads up"]
    rc, out, err = _run(["compile", f"{models}:warns_then_fails", "--backend", "numpy"])
    assert rc == 1 and err.strip().splitlines() == [
        "staticad compile: error: graph error in warns_then_fails(): TypeError: bad graph"]


def test_compile_internal_error_is_one_line(models, monkeypatch):
    from staticad.cli import compile as cli_compile
    monkeypatch.setattr(cli_compile, "compile_report", lambda *a, **k: 1 / 0)
    rc, out, err = _run(["compile", f"{models}:pair", "--backend", "numpy"])
    assert rc == 1 and "internal error: ZeroDivisionError" in err and len(err.strip().splitlines()) == 1
    rc, out, err = _run(["compile", f"{models}:pair", "--backend", "numpy", "--traceback"])
    assert rc == 1 and "Traceback" in err


def test_compile_usage_errors(models):
    rc, out, err = _run(["compile", f"{models}:pair", "--backend", "tpu"])
    assert rc == 2 and "unknown backend 'tpu'" in err and len(err.strip().splitlines()) == 1
    rc, out, err = _run(["compile", f"{models}:pair", "--json", "--emit-source", "-"])
    assert rc == 2 and "--json" in err
    rc, out, err = _run(["compile"])
    assert rc == 2 and "MODULE:FUNCTION" in err


def test_compile_unwritable_output_is_one_line(models, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, out, err = _run(["compile", f"{models}:pair", "--backend", "numpy", "--dot", str(blocker / "g.dot")])
    assert rc == 1 and "cannot write the DOT graph" in err and len(err.strip().splitlines()) == 1


def test_compile_subprocess_example_and_error(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "staticad", "compile", "examples/tiny_mlp.py:gradients",
                           "--backend", "numpy", "--dot", str(tmp_path / "g.dot")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "backend numpy" in proc.stdout and (tmp_path / "g.dot").read_text().startswith("digraph")
    proc = subprocess.run([sys.executable, "-m", "staticad", "compile", "examples/tiny_mlp.py:nope"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "staticad compile: error: examples/tiny_mlp.py has no function 'nope'"

"""``staticad bench --compile``: cold compile latency against graph size."""
import json

import numpy as np
import pytest

import staticad as sad
from staticad.bench import compare, compile_sweep
from tests.cli.helpers import run_cli


@pytest.fixture
def no_jax(monkeypatch):
    """jax reported missing, wherever the tests run."""
    real = compare.availability
    monkeypatch.setattr(compare, "availability",
                        lambda name: (False, "jax is not installed (test)") if name == "jax" else real(name))


def test_smallest_size_compiles_cold_and_reports_nodes_and_kernels(tmp_path, no_jax):
    path = tmp_path / "sweep.json"
    rc, out, err = run_cli(["bench", "compile-concat", "-q", "--json", str(path)])
    assert rc == 0, out + err
    (r,) = json.loads(path.read_text())["results"]
    smallest = compile_sweep.SWEEPS["compile-concat"].sizes[0]
    assert (r["workload"], r["size"], r["status"]) == ("compile-concat", smallest, "ok")
    assert r["cache_hit"] is False  # a fresh, empty cache directory
    assert r["cold_seconds"] > 0 and r["numba_startup"] > 0
    assert r["seconds_per_node"] == pytest.approx(r["cold_seconds"] / r["nodes_declared"])
    # 10 placeholders, concatenate, sin, square, sum, and the gradient's nodes
    assert r["nodes_declared"] > 10 and 0 < r["nodes_after_passes"] and r["kernels"] >= 1
    assert r["jax"] == {"status": "skipped", "reason": "jax is not installed (test)"}
    row = next(line for line in out.splitlines() if line.startswith("compile-concat"))
    assert f"{r['nodes_declared']} -> {r['nodes_after_passes']}" in row and "miss" in row and row.endswith("skipped")
    assert "jax skipped: jax is not installed (test)" in out


def test_timeout_is_reported_as_such(tmp_path, no_jax):
    path = tmp_path / "sweep.json"
    # 0.3 s is far less than a fresh interpreter needs to import numba: a sure timeout
    rc, out, err = run_cli(["bench", "--compile", "compile-chain", "--compile-timeout", "0.3", "-q",
                            "--json", str(path)])
    assert rc == 0, out + err
    (r,) = json.loads(path.read_text())["results"]
    assert r["status"] == "timeout" and r["cold_seconds"] is None and "0.3 s" in r["reason"]
    row = next(line for line in out.splitlines() if line.startswith("compile-chain"))
    assert "timeout" in row


@pytest.mark.parametrize("argv, message", [
    (["bench", "--compile", "--size", "100"], "NAME=S"),
    (["bench", "compile-chain", "scalar"], "unknown compile workload 'scalar'"),
    (["bench", "--compile", "--backend", "numpy,numba"], "one --backend"),
    (["bench", "--compile", "--compile-timeout", "0"], "positive number"),
])
def test_usage_errors(argv, message, capsys):
    try:
        rc, out, err = run_cli(argv)
    except SystemExit as exc:  # argparse's own errors
        rc, err = exc.code, capsys.readouterr().err
    assert rc == 2 and message in err


def test_sizes_list_and_full():
    sw = compile_sweep.SWEEPS["compile-chain"]
    assert compile_sweep.sizes_for(sw) == [100]
    assert compile_sweep.sizes_for(sw, full=True) == [100, 1000, 5000]
    assert compile_sweep.sizes_for(sw, {"compile-chain": [7, 7, 3]}) == [7, 3]
    rc, out, _ = run_cli(["bench", "--compile", "--list"])
    assert rc == 0 and all(name in out for name in compile_sweep.SWEEPS)


# the sweep's graphs, checked against NumPy on the (in-process, uncached) numpy backend


def _run(name, size):
    inputs, outputs, updates, args, fname = compile_sweep.graph(name, size)
    return sad.function(inputs, outputs, updates=updates, backend="numpy", name=fname)(*args), args


def test_chain_graph():
    (loss, grad), (x,) = _run("compile-chain", 5)
    h, d = x.astype(np.float64), np.ones_like(x, np.float64)
    for i in range(5):
        d = d * (np.cos(h) if i % 2 == 0 else 1.01 * (1 - np.tanh(h) ** 2))
        h = np.sin(h) if i % 2 == 0 else np.tanh(h) * 1.01
    np.testing.assert_allclose(loss, h.sum(), rtol=1e-5)
    np.testing.assert_allclose(grad, d, rtol=1e-4, atol=1e-6)


def test_mlp_graph_takes_one_adam_step():
    inputs, outputs, updates, (x, target), _ = compile_sweep.graph("compile-mlp", 3)
    params = [p for p, _ in updates if p.name[0] in "Wb" and p.name[1:].isdigit()]
    assert len(params) == 6  # W0, b0 .. W2, b2
    before = [np.array(p.value) for p in params]
    f = sad.function(inputs, outputs, updates=updates, backend="numpy")
    h = x
    for i, (w, b) in enumerate(zip(before[::2], before[1::2])):
        h = h @ w + b
        h = np.tanh(h) if i < 2 else h
    np.testing.assert_allclose(f(x, target), np.mean((h - target) ** 2), rtol=1e-5)
    # Adam's first step moves every parameter by about lr (m_hat / sqrt(v_hat) = sign(g))
    for p, old in zip(params, before):
        step = np.abs(np.array(p.value) - old)
        assert np.all(step <= 1.001e-3) and np.median(step) > 0.9e-3


def test_concat_graph():
    (loss, *grads), xs = _run("compile-concat", 3)
    c = np.concatenate(xs)
    np.testing.assert_allclose(loss, np.sum(np.sin(c) ** 2))
    np.testing.assert_allclose(np.concatenate(grads), 2 * np.sin(c) * np.cos(c))


def test_jax_functions_match_staticad():
    pytest.importorskip("jax")
    import jax
    jax.config.update("jax_enable_x64", True)
    for name, size in (("compile-chain", 5), ("compile-concat", 3)):
        fn, args = compile_sweep.jax_function(name, size)
        value, grads = jax.jit(fn)(*args)
        (loss, *ours), _ = _run(name, size)
        np.testing.assert_allclose(value, loss, rtol=1e-5)
        grads = grads if isinstance(grads, tuple) else (grads,)
        np.testing.assert_allclose(np.concatenate([np.ravel(g) for g in grads]),
                                   np.concatenate([np.ravel(g) for g in ours]), rtol=1e-4, atol=1e-6)
    fn, args = compile_sweep.jax_function("compile-mlp", 2)
    value, *_ = jax.jit(fn)(*args)
    assert np.isfinite(value)

"""The numba code for control flow: real loops in one native entry point, deterministic source."""
import numpy as np

import staticad as sad


def _tutorial_grad():
    a = sad.placeholder((), name="a")
    b = sad.while_loop(lambda b: b.norm() < 1000, lambda b: b * 2, a * 2)
    c = sad.cond(b.sum() > 0, lambda b: b, lambda b: 100 * b, b)
    return a, [c, sad.grad(c, a)]


def test_loops_and_branches_are_generated_code():
    a, outs = _tutorial_grad()
    f = sad.function([a], outs, backend="numba")
    src = f.source
    entry = src[src.index("def entry("):]
    assert entry.count("while True:") == 2          # the forward loop and the backward loop
    assert "if greater_" in entry or ".item():" in entry
    for fn in ("def while_cond_1(", "def while_body_1(", "def cond_true_1(", "def cond_false_1("):
        assert fn in src
    c, g = f(np.float32(0.3))
    assert g == c / np.float32(0.3)


def test_same_graph_same_source_and_cache_entry(tmp_path):
    """Building the same graph again gives the same source, so a fresh process loads the
    compiled loops from the disk cache."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    a1, outs1 = _tutorial_grad()
    a2, outs2 = _tutorial_grad()
    f1 = sad.function([a1], outs1, backend="numba")
    f2 = sad.function([a2], outs2, backend="numba")
    assert f1.source == f2.source
    assert f1._exec.module is f2._exec.module
    script = ("import numpy as np, staticad as sad\n"
              "from tests.backends.test_numba_control import _tutorial_grad\n"
              "a, outs = _tutorial_grad()\n"
              "f = sad.function([a], outs, backend='numba')\n"
              "print('cache_hit', f.stats['cache_hit'], f(np.float32(0.3))[1])\n")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, STATICAD_CACHE_DIR=str(tmp_path), PYTHONPATH=str(root))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           timeout=300, cwd=root) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr + runs[1].stderr
    assert "cache_hit False 4096.0" in runs[0].stdout
    assert "cache_hit True 4096.0" in runs[1].stdout


def test_recorded_stack_doubles():
    x = sad.placeholder((3,), "float64", name="x")
    y = sad.fori_loop(0, 100, lambda i, y: sad.sin(y), x)
    s = y.sum()
    f = sad.function([x], [s, sad.grad(s, x)], backend="numba")
    assert "_grown" in f.source  # the stack grows by doubling, no fixed guess
    ref = sad.function([x], [s, sad.grad(s, x)], backend="numpy")
    xv = np.array([0.5, -1.0, 2.0])
    for got, want in zip(f(xv), ref(xv)):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_no_threads_in_sub_graphs_nor_beside_their_blas():
    """Sub-graph functions run serial loops; a matmul inside a loop body keeps the entry point's
    own large loops serial too (OpenMP workers would starve BLAS, NUMBA_FACTS.md #8)."""
    x = sad.placeholder((None,), "float64", name="x")
    m = sad.placeholder((3, 3), "float64", name="m")
    big = (sad.sin(x) * 2.0).sum()
    y = sad.fori_loop(0, 2, lambda i, v: sad.tanh(v @ m), sad.ones((3,), "float64"))
    src = sad.function([x, m], [big, y], backend="numba").source
    assert "prange" not in src
    src_plain = sad.function([x], big, backend="numba").source
    assert "prange" in src_plain
    body = sad.function([x], sad.fori_loop(0, 2, lambda i, v: v * 2.0, x), backend="numba").source
    assert "prange" not in body

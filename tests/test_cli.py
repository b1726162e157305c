"""The ``staticad`` command line (bench, info) and the benchmark workloads.

Everything runs in-process on small sizes with few repeats; wall-clock times are never asserted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import staticad as sad
from staticad import backends
from staticad.bench import WORKLOADS, build_hand, build_staticad, outputs_close
from staticad.bench import runner
from staticad.bench.workloads import flatten, format_size
from staticad.cli import main

REPO = Path(__file__).resolve().parents[1]
SMALL = {"chain": 1000, "linreg": 2000}


def _call_n(fn, args, n):
    return [fn(*args) for _ in range(n)]


# --------------------------------------------------------------------------------------------
# workloads: staticad == hand-written NumPy


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_workload_matches_numpy_hand(name):
    w = WORKLOADS[name]
    case = w.case(SMALL.get(name))
    f, args = build_staticad(w, case, backend="numpy")
    hand, hargs = build_hand(w, case)
    n = 3 if w.stateful else 1  # stateful: later calls see the parameters the updates wrote
    got, want = _call_n(f, args, n), _call_n(hand, hargs, n)
    for g, h in zip(got, want):
        fg, fh = flatten(g), flatten(h)
        assert len(fg) == len(fh)
        for a, b in zip(fg, fh):
            assert a.shape == b.shape
            assert np.all(np.isfinite(a))
            np.testing.assert_allclose(a, b, rtol=w.rtol, atol=w.atol)
        assert outputs_close(w, g, h)


@pytest.mark.parametrize("backend", [b for b in backends.available() if b not in ("numpy", "cuda")])
@pytest.mark.parametrize("name", ["scalar", "chain", "mlp", "linreg"])
def test_workload_matches_numpy_hand_other_cpu_backends(name, backend):
    w = WORKLOADS[name]
    case = w.case(SMALL.get(name))
    f, args = build_staticad(w, case, backend=backend)
    hand, hargs = build_hand(w, case)
    n = 2 if w.stateful else 1
    for g, h in zip(_call_n(f, args, n), _call_n(hand, hargs, n)):
        assert outputs_close(w, g, h)


def test_hand_versions_against_closed_forms():
    # scalar: dy/dx = 2x + 3
    w = WORKLOADS["scalar"]
    fn, args = build_hand(w, w.case())
    assert fn(*args) == pytest.approx(2 * float(args[0]) + 3)
    # hessian: symmetric, and its product with a vector matches a finite difference of the gradient
    w = WORKLOADS["hessian"]
    case = w.case(100)
    fn, args = build_hand(w, case)
    h = fn(*args)
    x = case.inputs["x"]
    assert h.shape == (100, 100) and h.dtype == np.float64
    np.testing.assert_allclose(h, h.T)

    def grad(x):
        return np.exp(x) * (np.sin(x) + np.cos(x)) + 4.0 * (x @ x) * x

    v = np.linspace(-1, 1, 100)
    eps = 1e-6
    np.testing.assert_allclose(h @ v, (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps), rtol=1e-6, atol=1e-5)
    # chain: central difference of the float64 loss
    w = WORKLOADS["chain"]
    case = w.case(50)
    fn, args = build_hand(w, case)
    x = case.inputs["x"].astype(np.float64)

    def loss(x):
        return np.sum((np.sin(x) * 2 + 1) ** 2 * np.exp(-x * x) + np.tanh(x))

    e = np.zeros_like(x)
    e[7] = 1e-6
    assert fn(*args)[7] == pytest.approx((loss(x + e) - loss(x - e)) / 2e-6, rel=1e-3, abs=1e-4)


def test_mlp_step_updates_variables_and_lowers_the_loss():
    w = WORKLOADS["mlp"]
    case = w.case()
    g = w.graph(case)
    f = sad.function(g.inputs, g.outputs, updates=g.updates, backend="numpy")
    before = g.variables["W2"].value
    losses = [float(f(*g.args)) for _ in range(5)]
    assert not np.allclose(g.variables["W2"].value, before)
    assert losses[-1] < losses[0]
    # the initial parameters of the case are untouched (each column starts from them)
    np.testing.assert_array_equal(case.params["W2"], before)


def test_sizes_and_labels():
    assert format_size(1000) == "1e3" and format_size(10 ** 7) == "1e7"
    assert format_size(2500000) == "2.5e6" and format_size(1234) == "1234" and format_size(7) == "7"
    assert WORKLOADS["chain"].case(1000).inputs["x"].shape == (1000,)
    assert WORKLOADS["linreg"].case(500).inputs["x"].shape == (500, 1)
    assert runner.parse_size("1e3,1e5") == [1000, 100000]
    assert runner.parse_size("2_000") == [2000]
    for bad in ("0", "abc", "1.5", "-3"):
        with pytest.raises(ValueError):
            runner.parse_size(bad)
    assert 10 ** 7 not in WORKLOADS["chain"].sizes and 10 ** 7 in WORKLOADS["chain"].full_sizes


def test_size_scoping():
    plain, by_name = runner.parse_size_args(["1e3", "hessian=10,30"])
    assert plain == [1000] and by_name == {"hessian": [10, 30]}
    sizes = {n: runner.sizes_for(w, plain, by_name) for n, w in WORKLOADS.items()}
    assert sizes["chain"] == [1000] and sizes["linreg"] == [1000] and sizes["hessian"] == [10, 30]
    assert sizes["scalar"] == [None] and sizes["mlp-wide"] == [None]
    assert sizes["mlp"] == [16]  # sized by its batch, by name only: a plain size is chain's n or linreg's N
    assert runner.sizes_for(WORKLOADS["mlp"], None, {}, full=True) == [16, 256]
    assert runner.parse_size_args(["mlp=64"])[1] == {"mlp": [64]}
    case = WORKLOADS["mlp"].case(64)
    assert case.inputs["x"].shape == (64, 1000) and case.inputs["target"].shape == (64, 10)
    assert case.label == "64x1000-100-10" and case.size == 64
    # a plain size never reaches the hessian (n**2 outputs): `--size 1e7` is for chain/linreg
    assert runner.sizes_for(WORKLOADS["hessian"], [10 ** 7], {}) == list(WORKLOADS["hessian"].sizes)
    assert runner.sizes_for(WORKLOADS["chain"], None, {}, full=True) == list(WORKLOADS["chain"].full_sizes)
    with pytest.raises(ValueError, match="fixed size"):
        runner.parse_size_args(["mlp-wide=3"])
    with pytest.raises(ValueError, match="unknown workload"):
        runner.parse_size_args(["nope=3"])


def test_bench_per_workload_size(capsys, tmp_path):
    path = tmp_path / "h.json"
    rc = main(["bench", "hessian", "--size", "hessian=5", "--backend", "numpy", "--repeat", "2", "-q",
               "--json", str(path)])
    assert rc == 0
    (entry,) = json.loads(path.read_text())["results"]
    assert entry["size"] == 5 and entry["label"] == "n=5"
    assert "n=5" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# staticad bench


def test_bench_table_and_json(capsys, tmp_path):
    path = tmp_path / "bench.json"
    rc = main(["bench", "scalar", "chain", "--size", "1000", "--repeat", "3", "--json", str(path), "-q"])
    out = capsys.readouterr().out
    assert rc == 0, out
    for word in ("scalar", "chain", "numpy-hand", "numpy", "compile", "cache", "median", "vs numba", "vs hand",
                 "n=1e3"):
        assert word in out
    data = json.loads(path.read_text())
    assert data["settings"]["repeat"] == 3
    assert data["environment"]["numpy"] == np.__version__
    by_wl = {r["workload"]: r for r in data["results"]}
    assert set(by_wl) == {"scalar", "chain"}
    assert by_wl["chain"]["size"] == 1000
    for r in data["results"]:
        cols = {c["column"]: c for c in r["columns"]}
        assert {"numpy-hand", "numpy"} <= set(cols)
        for c in cols.values():
            assert c["status"] in ("ok", "skipped", "error")
        hand, npc = cols["numpy-hand"], cols["numpy"]
        for c in (hand, npc):
            assert c["status"] == "ok"
            assert c["min_seconds"] <= c["median_seconds"] <= c["max_seconds"]
            assert len(c["times"]) == 3
        assert hand["ratio_to_numpy_hand"] == pytest.approx(1.0)
        assert npc["ratio_to_numpy_hand"] == pytest.approx(npc["median_seconds"] / hand["median_seconds"])
        assert npc["matches_numpy_hand"] is True
        assert npc["cache_hit"] is None  # the numpy backend generates no code: no disk cache
        assert npc["compile_seconds"] > 0 and "nodes_declared" in npc["stats"]
        nb = cols.get("numba")
        if nb is not None and nb["status"] == "ok":  # the "vs numba" column: medians over numba's
            assert nb["cache_hit"] in (True, False)
            assert nb["ratio_to_numba"] == pytest.approx(1.0)
            assert npc["ratio_to_numba"] == pytest.approx(npc["median_seconds"] / nb["median_seconds"])
        else:
            assert npc["ratio_to_numba"] is None


def test_bench_default_sizes_and_all_workloads_listed(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for name in WORKLOADS:
        assert name in out


def test_bench_every_workload_runs(capsys, tmp_path):
    path = tmp_path / "all.json"
    rc = main(["bench", "--size", "1000", "--repeat", "1", "--warmup", "1", "--backend", "numpy",
               "--json", str(path), "-q"])
    out = capsys.readouterr().out
    assert rc == 0, out
    data = json.loads(path.read_text())
    assert [r["workload"] for r in data["results"]] == list(WORKLOADS)
    for r in data["results"]:
        npc = next(c for c in r["columns"] if c["column"] == "numpy")
        assert npc["status"] == "ok" and npc["matches_numpy_hand"] is True, r["workload"]


def test_bench_unavailable_backends_and_frameworks_are_skipped(capsys, tmp_path, monkeypatch):
    # make sure torch/jax look absent, whatever is installed here
    from staticad.bench import compare
    real_find_spec = compare.importlib.util.find_spec
    monkeypatch.setattr(compare.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "jax") else real_find_spec(name, *a))
    path = tmp_path / "skip.json"
    rc = main(["bench", "scalar", "--backend", "all", "--compare", "torch,jax", "--repeat", "2", "-q",
               "--json", str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    for col in ("numba", "cuda", "torch", "jax"):
        assert col in out
    assert "skipped" in out and "not installed" in out
    cols = {c["column"]: c for c in json.loads(path.read_text())["results"][0]["columns"]}
    assert cols["torch"]["status"] == "skipped" and cols["jax"]["status"] == "skipped"
    for b in ("numba", "cuda"):
        if b not in backends.available():
            assert cols[b]["status"] == "skipped" and b in cols[b]["reason"]


def test_bench_compare_columns_when_installed(capsys):
    # torch / jax are optional: either they run or they are reported as skipped
    rc = main(["bench", "scalar", "--compare", "torch", "--compare", "jax", "--repeat", "2", "-q"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "torch" in out and "jax" in out


def test_bench_picks_up_newly_registered_backend(capsys, tmp_path, monkeypatch):
    real_get, real_available = backends.get, backends.available
    monkeypatch.setattr(backends, "available", lambda: list(dict.fromkeys(real_available() + ["numba"])))
    monkeypatch.setattr(backends, "get", lambda name: real_get("numpy" if name == "numba" else name))
    path = tmp_path / "numba.json"
    rc = main(["bench", "chain", "--size", "500", "--repeat", "2", "-q", "--json", str(path)])
    assert rc == 0
    cols = {c["column"]: c for c in json.loads(path.read_text())["results"][0]["columns"]}
    assert cols["numba"]["status"] == "ok" and cols["numba"]["matches_numpy_hand"] is True


def test_bench_failing_backend_is_reported_not_raised(capsys, monkeypatch):
    real_get, real_available = backends.get, backends.available
    broken = types.SimpleNamespace(NAME="broken", OPTIMIZES=False, REBINDS=False,
                                   compile_plan=lambda plan, options: 1 / 0)
    monkeypatch.setattr(backends, "available", lambda: real_available() + ["broken"])
    monkeypatch.setattr(backends, "get", lambda name: broken if name == "broken" else real_get(name))
    rc = main(["bench", "scalar", "--backend", "numpy,broken", "--repeat", "2", "-q"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "error" in out and "ZeroDivisionError" in out


@pytest.mark.parametrize("argv, needle", [
    (["bench", "nosuchworkload"], "unknown workload 'nosuchworkload'"),
    (["bench", "scalar", "--backend", "tpu"], "unknown backend 'tpu'"),
    (["bench", "scalar", "--compare", "tensorflow"], "tensorflow"),
    (["bench", "chain", "--size", "huge"], "invalid size"),
    (["bench", "scalar", "--repeat", "0"], "positive integer"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, needle):
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2
    assert needle in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert sad.__version__ in capsys.readouterr().out
    assert main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--backend" in out and "--compare" in out and "hessian" in out


# --------------------------------------------------------------------------------------------
# staticad info


def test_info(capsys, tmp_path, monkeypatch):
    import networkx
    import numba
    cache = tmp_path / "cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "sub" / "k.bin").write_bytes(b"x" * 2048)
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(cache))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for text in (sad.__version__, np.__version__, numba.__version__, networkx.__version__,
                 "python", "backends", "cuda", "threading", str(cache), "2.0 KiB", "1 file"):
        assert text in out, text
    for b in backends.available():
        if b != "cuda":
            assert f"{b} (available)" in out
    from staticad.backends import cuda_backend
    want = "cuda (no GPU or simulator here)" if not cuda_backend.is_available() else \
        "cuda (simulator)" if cuda_backend.is_simulator() else "cuda (GPU)"
    assert want in out  # the backends line says where cuda kernels would run


def test_info_default_cache_dir(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("STATICAD_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / ".cache" / "staticad") in out and "does not exist" in out
    assert not (tmp_path / ".cache").exists()  # info never creates the cache directory
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(["info"]) == 0
    assert str(tmp_path / "xdg" / "staticad") in capsys.readouterr().out


def test_cuda_status_never_raises(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    s = runner.cuda_status()
    assert s["simulator"] is False and isinstance(s["available"], bool)


def test_python_m_staticad_info():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "staticad", "info"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "staticad" in proc.stdout and np.__version__ in proc.stdout and "backends" in proc.stdout


def test_bench_captures_backend_warnings(capsys, tmp_path, monkeypatch):
    import warnings
    real_get, real_available = backends.get, backends.available
    numpy_backend = real_get("numpy")

    def compile_plan(plan, options):
        warnings.warn("\x1b[1mnoisy hint\x1b[0m from the compiler", RuntimeWarning)
        return numpy_backend.compile_plan(plan, options)

    noisy = types.SimpleNamespace(NAME="noisy", OPTIMIZES=False, REBINDS=False, compile_plan=compile_plan)
    monkeypatch.setattr(backends, "available", lambda: real_available() + ["noisy"])
    monkeypatch.setattr(backends, "get", lambda name: noisy if name == "noisy" else real_get(name))
    path = tmp_path / "w.json"
    rc = main(["bench", "scalar", "--backend", "noisy", "--repeat", "2", "-q", "--json", str(path)])
    captured = capsys.readouterr()
    assert rc == 0
    assert "RuntimeWarning: noisy hint from the compiler" in captured.out
    assert "noisy hint" not in captured.err
    cols = {c["column"]: c for c in json.loads(path.read_text())["results"][0]["columns"]}
    assert cols["noisy"]["warnings"] == ["RuntimeWarning: noisy hint from the compiler"]


def test_torch_cuda_column_is_skipped_without_a_gpu(capsys, tmp_path):
    from staticad.bench import compare
    ok, info = compare.availability("torch-cuda")
    path = tmp_path / "tc.json"
    rc = main(["bench", "scalar", "--backend", "numpy", "--compare", "torch-cuda", "--repeat", "2", "-q",
               "--json", str(path)])
    assert rc == 0
    (col,) = [c for c in json.loads(path.read_text())["results"][0]["columns"] if c["column"] == "torch-cuda"]
    if ok:  # a GPU that torch sees: the column ran, on it
        assert col["status"] == "ok" and col["matches_numpy_hand"] is True
    else:
        assert col["status"] == "skipped" and col["reason"] == info
        assert "not installed" in info or "no CUDA GPU" in info


@pytest.mark.parametrize("name", ["scalar", "chain", "mlp", "linreg", "hessian"])
def test_torch_columns_through_a_device_match_numpy_hand(name):
    """The torch-cuda column's code path (inputs copied to a device, outputs copied back), run
    with the CPU as that device where no GPU is: it must compute what numpy-hand does."""
    torch = pytest.importorskip("torch")
    from staticad.bench import compare
    w = WORKLOADS[name]
    case = w.case(SMALL.get(name))
    device = compare._Device("cuda" if torch.cuda.is_available() else "cpu")
    fn, args = compare._TORCH[name](case, device)
    hand, hargs = build_hand(w, case)
    n = 2 if w.stateful else 1
    for g, h in zip(_call_n(fn, args, n), _call_n(hand, hargs, n)):
        assert outputs_close(w, g, h)

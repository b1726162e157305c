"""The cuda backend agrees with the NumPy reference: ops and derivatives, random graphs, training.

Without a GPU these tests run on numba's CUDA simulator (tests/conftest.py selects it),
at small sizes: the simulator runs every GPU thread as a Python thread. Tests marked ``gpu`` need
a real GPU (larger sizes, timings) and are skipped otherwise.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import staticad as sad
from staticad import fuzz
from staticad.backends import cuda_backend

ROOT = Path(__file__).resolve().parents[2]
RTOL = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-12}
SIMULATOR = cuda_backend.is_simulator()
REAL_GPU = cuda_backend.is_available() and not SIMULATOR
FULL = REAL_GPU or os.environ.get("STATICAD_CUDA_TESTS") == "full"  # more random graphs

needs_cuda = pytest.mark.skipif(not cuda_backend.is_available(),
                                reason=f"no CUDA GPU or simulator: {cuda_backend.unavailable_reason()}")
gpu = pytest.mark.skipif(not REAL_GPU, reason="needs a real CUDA GPU (not the simulator)")


def _pos(shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _any(shape):
    return lambda rng: rng.uniform(-2.0, 2.0, shape)


# (id, function of placeholders, [(shape, generator)]): every kind of kernel and library step
CASES = [
    ("add_bcast", lambda a, b: a + b, [((3, 1), _any), ((4,), _any)]),
    ("divide", lambda a, b: a / b, [((2, 3), _any), ((3,), _pos)]),
    ("power", lambda a, b: a ** b, [((4,), _pos), ((4,), _any)]),
    ("unary_chain", lambda a: sad.tanh(sad.exp(sad.sin(a)) * sad.cos(a)) + sad.sqrt(a * a + 1)
     + sad.log1p(a * a) + sad.tan(a * 0.5), [((5,), _any)]),
    ("log_sigmoid", lambda a: sad.log(a) * sad.sigmoid(a), [((5,), _pos)]),
    ("relu_abs_sign", lambda a: sad.relu(a) + sad.abs(a) * sad.sign(a) - a, [((6,), _any)]),
    ("max_min_where_clip", lambda a, b: sad.where(a > 0, sad.maximum(a, b), sad.minimum(a, b))
     + sad.clip(a, -0.5, 0.5), [((2, 3), _any), ((3,), _any)]),
    ("sum_axis", lambda a: sad.sum(a, axis=1), [((3, 20), _any)]),
    ("sum_keep", lambda a: sad.sum(a, axis=(0, 2), keepdims=True), [((2, 3, 2), _any)]),
    ("mean", lambda a: sad.mean(a, axis=0), [((20, 3), _any)]),
    ("max", lambda a: sad.max(a, axis=-1), [((3, 4), _any)]),
    ("min_all", lambda a: sad.min(a), [((5, 8), _any)]),
    ("prod", lambda a: sad.prod(a, axis=0), [((3, 2), _pos)]),
    ("norm", sad.norm, [((6, 7), _any)]),
    ("softmax", sad.softmax, [((2, 5), _any)]),
    ("logsumexp", lambda a: sad.logsumexp(a, axis=1), [((2, 5), _any)]),
    ("matmul", sad.matmul, [((3, 5), _any), ((5, 6), _any)]),
    ("matmul_vec", sad.matmul, [((5,), _any), ((5, 2), _any)]),
    ("matmul_batched", sad.matmul, [((2, 3, 4), _any), ((4, 5), _any)]),
    ("dot_vec", sad.dot, [((5,), _any), ((5,), _any)]),
    ("transpose", lambda a: sad.transpose(a) * 2, [((2, 3), _any)]),
    ("reshape", lambda a: sad.reshape(a, (3, -1)) + 1, [((2, 3), _any)]),
    ("broadcast_to", lambda a: sad.broadcast_to(a, (4, 3)), [((3,), _any)]),
    ("expand_squeeze", lambda a: sad.squeeze(sad.expand_dims(a, 1), 1) * 3, [((4,), _any)]),
    ("concatenate", lambda a, b: sad.concatenate([a, b], axis=1), [((2, 3), _any), ((2, 2), _any)]),
    ("stack", lambda a, b: sad.stack([a, b], axis=0), [((3,), _any), ((3,), _any)]),
    ("getitem", lambda a: a[1:, ::2] * a[0, 1] + a[-1, None, ::-1].sum(), [((3, 4), _any)]),
    ("astype_compare", lambda a, b: sad.astype(a, "float32").astype(b.dtype) * 2
     + sad.where(sad.logical_or(sad.logical_and(a > b, a >= 0), sad.logical_not(a <= b)), a, b * 2),
     [((6,), _any), ((6,), _any)]),
    ("fills_constants", lambda a: a + sad.ones_like(a) * 2 + sad.full((3,), 0.5, a.dtype) + sad.zeros((3,), a.dtype)
     + sad.constant(np.arange(3.0), a.dtype) * a, [((2, 3), _any)]),
]


def _build(fn, specs, dtype, rng):
    phs = [sad.placeholder(shape, dtype, name=f"p{i}") for i, (shape, _) in enumerate(specs)]
    vals = [np.asarray(gen(shape)(rng), dtype=dtype) for shape, gen in specs]
    out = fn(*phs)
    w = rng.uniform(-1, 1, out.shape).astype(dtype)
    loss = sad.sum(out * w)
    grads = sad.grad(loss, phs)
    tang = [rng.uniform(-1, 1, s).astype(dtype) for s, _ in specs]
    jv = sad.jvp(out, phs, tang)
    return phs, [out, loss, jv] + list(grads), vals


def _close(got, ref, dtype, what):
    dtype = np.dtype(dtype)
    assert got.shape == ref.shape and got.dtype == ref.dtype, (what, got.shape, ref.shape, got.dtype, ref.dtype)
    np.testing.assert_allclose(got, ref, rtol=RTOL[dtype] * 10, atol=1e-6 if dtype == np.float32 else 1e-12,
                               err_msg=what)


@pytest.fixture(scope="module", params=["float64", "float32"])
def all_cases(request):
    """Every case in ONE function per dtype (one module, one driver)."""
    dtype = request.param
    rng = np.random.default_rng(0)
    phs, outs, vals, spans = [], [], [], []
    for name, fn, specs in CASES:
        p, o, v = _build(fn, specs, dtype, rng)
        for t in p:
            t.name = f"{name}_{t.name}"
        spans.append((name, len(outs), len(o)))
        phs += p
        outs += o
        vals += v
    ref = sad.function(phs, outs, backend="numpy")(*vals)
    got = sad.function(phs, outs, backend="cuda")(*vals)
    return dtype, spans, ref, got


@needs_cuda
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_values_and_derivatives_agree(case, all_cases):
    dtype, spans, ref, got = all_cases
    name = case[0]
    _, start, n = next(s for s in spans if s[0] == name)
    labels = ["value", "loss", "jvp"] + [f"grad{i}" for i in range(n - 3)]
    for r, g, label in zip(ref[start:start + n], got[start:start + n], labels):
        _close(g, r, dtype, f"cuda {name} {dtype} {label}")


@needs_cuda
def test_dynamic_dims_size0_size1_noncontiguous_and_bad_shapes():
    x = sad.placeholder((None, 3), "float64", name="x")
    y = sad.placeholder((None, 3), "float64", name="y")
    loss = sad.sum(sad.sin(x) * y) + sad.max(x)
    outs = [loss, sad.sum(x * y, axis=1)] + sad.grad(loss, [x, y])
    f_ref = sad.function([x, y], outs, backend="numpy")
    f = sad.function([x, y], outs, backend="cuda")
    rng = np.random.default_rng(1)
    for nx_, ny in [(4, 4), (1, 5), (5, 1), (1, 1)]:
        a, b = rng.standard_normal((nx_, 3)), rng.standard_normal((ny, 3))
        for r, g in zip(f_ref(a, b), f(a, b)):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    a = rng.standard_normal((3, 6))[:, ::2]  # non-contiguous input
    b = np.asfortranarray(rng.standard_normal((3, 3)))
    for r, g in zip(f_ref(a, b), f(a, b)):
        np.testing.assert_allclose(g, r, rtol=1e-12)
    with pytest.raises(ValueError, match="broadcast|incompatible"):
        f(rng.standard_normal((2, 3)), rng.standard_normal((3, 3)))
    with pytest.raises(ValueError, match="zero-size"):  # max of nothing, as numpy
        f(np.zeros((0, 3)), np.zeros((0, 3)))
    s = sad.function([x], [sad.sum(x), sad.sum(x, axis=0), x * 2], backend="cuda")(np.zeros((0, 3)))
    assert s[0] == 0 and s[1].tolist() == [0, 0, 0] and s[2].shape == (0, 3)


@needs_cuda
def test_reductions_are_deterministic_and_accurate():
    x = sad.placeholder((None,), "float32", name="x")
    f = sad.function([x], [sad.sum(x), sad.sum(sad.reshape(x, (-1, 7)), axis=0), sad.norm(x)], backend="cuda")
    v = np.random.default_rng(2).uniform(0, 1, 7 * 37).astype("float32")
    first = f(v)
    for _ in range(2):
        for a, b in zip(f(v), first):
            np.testing.assert_array_equal(a, b)  # bit for bit: fixed reduction order
    exact = np.sum(v.astype(np.float64))
    assert abs(float(first[0]) - exact) / exact < 1e-6  # float64 accumulation
    np.testing.assert_allclose(first[1], v.astype(np.float64).reshape(-1, 7).sum(0), rtol=1e-6)
    np.testing.assert_allclose(first[2], np.linalg.norm(v.astype(np.float64)), rtol=1e-6)


@needs_cuda
@pytest.mark.parametrize("dtype", ["uint64", "int32", "bool"])
def test_integer_max_and_min_are_exact_on_every_backend(dtype):
    """max/min accumulate in the input dtype on every backend (one Reduction definition): uint64
    values above 2**63 once wrapped around in the GPU's int64 accumulator."""
    values = {"uint64": [3, 2 ** 63 + 5, 7, 2 ** 64 - 2], "int32": [-(2 ** 31), 5, 2 ** 31 - 1, 0],
              "bool": [False, True, False, False]}[dtype]
    v = np.array(values * 5, dtype=dtype).reshape(4, 5)
    x = sad.placeholder((None, 5), dtype, name="x")
    outs = [sad.max(x), sad.min(x), sad.max(x, axis=1), sad.min(x, axis=0)]
    want = [v.max(), v.min(), v.max(axis=1), v.min(axis=0)]
    for backend in ("numba", "cuda"):
        got = sad.function([x], outs, backend=backend)(v)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype, backend
            np.testing.assert_array_equal(g, w, err_msg=backend)


# --- training: residency of Variables on the device -----------------------------------------------
def _tiny_model(rng, dtype="float32"):
    W1 = sad.Variable(rng.uniform(-0.3, 0.3, (6, 8)).astype(dtype), name="layer1.weight")
    b1 = sad.Variable(rng.uniform(-0.3, 0.3, (6,)).astype(dtype), name="layer1.bias")
    W2 = sad.Variable(rng.uniform(-0.3, 0.3, (3, 6)).astype(dtype), name="layer2.weight")
    b2 = sad.Variable(rng.uniform(-0.3, 0.3, (3,)).astype(dtype), name="layer2.bias")
    x = sad.placeholder((None, 8), dtype, name="x")
    y = sad.placeholder((None, 3), dtype, name="y")
    pred = sad.relu(x @ W1.T + b1) @ W2.T + b2
    loss = ((y - pred) ** 2).sum()
    return [W1, b1, W2, b2], x, y, loss


@needs_cuda
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_tiny_model_training_steps_match_numpy(opt):
    """TinyModel (batch 4, 8 -> 6 -> 3): the same training steps on both backends, Variables
    updated on the device and read back through Variable.value."""
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((4, 8)).astype("float32"), rng.standard_normal((4, 3)).astype("float32")
    runs = {}
    for backend in ("numpy", "cuda"):
        params, x, y, loss = _tiny_model(np.random.default_rng(4))
        optimizer = sad.optim.SGD(0.01, momentum=0.9) if opt == "sgd" else sad.optim.Adam(0.01)
        step = sad.function([x, y], [loss, sad.grad(loss, params[2])],
                            updates=optimizer.updates(loss, params), backend=backend)
        losses = [step(X, Y) for _ in range(3)]
        runs[backend] = (losses, [p.value for p in params])
    (ref_losses, ref_params), (losses, got_params) = runs["numpy"], runs["cuda"]
    for (rl, rg), (gl, gg) in zip(ref_losses, losses):
        np.testing.assert_allclose(gl, rl, rtol=1e-5)
        np.testing.assert_allclose(gg, rg, rtol=1e-5, atol=1e-6)
    for r, g in zip(ref_params, got_params):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    assert ref_losses[-1][0] < ref_losses[0][0]


@needs_cuda
def test_variables_stay_in_sync_with_host_writes_and_other_backends():
    w = sad.Variable(np.array([1.0, 2.0, 3.0]), name="w")
    x = sad.placeholder((None,), "float64", name="x")
    step = sad.function([x], w * 2, updates=[(w, w + x)], backend="cuda")
    np.testing.assert_array_equal(step(np.ones(3)), [2, 4, 6])
    np.testing.assert_array_equal(w.value, [2, 3, 4])            # fetched from the device
    w.assign([10.0, 10.0, 10.0])                                 # host write: re-uploaded
    np.testing.assert_array_equal(step(np.ones(3)), [20, 20, 20])
    cpu = sad.function([x], w * 1, updates=[(w, w - x)], backend="numba")
    np.testing.assert_array_equal(cpu(np.ones(3)), [11, 11, 11])  # the numba backend sees the device value
    np.testing.assert_array_equal(step(np.zeros(3)), [20, 20, 20])  # and cuda sees the numba update
    with pytest.raises(ValueError):
        step(np.ones(2))  # broadcasting error at run time: no Variable changes
    np.testing.assert_array_equal(w.value, [10, 10, 10])
    assert isinstance(w, sad.Variable) and "layer" not in repr(w)


@needs_cuda
def test_profile_changes_no_variable_and_lists_kernels():
    params, x, y, loss = _tiny_model(np.random.default_rng(5))
    step = sad.function([x, y], loss, updates=sad.optim.SGD(0.1).updates(loss, params), backend="cuda")
    before = [p.value for p in params]
    report = step.profile(np.ones((2, 8), "float32"), np.ones((2, 3), "float32"), repeat=2)
    assert any(r.name.startswith("kernel") for r in report.rows) and any("matmul" in r.name for r in report.rows)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.value, b)


# --- device arrays in and out ------------------------------------------------------------------------
@needs_cuda
def test_device_arrays_in_and_out():
    from numba import cuda
    x = sad.placeholder((None, 2), "float32", name="x")
    f = sad.function([x], [sad.sum(x, axis=1) * 2, x + 1], backend="cuda")
    host = np.arange(6, dtype="float32").reshape(3, 2)
    dev = cuda.to_device(host)
    s, y = f(dev)
    assert isinstance(s, np.ndarray) and s.tolist() == [2, 10, 18]
    f.return_device_arrays = True
    s_dev, y_dev = f(x=dev)
    assert not isinstance(s_dev, np.ndarray) and s_dev.shape == (3,)
    np.testing.assert_array_equal(y_dev.copy_to_host(), host + 1)
    with pytest.raises(ValueError, match="expected shape"):
        f(cuda.to_device(np.zeros((3, 3), "float32")))


@needs_cuda
def test_output_buffers_are_reused_only_when_outputs_go_to_the_host():
    """Outputs copied to the host leave their device buffers to the next call (no device
    allocation per output and call); device outputs and update values stay fresh."""
    x = sad.placeholder((None,), "float32", name="x")
    w = sad.Variable(np.ones(3, np.float32), name="w")
    outs = [x * 2, sad.sum(x * w[0])]
    f = sad.function([x], outs, updates=[(w, w * 2)], backend="cuda")
    assert '_ws.out("' in f.source
    a = np.arange(3, dtype=np.float32)
    got = [f(a + i) for i in range(3)]
    for i, (y, s) in enumerate(got):  # each call's host results stay its own
        np.testing.assert_array_equal(y, (a + i) * 2)
        np.testing.assert_allclose(s, (a + i).sum() * 2.0 ** i)
    kept = {k: v for k, v in f._exec._ws.buffers.items() if isinstance(k, tuple)}
    assert sorted(k[0] for k in kept) == ["in", "out", "out"]   # x's device buffer, two outputs
    before = {k: id(v) for k, v in kept.items()}
    f(a)
    assert {k: id(v) for k, v in f._exec._ws.buffers.items() if k in kept} == before  # the same buffers
    np.testing.assert_array_equal(w.value, np.full(3, 16, np.float32))
    f.return_device_arrays = True
    y1, _ = f(a)
    y2, _ = f(a + 1)
    assert y1 is not y2
    np.testing.assert_array_equal(y1.copy_to_host(), a * 2)   # not overwritten by the next call
    np.testing.assert_array_equal(y2.copy_to_host(), (a + 1) * 2)
    assert [k[0] for k in f._exec._ws.buffers if isinstance(k, tuple)] == ["in"]
    ident = sad.function([x], [x, x + 1], backend="cuda")   # an input returned as an output is copied
    r1, _ = ident(a)
    r2, _ = ident(a + 5)
    np.testing.assert_array_equal(r1, a)
    np.testing.assert_array_equal(r2, a + 5)


# --- the generated module ------------------------------------------------------------------------------
@needs_cuda
def test_source_names_kernels_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(tmp_path))
    params, x, y, loss = _tiny_model(np.random.default_rng(6))
    outs = [loss] + sad.grad(loss, params)
    f = sad.function([x, y], outs, backend="cuda")
    src = f.source
    assert src.count("def entry(") == 1 and "@cuda.jit" in src and "def matmul_float32(" in src
    assert "cuda.shared.array" in src and "_finish(" in src           # tiled matmul, two-pass reduction
    assert "layer1_weight" in src and f.stats["kernels"] >= 2
    assert "copy_r2" not in src  # the transposed weights are read in place by the matmul
    assert list((tmp_path / "modules").glob("staticad_gen_*.py"))
    again = sad.function([x, y], outs, backend="cuda")
    assert again.source == src and again.stats["cache_hit"]


def test_clear_error_without_gpu_or_simulator():
    script = textwrap.dedent("""
        import numpy as np, staticad as sad
        x = sad.placeholder((3,), name="x")
        try:
            sad.function([x], x * 2, backend="cuda")
        except RuntimeError as exc:
            print("ERROR:", exc)
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(NUMBA_DISABLE_CUDA="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ERROR:" in proc.stdout
    for needle in ("backend='cuda'", "NUMBA_ENABLE_CUDASIM=1", "pip install staticad[cuda]"):
        assert needle in proc.stdout, proc.stdout


def test_cuda_kernels_compile_to_ptx_when_nvvm_is_installed():
    """Type-checks every kernel for a real GPU (sm_80) with numba-cuda + NVVM, no GPU needed; the
    simulator checks none of that. Skipped where numba-cuda/NVVM are not installed."""
    script = textwrap.dedent("""
        import numpy as np, staticad as sad
        from staticad.program import Program
        from staticad.backends import cuda_backend
        from numba import cuda
        try:
            cuda.compile_ptx(lambda a: None, "void(float32[::1])", cc=(8, 0))
        except Exception as exc:
            print("SKIP", type(exc).__name__); raise SystemExit
        x = sad.placeholder((None, 8), name="x"); y = sad.placeholder((None, 3), name="y")
        W = sad.Variable(np.ones((3, 8), "float32"), name="W")
        z = sad.relu(x @ W.T)
        loss = ((y - z) ** 2).sum() + sad.max(z, axis=0).sum() + sad.norm(x) + sad.prod(x, axis=1).sum()
        outs = [loss, sad.softmax(z), x[1:, ::2], sad.concatenate([x, x], 1), sad.min(x)] + sad.grad(loss, [x, W])
        prog = Program.build("ptx", [x, y], outs, sad.optim.Adam(0.1).updates(loss, [W]))
        module, sigs, _ = cuda_backend.generate_for_gpu(prog)
        print("PTX", len(cuda_backend.kernel_ptx(module, sigs)))
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "SKIP" in proc.stdout:
        pytest.skip("numba-cuda with NVVM is not installed (pip install 'numba-cuda[cu12]')")
    assert "PTX" in proc.stdout


# --- random graphs -----------------------------------------------------------------------------------
# the fuzzer's recipes and graph builder (staticad.fuzz), without control flow
random_graph = lambda: fuzz.random_graph(kinds=["u", "u", "b", "b", "r", "m"])  # noqa: E731


@needs_cuda
@settings(max_examples=40 if FULL else 4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(random_graph())
def test_random_graphs_agree(graph):
    phs, outs, vals = fuzz.build(graph)
    ref = sad.function(phs, outs, backend="numpy")(*vals)
    got = sad.function(phs, outs, backend="cuda")(*vals)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)


# --- real GPU only ----------------------------------------------------------------------------------------
@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpu_larger_sizes_agree(dtype):
    rng = np.random.default_rng(7)
    x = sad.placeholder((None, 300), dtype, name="x")
    W = sad.placeholder((300, 200), dtype, name="W")
    h = sad.tanh(x @ W)
    loss = sad.sum(h * h) + sad.logsumexp(h, axis=1).sum()
    outs = [loss, sad.softmax(h), sad.max(h, axis=0)] + sad.grad(loss, [x, W])
    vals = [rng.standard_normal((1000, 300)).astype(dtype) * 0.1, rng.standard_normal((300, 200)).astype(dtype) * 0.1]
    ref = sad.function([x, W], outs, backend="numpy")(*vals)
    got = sad.function([x, W], outs, backend="cuda")(*vals)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=RTOL[np.dtype(dtype)] * 100, atol=1e-4 if dtype == "float32" else 1e-10)


@pytest.mark.gpu
@gpu
def test_gpu_matmul_throughput(capsys):
    import time
    from numba import cuda
    n = 2048
    a = sad.placeholder((n, n), "float32", name="a")
    b = sad.placeholder((n, n), "float32", name="b")
    f = sad.function([a, b], a @ b, backend="cuda")
    f.return_device_arrays = True
    rng = np.random.default_rng(8)
    A, B = cuda.to_device(rng.standard_normal((n, n)).astype("float32")), cuda.to_device(
        rng.standard_normal((n, n)).astype("float32"))
    f(A, B)
    cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        out = f(A, B)
    cuda.synchronize()
    seconds = (time.perf_counter() - t0) / 5
    with capsys.disabled():
        print(f"\ncuda matmul {n}x{n} float32: {2 * n ** 3 / seconds / 1e12:.2f} TFLOP/s ({seconds * 1e3:.2f} ms)")
    np.testing.assert_allclose(out.copy_to_host()[:4, :4], (A.copy_to_host() @ B.copy_to_host())[:4, :4], rtol=1e-3)


@needs_cuda
def test_bench_cuda_column_runs_and_checks(tmp_path, capsys):
    """``staticad bench --backend cuda`` at a tiny size: the cuda column runs and its outputs match
    the hand-written NumPy baseline (on the simulator its times mean nothing)."""
    import json
    from staticad.cli import main
    path = tmp_path / "bench.json"
    assert main(["bench", "scalar", "chain", "--backend", "cuda", "--size", "50", "--repeat", "1", "--warmup", "0",
                 "-q", "--json", str(path)]) == 0
    for result in json.loads(path.read_text())["results"]:
        cuda = next(c for c in result["columns"] if c["column"] == "cuda")
        assert cuda["status"] == "ok" and cuda["matches_numpy_hand"], (result["workload"], cuda)


@needs_cuda
def test_training_step_moves_only_inputs_in_and_requested_outputs_out(monkeypatch):
    """Device residency: after the first step, a step uploads its 2 inputs and downloads its 1
    requested output; the Variables (and the momentum state, also Variables) never cross."""
    from numba import cuda
    params, x, y, loss = _tiny_model(np.random.default_rng(9))
    optimizer = sad.optim.SGD(0.01, momentum=0.9)
    step = sad.function([x, y], loss, updates=optimizer.updates(loss, params), backend="cuda")
    X, Y = np.ones((4, 8), "float32"), np.ones((4, 3), "float32")
    step(X, Y)  # first call: Variables and constants go up once
    moved = {"in": 0, "out": 0}
    to_device = cuda.to_device

    def counting_to_device(*a, **k):
        moved["in"] += 1
        return to_device(*a, **k)

    monkeypatch.setattr(cuda, "to_device", counting_to_device)
    array_type = type(to_device(np.zeros(1)))
    copy_to_host = array_type.copy_to_host

    def counting_copy_to_host(self, *a, **k):
        moved["out"] += 1
        return copy_to_host(self, *a, **k)

    monkeypatch.setattr(array_type, "copy_to_host", counting_copy_to_host)
    copy_to_device = array_type.copy_to_device

    def counting_copy_to_device(self, *a, **k):   # an input into its device buffer of the last call
        moved["in"] += 1
        return copy_to_device(self, *a, **k)

    monkeypatch.setattr(array_type, "copy_to_device", counting_copy_to_device)
    losses = [float(step(X, Y)) for _ in range(3)]
    assert moved == {"in": 6, "out": 3}, moved
    assert len(set(losses)) == 3  # every step updated the Variables on the device
    monkeypatch.undo()
    before = params[0].value                     # reading a Variable fetches it once ...
    np.testing.assert_array_equal(params[0].value, before)
    step(X, Y)                                   # ... and the next step does not re-upload it
    assert not np.array_equal(params[0].value, before)


@needs_cuda
def test_cuda_shares_the_cpu_backends_passes_and_plan():
    """One optimization pipeline: the same passes report, graph after passes and kernel plan."""
    params, x, y, loss = _tiny_model(np.random.default_rng(10))
    outs = [loss, sad.softmax(x), sad.max(x, axis=1)] + sad.grad(loss, params)
    cpu = sad.function([x, y], outs, backend="numba")
    gpu = sad.function([x, y], outs, backend="cuda")
    for key in ("nodes_declared", "nodes_after_passes", "kernels", "fused_ops", "passes"):
        assert cpu.stats[key] == gpu.stats[key], key
    assert [k.name for k in cpu._exec.plan.kernels] == [k.name for k in gpu._exec.plan.kernels]


def test_compile_kernels_reports_a_hit_only_when_nothing_compiled():
    """On a GPU, cache_hit comes from numba's per-signature counters: a kernel already in memory or
    loaded from numba's disk cache is a hit, one whose ``_cache_misses`` grows was compiled. (A
    stand-in for numba's CUDA dispatcher: the real one needs a GPU.)"""
    from collections import Counter
    from types import SimpleNamespace

    class Dispatcher:  # numba.cuda.dispatcher.CUDADispatcher.compile's bookkeeping
        def __init__(self, on_disk):
            self.on_disk, self.overloads, self._cache_misses = set(on_disk), set(), Counter()

        def compile(self, sig):
            if sig in self.overloads:
                return
            if sig not in self.on_disk:
                self._cache_misses[sig] += 1
            self.overloads.add(sig)

    sigs = {"kernel0": [(("i",), ("a", np.dtype("float32")))], "fill": [(("i",), ("a", np.dtype("float64")), ("f",))]}
    texts = {name: [cuda_backend.signature_text(k) for k in s] for name, s in sigs.items()}
    assert texts["kernel0"] == ["void(int64, float32[::1])"]
    cold = SimpleNamespace(kernel0=Dispatcher([]), fill=Dispatcher(texts["fill"]))
    assert cuda_backend.compile_kernels(cold, sigs) is False      # kernel0 had to be compiled
    assert cuda_backend.compile_kernels(cold, sigs) is True       # now both are in memory
    warm = SimpleNamespace(kernel0=Dispatcher(texts["kernel0"]), fill=Dispatcher(texts["fill"]))
    assert cuda_backend.compile_kernels(warm, sigs) is True       # both from the disk cache

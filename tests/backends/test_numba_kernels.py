"""The numba backend's kernel library (canonical, shared loop kernels) and entry-point segments."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import staticad as sad
from staticad.backends import numba_segments

def _two_sines(tag):
    # two placeholders with their own run-time lengths: two loop kernels of the same structure
    a = sad.placeholder((None,), "float32", name=f"a{tag}")
    b = sad.placeholder((None,), "float32", name=f"b{tag}")
    loss = sad.sum(sad.sin(a) * 2.0 + 1.0) + sad.sum(sad.sin(b) * 2.0 + 1.0)
    return [a, b], loss


def _kernel_calls(source):
    """Kernel functions the serial entry point calls."""
    entry = source.split("# ---- ")[0].split("def entry(")[1].split("\ndef ")[0]
    return re.findall(r"\b(k_\w+)\(", entry)


def test_identical_kernels_are_one_library_function():
    ins, loss = _two_sines("x")
    f = sad.function(ins, [loss] + sad.grad(loss, ins), backend="numba")
    a = np.linspace(-1, 1, 7, dtype=np.float32)
    b = np.linspace(0, 2, 11, dtype=np.float32)
    got = f(a, b)
    ref = sad.function(ins, [loss] + sad.grad(loss, ins), backend="numpy")(a, b)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5)
    calls = _kernel_calls(f.source)
    assert len(calls) >= 2 and len(set(calls)) < len(calls), calls  # one function, several calls
    # each library kernel is a module of its own, listed after the entry point's
    imported = re.findall(r"^from staticad\._gen\.\w+ import (k_\w+)$", f.source, re.M)
    assert set(calls) <= set(imported)
    assert f.source.count("# ---- staticad._gen.staticad_gen_") == len(imported)


def test_kernel_names_depend_on_structure_not_on_node_names():
    first, second = [], []
    for tag, out in (("p", first), ("q", second)):
        ins, loss = _two_sines(tag)
        f = sad.function(ins, [loss], backend="numba")
        out += sorted(set(_kernel_calls(f.source)))
    assert first == second


def test_kernel_library_is_shared_between_graphs_and_processes(tmp_path):
    """A second process compiling a different graph with the same kernel loads it from the cache."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import staticad as sad
        x = sad.placeholder((None,), "float64", name="x")
        h = sad.tanh(x * 3.0) * 0.5
        extra = float(sys.argv[1])
        loss = sad.sum(h) + extra * sad.sum(x)   # a different graph each run
        f = sad.function([x], [loss], backend="numba")
        print(float(f(np.arange(5.0))[0]))
        ex = f._exec
        hits = []
        for name in dir(ex.module):
            if name.startswith("k_"):
                hits.append(sum(getattr(ex.module, name).stats.cache_hits.values()))
        print(sum(hits))
    """)
    env = dict(os.environ, STATICAD_CACHE_DIR=str(tmp_path / "cache"))
    runs = []
    for extra in ("0.0", "2.0"):
        out = subprocess.run([sys.executable, "-c", script, extra], env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        runs.append(out.stdout.split())
    value = lambda extra: float(np.sum(np.tanh(np.arange(5.0) * 3.0) * 0.5) + extra * 10.0)  # noqa: E731
    assert float(runs[0][0]) == pytest.approx(value(0.0))
    assert float(runs[1][0]) == pytest.approx(value(2.0))
    assert int(runs[0][1]) == 0 < int(runs[1][1])


# --- segments ---------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _short_segments(monkeypatch):
    """The splitting mechanism at small sizes (the real thresholds only split functions of
    thousands of lines)."""
    monkeypatch.setattr(numba_segments, "SPLIT_ABOVE", 120)
    monkeypatch.setattr(numba_segments, "SEGMENT_LINES", 60)


def _long_function(n):
    lines = ['@njit(cache=True)', 'def entry(x, ws):', '    acc = 0', '    flag = False']
    for i in range(n):
        lines.append(f"    # step {i}")
        lines.append(f"    t{i} = x * {i} + (t{i - 1} if {i} > 0 else 0)" if i else "    t0 = x")
        if i % 7 == 3:
            lines.append("    if t%d > 100:" % i)
            lines.append("        flag = True")
        if i % 5 == 0:
            lines.append(f"    acc += t{i}")
    lines.append(f"    return t{n - 1}, acc, flag")
    return lines


def _run(lines, x):
    scope = {"njit": lambda *a, **k: (lambda f: f)}
    exec("\n".join(lines), scope)
    return scope["entry"](x, None)


@pytest.mark.parametrize("n", [5, 80, 300])
def test_split_keeps_the_meaning_of_a_function(n):
    lines = _long_function(n)
    registry = {}
    split = numba_segments.split(lines, registry)
    assert _run(split, 3) == _run(lines, 3)
    if len(lines) - 2 > numba_segments.SPLIT_ABOVE:
        assert any(l.startswith("def entry__seg") for l in split)
        assert all("no_cpython_wrapper=True" in split[i - 1] for i, l in enumerate(split) if l.startswith("def entry__seg"))
        assert "# step 1" in "\n".join(split)  # comments travel with their statements
    else:
        assert split == lines


def test_split_segments_hand_on_few_values():
    lines = _long_function(300)
    split = numba_segments.split(lines, {})
    for line in split:
        if line.startswith("    return (") and "entry__seg" not in line:
            assert line.count(",") <= numba_segments.MAX_RESULTS


def test_split_marks_every_segment_for_wide_vectors():
    """A function starting with numba_source.VECTOR_HINT: so does each of its segments (LLVM
    vectorizes each segment's inline loops on its own), and the caller keeps it."""
    lines = _long_function(300)
    marked = lines[:2] + [numba_segments.VECTOR_HINT] + lines[2:]
    scope_hint = "_rt = type('rt', (), {'wide_vectors': staticmethod(lambda: None)})"
    split = numba_segments.split(marked, {})
    defs = [i for i, l in enumerate(split) if l.startswith("def ")]
    assert len(defs) > 2
    assert all(split[i + 1] == numba_segments.VECTOR_HINT for i in defs)
    assert sum(l == numba_segments.VECTOR_HINT for l in split) == len(defs)
    assert _run([scope_hint] + split, 3) == _run(lines, 3)


def test_segment_options_are_not_repeated():
    """A function already without its C wrapper (the entry point): its segments' decorators name
    each option once (a repeated keyword is a SyntaxError)."""
    lines = _long_function(300)
    lines[0] = "@njit(cache=True, no_cfunc_wrapper=True)"
    split = numba_segments.split(lines, {})
    heads = [l for l in split if l.startswith("@njit(")]
    assert len(heads) > 2
    assert all(h.count("no_cfunc_wrapper") == 1 for h in heads)
    assert sum("no_cpython_wrapper=True" in h for h in heads) == len(heads) - 1  # all but the caller
    assert _run(split, 3) == _run(_long_function(300), 3)


def test_identical_segments_are_shared():
    lines = _long_function(300)
    registry = {}
    first = numba_segments.split(lines, registry)
    twin = [lines[0], lines[1].replace("def entry(", "def entry_par(")] + lines[2:]
    second = numba_segments.split(twin, registry)
    assert not any(l.startswith("def entry_par__seg") for l in second)  # all reused
    assert any(l.startswith("def entry__seg") for l in first)


def test_fused_float32_trig_kernel_vectorizes_full_width():
    """The chain kernel (sin, cos, exp, tanh fused, with the fast-trig fallback flag) runs as
    many float32 lanes as a plain float32 loop: an int64 counter of out-of-range arguments had
    LLVM vectorize it at half width. Checked on the LLVM IR of the library kernel, recompiled."""
    import importlib
    from numba import njit

    from staticad.backends import numba_runtime as _rt
    x = sad.placeholder((None,), "float32", name="x")
    loss = sad.sum((sad.sin(x) * 2 + 1) ** 2 * sad.exp(-x * x) + sad.tanh(x))
    f = sad.function([x], sad.grad(loss, x), backend="numba")
    v = np.linspace(-3, 3, 1001, dtype=np.float32)
    np.testing.assert_allclose(f(v), sad.function([x], sad.grad(loss, x), backend="numpy")(v),
                               rtol=1e-5, atol=1e-6)
    assert "n_slow" in f.source
    module, name = re.search(r"^from (staticad\._gen\.\w+) import (k_\w+)$", f.source, re.M).groups()
    kernel = njit(error_model="numpy", fastmath={"contract"})(getattr(importlib.import_module(module), name).py_func)
    kernel(np.int64(0), np.int64(v.size), v, np.empty_like(v))

    @njit(error_model="numpy", fastmath={"contract"})
    def plain(k_lo, n, x0, y0):
        _rt.wide_vectors()  # as every generated function
        for k in range(k_lo, n):
            y0[k] = x0[k] * np.float32(3.0) + np.float32(1.0)
    plain(np.int64(0), np.int64(v.size), v, np.empty_like(v))

    def width(fn):
        return max((int(w) for w in re.findall(r"<(\d+) x float>", fn.inspect_llvm(fn.signatures[0]))), default=1)
    assert width(kernel) == width(plain) > 1


def test_generated_functions_ask_llvm_for_512_bit_vectors():
    """Every generated function carries numba_runtime.WIDE_ATTRIBUTES in its LLVM IR: on an
    AVX-512 CPU the kernel's loop then runs 16 float32 lanes (LLVM's default there is 8)."""
    import importlib

    import llvmlite.binding as llvm
    from numba import njit

    from staticad.backends import numba_runtime as _rt
    x = sad.placeholder((None,), "float32", name="x")
    loss = sad.sum(sad.exp(-x * x) * 3.0 + x)
    f = sad.function([x], sad.grad(loss, x), backend="numba")  # (a sum's float64 staging: 8 lanes)
    v = np.linspace(-2, 2, 777, dtype=np.float32)
    np.testing.assert_allclose(f(v), (-2 * v * np.exp(-v * v) * 3 + 1), rtol=1e-5, atol=1e-6)
    module, name = re.search(r"^from (staticad\._gen\.\w+) import (k_\w+)$", f.source, re.M).groups()
    # compiled again here (the cached ones may have been loaded from disk: no IR to inspect)
    kernel = njit(error_model="numpy", fastmath={"contract"})(getattr(importlib.import_module(module), name).py_func)
    kernel(np.int64(0), np.int64(v.size), v, np.empty_like(v))
    entry = njit(error_model="numpy", fastmath={"contract"})(f._exec.module.entry.py_func)
    entry.compile(f._exec._sig)
    for fn in (kernel, entry):
        ir = fn.inspect_llvm(fn.signatures[0])
        for attr in _rt.WIDE_ATTRIBUTES:
            assert attr in ir
    if "+avx512f" in llvm.get_host_cpu_features().flatten().split(","):
        ir = kernel.inspect_llvm(kernel.signatures[0])
        assert max(int(w) for w in re.findall(r"<(\d+) x float>", ir)) == 16


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sin_and_cos_of_one_value_share_one_call(dtype):
    """A kernel computing sin(v) and cos(v) (a derivative of sin next to sin) calls sincos once
    (one argument reduction) and agrees with the numpy backend; float32 flat loops keep the fast
    pair (LLVM shares it), static-shape loops pair the full-range functions."""
    x = sad.placeholder((3, 40), dtype, name="x")
    loss = sad.sum(sad.sin(x * 2.0) * sad.exp(x))
    outs = [loss, sad.grad(loss, x), sad.cos(x * 2.0) + 1.0]
    f = sad.function([x], outs, backend="numba")
    ref = sad.function([x], outs, backend="numpy")
    suffix = "f32" if dtype == "float32" else "f64"
    assert f.source.count(f"_nm.sincos_{suffix}(") == 1
    assert f"_nm.sin_{suffix}(" not in f.source and f"_nm.cos_{suffix}(" not in f.source
    v = np.random.default_rng(3).uniform(-4, 4, (3, 40)).astype(dtype)
    for got, want in zip(f(v), ref(v)):
        np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == "float32" else 1e-13, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape,row", [((100,), None), ((2, 3000), 3000), ((None,), None)],
                         ids=["inline", "nd-library", "flat"])
def test_trig_fast_path_and_redo_give_full_range_bits(shape, row, dtype):
    """sin/cos/tan in a loop without reductions take the fast path in every loop shape:
    written inline (a static 100-element loop, as in the hessian), a library nest (a broadcast
    over 6000 elements), a flat block loop. A loop holding an argument beyond the limit, inf or
    NaN is redone with the full-range functions: the bits of numba_math's sin_f64 etc. either way
    (float32: sin_fast_f32 etc., sin and cos as two calls)."""
    from numba import njit
    from staticad.backends import numba_math as nm
    sfx = "f64" if dtype == "float64" else "f32"
    ity = np.int64 if dtype == "float64" else np.int32
    x = sad.placeholder(shape, dtype, name="x")
    ins = [x]
    if row is not None:
        r = sad.placeholder((row,), dtype, name="r")
        ins.append(r)
        x = x + r
    outs = [sad.sin(x) * 2.0, sad.cos(x) + 1.0, sad.tan(x)]
    f = sad.function(ins, outs, backend="numba")
    pair = "_nm.sincos_fast_f64(" if dtype == "float64" else "_nm.cos_fast_f32("
    assert pair in f.source and f"_nm.tan_fast_{sfx}(" in f.source
    assert "n_slow" in f.source and f"_nm.TRIG_FAST_LIMIT_{sfx.upper()}" in f.source
    sin, cos, tan = (getattr(nm, f"{name}_{sfx}") for name in ("sin", "cos", "tan"))
    two, one = np.dtype(dtype).type(2.0), np.dtype(dtype).type(1.0)

    @njit(error_model="numpy", fastmath={"contract"})
    def full(v):
        s, c, t = np.empty_like(v), np.empty_like(v), np.empty_like(v)
        for i in range(v.size):
            s[i], c[i], t[i] = sin(v[i]) * two, cos(v[i]) + one, tan(v[i])
        return s, c, t

    rng = np.random.default_rng(7)
    size = 100 if shape == (100,) else 6000
    lim = float(nm.TRIG_FAST_LIMIT_F64 if dtype == "float64" else nm.TRIG_FAST_LIMIT_F32)
    for bad in (None, 1e30, -1e22, np.inf, np.nan, -lim, lim * (1 + 2.0 ** -20)):
        v = rng.uniform(-10, 10, size).astype(dtype)
        if bad is not None:
            v[size // 3] = bad
        args = [v] if row is None else [v.reshape(2, row), np.zeros(row, dtype)]
        want = full(v)
        for got, w in zip(f(*args), want):
            got = np.ravel(got)
            assert np.array_equal(np.isnan(got), np.isnan(w)), bad
            assert np.array_equal(got[~np.isnan(w)].view(ity), w[~np.isnan(w)].view(ity)), bad

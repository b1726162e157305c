"""The profiler: ``f.profile`` (per-kernel timing from an instrumented numba variant, per-node
timing on numpy), ``with sad.profile() as p:`` and the Chrome trace export.

Times are only compared with each other (kernel times inside the call's wall time), never with
absolute values. Compiled functions are shared through module-scoped fixtures.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import staticad as sad
from staticad import profiler
from staticad.function import Function

REPO = Path(__file__).resolve().parents[1]


def _load_example():
    spec = importlib.util.spec_from_file_location("_tiny_mlp_example", REPO / "examples" / "tiny_mlp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny():
    return _load_example()


@pytest.fixture(scope="module")
def step(tiny):
    """The TinyModel SGD step on numba, its data, and its instrumented variant built once."""
    f = tiny.train_step()
    X, Y = tiny.data()
    report = f.profile(X, Y, repeat=4)
    return f, X, Y, report


@pytest.fixture(scope="module")
def twin(tiny):
    """The same step compiled a second time (same graph: a cache hit), for unprofiled runs."""
    return tiny.train_step()


def _ops_of(kernel):
    return ", ".join(n.op.name for n in kernel.nodes())


# --------------------------------------------------------------------------------------------
# f.profile on numba


def test_profile_rows_are_the_plan_steps(step):
    f, X, Y, report = step
    plan = f._exec.plan
    rows = {r.name: r for r in report.rows}
    for k in plan.kernels:
        assert rows[k.name].kind == "kernel"
        assert rows[k.name].ops == _ops_of(k)
    libs = [r for r in report.rows if r.kind == "library"]
    assert len(libs) == len(plan.steps) - len(plan.kernels)
    assert {r.ops for r in libs} >= {"matmul"}
    assert sum(r.kind == "epilogue" for r in report.rows) == 1
    assert len(report.rows) == len(plan.steps) + 1
    assert all(r.calls == 4 for r in report.rows)
    assert report.calls == 4
    totals = [r.total for r in report.rows]
    assert totals == sorted(totals, reverse=True)
    for r in report.rows:
        assert r.total >= 0 and r.mean == pytest.approx(r.total / 4)


def test_profile_kernel_time_within_wall_time(step):
    f, X, Y, report = step
    assert 0 < report.kernel_seconds <= report.wall_seconds
    for rec in report.records:
        inside = sum(s.dur_ns for s in rec.steps)
        assert inside <= rec.end_ns - rec.start_ns
        for s in rec.steps:
            assert rec.start_ns <= s.start_ns and s.start_ns + s.dur_ns <= rec.end_ns
        starts = [s.start_ns for s in rec.steps]
        assert starts == sorted(starts)  # steps run one after the other, in plan order


def test_profile_table_text(step):
    f, X, Y, report = step
    table = str(report)
    lines = table.splitlines()
    for word in ("kernel", "ops fused", "calls", "total ms", "mean us", "share"):
        assert word in lines[0]
    assert "kernel0" in table and "matmul" in table and "wall" in table
    assert len(lines) >= len(report.rows) + 3
    assert "clock_gettime" in table or "objmode" in table
    shares = [float(l.rsplit(None, 1)[1].rstrip("%")) for l in lines[2:2 + len(report.rows)]]
    assert sum(shares) == pytest.approx(100, abs=1)


def test_profile_leaves_variables_unchanged(step):
    f, X, Y, _ = step
    variables = f._exec._variables
    before = [v.value for v in variables]
    f.profile(X, Y, repeat=3)
    for v, b in zip(variables, before):
        np.testing.assert_array_equal(v.value, b)


def test_instrumented_variant_is_built_once_and_normal_code_has_no_timers(step):
    f, X, Y, _ = step
    variant = f._profile_variant
    assert variant is not None
    f.profile(X, Y, repeat=1)
    assert f._profile_variant is variant
    assert "_tm.now_ns()" in variant.source and "_prof" in variant.source
    assert "now_ns" not in f.source and "_prof" not in f.source


def test_instrumented_variant_computes_the_same_outputs(step, twin):
    f, X, Y, _ = step
    variant = profiler.instrumented(f)
    saved = [v.value for v in f._exec._variables]
    timings = []
    outs, _ = variant.run(f._bind((X, Y), {}), timings)
    for v, s in zip(f._exec._variables, saved):  # the variant also applied the update: undo it
        v.assign(s)
    ref = twin._exec.run(twin._bind((X, Y), {}))[0]
    for v, s in zip(twin._exec._variables, saved):
        v.assign(s)
    np.testing.assert_allclose(np.asarray(outs[0]), np.asarray(ref[0]), rtol=1e-6)
    assert [t[:3] for t in timings] == variant.steps and all(t[4] >= 0 for t in timings)
    assert variant.options.profile and not f._exec.options.profile


def test_profile_report_chrome_trace(step, tmp_path):
    f, X, Y, report = step
    path = tmp_path / "f.json"
    report.export_chrome_trace(path)
    data = json.loads(path.read_text())
    events = data["traceEvents"]
    assert len(events) == sum(r.calls for r in report.rows)
    names = {r.name for r in report.rows}
    for e in events:
        assert e["ph"] == "X" and e["name"] in names
        assert e["dur"] >= 0 and e["ts"] >= 0
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert "ops" in e["args"]
    for k in f._exec.plan.kernels:  # one event per kernel per call
        assert sum(e["name"] == k.name for e in events) == report.calls


# --------------------------------------------------------------------------------------------
# with sad.profile()


def test_session_records_real_calls_of_several_functions(step, twin, tmp_path):
    f, X, Y, _ = step
    x = sad.placeholder((None,), name="x")
    g_numpy = sad.function([x], sad.grad((sad.sin(x) ** 2).sum(), x), backend="numpy", name="sin_grad")
    # f and twin start from the same parameters; f runs profiled, twin unprofiled
    for v, w in zip(f._exec._variables, twin._exec._variables):
        w.assign(v.value)
    original_call = Function.__dict__["__call__"]
    with sad.profile() as p:
        losses = [f(X, Y) for _ in range(3)]
        gx = g_numpy(np.linspace(0, 1, 7))
        assert Function.__dict__["__call__"] is not original_call
    assert Function.__dict__["__call__"] is original_call  # the hook is gone after the block
    ref = [twin(X, Y) for _ in range(3)]
    for a, b in zip(losses, ref):  # real calls: same results, updates applied
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for v, w in zip(f._exec._variables, twin._exec._variables):
        np.testing.assert_array_equal(v.value, w.value)
    np.testing.assert_allclose(gx, np.sin(2 * np.linspace(0, 1, 7)), rtol=1e-5, atol=1e-6)

    assert p.calls == 4
    rows = p.rows
    assert {r.function for r in rows} == {"tiny_mlp_step", "sin_grad"}
    assert all(r.calls == 3 for r in rows if r.function == "tiny_mlp_step")
    assert all(r.calls == 1 for r in rows if r.function == "sin_grad")
    report = p.report()
    assert report.kernel_seconds <= report.wall_seconds
    table = str(p)
    assert "function" in table.splitlines()[0] and "sin_grad" in table and "kernel0" in table

    path = tmp_path / "trace.json"
    p.export_chrome_trace(path)
    events = json.loads(path.read_text())["traceEvents"]
    assert len(events) == sum(r.calls for r in rows)
    assert all(e["ph"] == "X" and {"ts", "dur", "pid", "tid", "name", "args"} <= set(e) for e in events)
    kernel_events = [e for e in events if e["args"]["function"] == "tiny_mlp_step" and e["name"] == "kernel0"]
    assert len(kernel_events) == 3
    with_calls = p.chrome_trace(include_calls=True)["traceEvents"]
    assert sum(e["cat"] == "call" for e in with_calls) == 4


def test_session_hook_removed_on_error_and_nesting(step):
    f, X, Y, _ = step
    saved = [v.value for v in f._exec._variables]
    original_call = Function.__dict__["__call__"]
    with pytest.raises(ValueError, match="x"):
        with sad.profile():
            f(np.ones((2, 3), np.float32), Y)  # wrong shape: the call's own error
    assert Function.__dict__["__call__"] is original_call
    with sad.profile() as outer:
        f(X, Y)
        with sad.profile() as inner:
            f(X, Y)
    assert outer.calls == 2 and inner.calls == 1
    assert Function.__dict__["__call__"] is original_call
    for v, s in zip(f._exec._variables, saved):
        v.assign(s)


# --------------------------------------------------------------------------------------------
# numpy backend and the building blocks


def test_numpy_backend_profile_per_node():
    x = sad.placeholder((None,), name="x")
    v = sad.Variable(np.zeros(3, np.float32), name="v")
    f = sad.function([x], (sad.exp(x) * v).sum(), updates=[(v, v + x)], backend="numpy")
    r = f.profile(np.ones(3), repeat=5)
    assert all(row.kind == "node" and row.calls == 5 for row in r.rows)
    assert {"exp", "multiply", "sum"} <= {row.ops for row in r.rows}
    assert r.kernel_seconds <= r.wall_seconds
    np.testing.assert_array_equal(v.value, np.zeros(3))  # updates not applied by f.profile
    events = r.chrome_trace()["traceEvents"]
    assert len(events) == 5 * len(r.rows)
    with sad.profile() as p:
        f(np.ones(3))
    np.testing.assert_array_equal(v.value, np.ones(3))  # a real call: the update applied
    assert p.calls == 1


def test_codegen_profile_flag_emits_timers_only_when_asked(step):
    from staticad.backends.numba_codegen import NumbaCodegen, generate
    f = step[0]
    plan = f._exec.plan
    cg = NumbaCodegen(plan, profile=True)
    src = cg.generate()
    n = len(plan.steps) + 1
    assert len(cg.profile_steps) == n
    assert f"_prof = np.zeros(({n}, 2), np.float64)" in src
    assert src.count("_tp = _tm.now_ns()") == n
    assert "ws_used[0], wants_parallel, _prof" in src
    plain = generate(plan)[0]
    assert plain == f._exec.module_source and f.source.startswith(plain)


def test_timer_reads_the_python_clock():
    from numba import njit
    from staticad.backends import numba_timer

    @njit
    def read():
        return numba_timer.now_ns()

    read()
    a = numba_timer.py_now_ns()
    b = read()
    c = numba_timer.py_now_ns()
    assert a <= b <= c
    assert profiler._now_ns() >= c


def test_repeat_validation():
    x = sad.placeholder((2,), name="x")
    f = sad.function([x], x + 1, backend="numpy")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="repeat"):
            f.profile(np.ones(2), repeat=bad)


def test_fallback_when_the_instrumented_variant_cannot_be_built(twin, tiny, monkeypatch):
    def broken(plan, backend, options):
        raise RuntimeError("no timer here")

    monkeypatch.setattr(profiler.timing, "compile_plan", broken)
    X, Y = tiny.data()
    saved = [v.value for v in twin._exec._variables]
    try:
        with pytest.warns(RuntimeWarning, match="no timer here"):
            r = twin.profile(X, Y, repeat=2)
        assert [row.name for row in r.rows] == ["entry"] and r.rows[0].calls == 2
        assert r.kernel_seconds <= r.wall_seconds
        for v, s in zip(twin._exec._variables, saved):
            np.testing.assert_array_equal(v.value, s)  # still restored
        with sad.profile() as p:
            twin(X, Y)
        assert p.calls == 1 and p.rows[0].name == "entry"
        assert not all(np.array_equal(v.value, s) for v, s in zip(twin._exec._variables, saved))  # applied
    finally:
        twin.__dict__.pop("_profile_variant", None)
        for v, s in zip(twin._exec._variables, saved):
            v.assign(s)


def test_table_counts_repeated_ops_of_a_long_fused_chain():
    assert profiler.ops_summary("divide, multiply, divide, multiply, sum") == "divide x2, multiply x2, sum"
    assert profiler.ops_summary("matmul") == "matmul"
    x = sad.placeholder((2, 3), name="x")
    z = sad.ones((2, 3))
    for _ in range(30):
        z = (z / x) * 2.0
    f = sad.function([x], z, backend="numpy")
    report = f.profile(np.full((2, 3), 1.5, np.float32), repeat=2)
    assert any(r.ops == "divide" for r in report.rows)  # numpy: one row per node
    rows = [profiler.KernelTiming("kernel0", ", ".join(["divide", "multiply"] * 30), 2, 1e-3)]
    table = profiler.ProfileReport(rows, wall_seconds=2e-3, calls=2).table()
    assert "divide x30, multiply x30" in table and "..." not in table

"""The ``staticad bench`` progress indicator (plain lines, a line rewritten in place, tqdm/rich when
importable) and the phases and skipped columns the runner reports to it."""
from __future__ import annotations

import io
import sys
import types


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def test_bench_progress_plain_lines_when_not_a_terminal():
    from staticad.cli.bench import progress_printer
    err = _Stream(False)
    show = progress_printer(err)
    show(1, 2, "scalar () numpy")
    show(1, 2, "scalar () numpy: compiling")
    show(2, 2, "scalar () numba")
    show(2, 2, None)
    assert err.getvalue().splitlines() == ["staticad bench: [1/2] scalar () numpy",
                                           "staticad bench: [2/2] scalar () numba"]


def test_bench_progress_on_a_terminal(monkeypatch):
    import importlib.util
    from staticad.cli import bench as cli_bench
    real = importlib.util.find_spec
    # neither rich nor tqdm: one line rewritten in place
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n in ("rich", "tqdm") else real(n, *a))
    err = _Stream(True)
    show = cli_bench.progress_printer(err)
    show(1, 3, "mlp () numba: compiling")
    show(3, 3, None)
    assert "\r[1/3] mlp () numba: compiling ..." in err.getvalue()
    # a tqdm stand-in is used when importable
    calls = []

    class FakeBar:
        def __init__(self, **kw):
            calls.append(("new", kw["total"]))
            self.n = 0

        def set_description_str(self, text, refresh=True):
            calls.append(("desc", text))

        def refresh(self):
            calls.append(("n", self.n))

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "tqdm" else None)
    show = cli_bench.progress_printer(_Stream(True))
    show(2, 4, "chain n=1e3 numba: timing 3 calls")
    show(4, 4, None)
    assert calls == [("new", 4), ("desc", "chain n=1e3 numba: timing 3 calls"), ("n", 1), ("close",)]


def test_bench_progress_uses_rich_when_importable(monkeypatch):
    import importlib.util
    from staticad.cli import bench as cli_bench
    calls = []

    class FakeProgress:
        def __init__(self, console, transient):
            calls.append(("new", console.file is err, transient))

        def start(self):
            calls.append(("start",))

        def add_task(self, description, total):
            calls.append(("task", description, total))
            return 7

        def update(self, task, completed, description):
            calls.append(("update", task, completed, description))

        def stop(self):
            calls.append(("stop",))

    err = _Stream(True)
    monkeypatch.setitem(sys.modules, "rich", types.SimpleNamespace())
    monkeypatch.setitem(sys.modules, "rich.console", types.SimpleNamespace(Console=lambda file: types.SimpleNamespace(file=file)))
    monkeypatch.setitem(sys.modules, "rich.progress", types.SimpleNamespace(Progress=FakeProgress))
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "rich" else None)
    show = cli_bench.progress_printer(err)
    show(1, 2, "scalar () numba: compiling")
    show(2, 2, "scalar () cuda")
    show(2, 2, None)
    assert calls == [("new", True, True), ("start",), ("task", "scalar () numba: compiling", 2),
                     ("update", 7, 0, "scalar () numba: compiling"), ("update", 7, 1, "scalar () cuda"), ("stop",)]
    assert err.getvalue() == ""  # rich drew the bar, nothing else was written


def test_bench_reports_phases_and_skips_missing_frameworks(monkeypatch):
    from staticad.bench import compare, runner
    real = compare.importlib.util.find_spec
    monkeypatch.setattr(compare.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "jax") else real(name, *a))
    seen = []
    cols = runner.resolve_backends(["numpy"]) + runner.resolve_compare(["torch,jax"])
    report = runner.run_bench(["scalar"], cols, repeat=1, warmup=0, progress=lambda s, t, w: seen.append(w))
    assert "scalar () numpy: compiling" in seen and "scalar () numpy: timing 1 calls" in seen
    assert seen[-1] is None
    by = {c["column"]: c for c in report["results"][0]["columns"]}
    assert by["torch"]["status"] == "skipped" and by["jax"]["status"] == "skipped"
    assert "not installed" in by["torch"]["reason"]


def test_bench_compare_import_error_inside_builder_is_skipped(monkeypatch):
    from staticad.bench import compare, runner
    monkeypatch.setattr(compare, "availability", lambda name: (True, "0.0"))

    def build(framework, workload, case):
        raise ModuleNotFoundError(f"No module named '{framework}.autograd'")

    monkeypatch.setattr(compare, "build", build)
    cols = runner.resolve_compare(["torch"])
    report = runner.run_bench(["scalar"], cols, repeat=1, warmup=0)
    col = {c["column"]: c for c in report["results"][0]["columns"]}["torch"]
    assert col["status"] == "skipped" and "ModuleNotFoundError" in col["reason"]

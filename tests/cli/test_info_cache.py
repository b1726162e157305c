"""``staticad cache`` and ``staticad info --json`` (the cache's size, the threading layer)."""
from __future__ import annotations

import json

import staticad as sad

from .helpers import run_cli as _run


def test_cache_info_and_clear(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))
    rc, out, _ = _run(["cache", "clear"])
    assert rc == 0 and "nothing to remove" in out and not root.exists()
    (root / "modules" / "__pycache__").mkdir(parents=True)
    (root / "modules" / "staticad_gen_abc.py").write_text("# x\n")
    (root / "modules" / "__pycache__" / "staticad_gen_abc.entry-1.py311.nbi").write_bytes(b"0" * 1000)
    (root / "modules" / "__pycache__" / "staticad_gen_abc.entry-1.py311.1.nbc").write_bytes(b"0" * 1000)
    rc, out, _ = _run(["cache"])
    assert rc == 0 and str(root) in out and "3 file(s)" in out and "1 generated module(s)" in out
    rc, out, _ = _run(["cache", "clear", "-v"])
    assert rc == 0
    assert "removed 3 file(s)" in out and "1 generated module(s)" in out and "2 numba compiled file(s)" in out
    assert out.count("removed ") == 4  # three listed files and the summary
    assert root.is_dir() and not any(root.rglob("*"))
    rc, out, _ = _run(["cache", "info"])
    assert "0 file(s)" in out


def test_info_json_and_cache_size(tmp_path, monkeypatch):
    import numba
    root = tmp_path / "c"
    (root / "modules").mkdir(parents=True)
    (root / "modules" / "staticad_gen_1.py").write_bytes(b"x" * 3000)
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))
    rc, out, _ = _run(["info", "--json"])
    assert rc == 0
    data = json.loads(out)
    assert data["staticad"] == sad.__version__ and data["numba"] == numba.__version__
    assert data["backends"]["numpy"] is True and data["backends_usable"]["numpy"] is True
    assert data["backends_usable"]["cuda"] is (data["backends"]["cuda"] and data["cuda"]["available"])
    assert data["cache"]["path"] == str(root) and data["cache"]["files"] == 1 and data["cache"]["bytes"] == 3000
    assert data["threading"]["configured"] == numba.config.THREADING_LAYER
    assert "usable" in data["threading"]
    rc, out, _ = _run(["info"])
    assert "threading" in out and "2.9 KiB in 1 file(s)" in out


def test_info_probe_threads_reports_the_active_layer():
    import numba
    rc, out, _ = _run(["info", "--probe-threads", "--json"])
    assert rc == 0
    th = json.loads(out)["threading"]
    assert "probe_error" not in th
    assert th["active"] == numba.threading_layer() and th["active"] in ("tbb", "omp", "workqueue")


def test_cache_clear_failure_is_one_line(tmp_path, monkeypatch):
    from staticad.backends import cache as backend_cache
    root = tmp_path / "cache"
    (root / "modules").mkdir(parents=True)
    (root / "modules" / "staticad_gen_x.py").write_text("# x\n")
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))

    def refuse():
        raise PermissionError(13, "Permission denied", str(root / "modules"))

    monkeypatch.setattr(backend_cache, "clear", refuse)
    rc, out, err = _run(["cache", "clear"])
    assert rc == 1 and out == ""
    assert err.startswith("staticad cache: error:") and "Permission denied" in err
    assert len(err.strip().splitlines()) == 1
    assert (root / "modules" / "staticad_gen_x.py").exists()


def test_no_command_prints_help_and_exits_2():
    rc, out, err = _run([])
    assert rc == 2 and "COMMAND" in out and "bench" in out and "compile" in out
    rc, out, err = _run(["cache", "wipe"])
    assert rc == 2 and "invalid choice" in err and len(err.strip().splitlines()) == 1

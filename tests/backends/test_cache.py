"""The numba backend's disk cache: reuse across processes, corrupt entries, concurrent compiles."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import numpy as np, staticad as sad
    x = sad.placeholder((None,), "float64", name="x")
    loss = sad.sum(sad.tanh(x) * 3.0 + x * x)
    f = sad.function([x], [loss, sad.grad(loss, x)], backend="numba")
    l, g = f(np.array([0.5, -1.0]))
    assert abs(float(l) - (3 * (np.tanh(0.5) + np.tanh(-1.0)) + 1.25)) < 1e-12
    print("cache_hit", f.stats["cache_hit"])
""")


def _run(cache_dir, script=SCRIPT):
    env = dict(os.environ, STATICAD_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)


def test_fresh_process_hits_the_disk_cache(tmp_path):
    first = _run(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "cache_hit False" in first.stdout
    second = _run(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "cache_hit True" in second.stdout
    assert (tmp_path.stat().st_mode & 0o777) == 0o700 or tmp_path.exists()
    assert list((tmp_path / "modules").glob("staticad_gen_*.py"))


def test_cache_hit_does_not_depend_on_what_was_built_before(tmp_path):
    assert _run(tmp_path).returncode == 0
    other_first = "import staticad as sad\n[sad.placeholder((3,)) * 2 for _ in range(50)]\n" + SCRIPT
    again = _run(tmp_path, other_first)
    assert again.returncode == 0, again.stderr
    assert "cache_hit True" in again.stdout


def test_corrupt_entry_is_discarded_and_rebuilt(tmp_path):
    assert _run(tmp_path).returncode == 0
    (entry,) = [p for p in (tmp_path / "modules").glob("staticad_gen_*.py") if "def entry(" in p.read_text()]
    entry.write_text(entry.read_text()[:200])  # half-written file
    again = _run(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "corrupt cache entry" in again.stderr
    # the module's code comes from the generated source, not the file; Numba's verified files of
    # the same source (same module name) stay usable
    third = _run(tmp_path)
    assert third.stdout.strip().endswith("cache_hit True") and "corrupt" not in third.stderr


def test_two_processes_compiling_at_once_both_succeed(tmp_path):
    env = dict(os.environ, STATICAD_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "cache_hit" in out


def test_no_process_checks_files_another_is_between_writing_and_recording(tmp_path):
    """A process that compiled a module holds its lock until it recorded Numba's files: one that
    loads the module meanwhile waits, then finds the files verified (not deleted as unrecorded)."""
    ready = tmp_path / "ready"
    writer = textwrap.dedent(f"""
        import pathlib, time
        import staticad.backends.cache as cache
        record = cache.record_compiled
        def slow_record(module):  # stretches the window between Numba writing and the record
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(2.0)
            record(module)
        cache.record_compiled = slow_record
    """) + SCRIPT
    reader = textwrap.dedent(f"""
        import os, time
        import staticad
        while not os.path.exists({str(ready)!r}):
            time.sleep(0.01)
    """) + SCRIPT
    cache_dir = tmp_path / "cache"
    env = dict(os.environ, STATICAD_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-W", "always", "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for script in (writer, reader)]
    (w_out, w_err), (r_out, r_err) = [p.communicate(timeout=300) for p in procs]
    assert procs[0].returncode == 0, w_err
    assert procs[1].returncode == 0, r_err
    assert "cache_hit False" in w_out
    assert "unverified" not in r_err, r_err
    assert "cache_hit True" in r_out  # it waited for the record, then loaded the writer's files


def test_module_lock_is_reentrant_and_serialises_threads(tmp_path, monkeypatch):
    import threading

    from staticad.backends import cache

    monkeypatch.setenv("STATICAD_CACHE_DIR", str(tmp_path))
    order = []
    with cache.locked(["staticad._gen.a", "staticad._gen.b"]):
        with cache.locked(["staticad._gen.b"]):  # the same thread again: no deadlock
            order.append("outer")

        def other():
            with cache.locked(["staticad._gen.b"]):
                order.append("other")
        t = threading.Thread(target=other)
        t.start()
        t.join(0.2)
        assert t.is_alive()  # waits for this thread's lock
        order.append("released")
    t.join(10)
    assert order == ["outer", "released", "other"]
    assert (tmp_path / "modules" / "b.lock").exists()


def test_cache_dir_is_private(tmp_path, monkeypatch):
    from staticad.backends import cache
    target = tmp_path / "fresh"
    # monkeypatch restores the caller's STATICAD_CACHE_DIR: deleting it sent every later test's
    # modules to ~/.cache/staticad
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(target))
    assert cache.cache_dir() == target
    assert (target.stat().st_mode & 0o777) == 0o700


def test_a_lock_whose_file_was_deleted_while_waited_for_is_taken_again(tmp_path, monkeypatch):
    """clear() deletes a lock file while holding it; a waiter must then lock the file that now
    bears the name (the one everyone else opens), not the deleted one."""
    import threading

    from staticad.backends import cache

    monkeypatch.setenv("STATICAD_CACHE_DIR", str(tmp_path))
    path = cache.modules_dir() / "s.lock"
    holder, waiter = (cache._ModuleLock(path.parent, "s") for _ in range(2))  # two opens: flock conflicts
    seen = []

    def wait():
        waiter.acquire()
        try:
            held, now = os.fstat(waiter.fd), os.stat(path)
            seen.append((now.st_dev, now.st_ino) == (held.st_dev, held.st_ino))
        finally:
            waiter.release()

    holder.acquire()
    t = threading.Thread(target=wait)
    t.start()
    t.join(0.2)
    assert t.is_alive()
    path.unlink()
    holder.release()
    t.join(10)
    assert seen == [True]


def test_clear_waits_for_a_module_being_compiled(tmp_path, monkeypatch):
    import threading

    from staticad.backends import cache

    monkeypatch.setenv("STATICAD_CACHE_DIR", str(tmp_path))
    mdir = cache.modules_dir()
    stem = "staticad_gen_0123456789abcdef01234567"
    for name in (f"{stem}.py", f"{stem}.hmac", f"__pycache__/{stem}.entry-1.py311.nbi", "other.txt"):
        (mdir / name).write_text("x")
    compiler = cache._ModuleLock(mdir, stem)  # as another process would hold it: its own open file
    compiler.acquire()
    removed = []
    t = threading.Thread(target=lambda: removed.append(cache.clear()))
    t.start()
    t.join(0.3)
    assert t.is_alive() and (mdir / f"{stem}.py").exists()  # waits for the compiler
    compiler.release()
    t.join(10)
    assert removed == [4]  # the module's three files and other.txt (its lock file is not counted)
    assert not (tmp_path / "modules").exists()  # the lock file is gone too
    assert {p.name for p in tmp_path.iterdir()} <= {cache._guard.TAG, cache._guard.KEY}


def test_a_module_loaded_before_the_cache_dir_changed_keeps_its_own_key_and_lock(tmp_path, monkeypatch):
    """A module stays loaded (and Numba keeps writing its files next to it) when
    STATICAD_CACHE_DIR changes in the process: what is recorded for it must use the key of the
    directory it lives in, or the next process there discards its files as unverified."""
    import staticad as sad
    from staticad.backends import cache

    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(first))
    x = sad.placeholder((None,), "float64", name="x")
    loss = sad.sum(sad.tanh(x) * 3.0 + x * x)
    f = sad.function([x], [loss, sad.grad(loss, x)], backend="numba")
    f(np.array([0.5, -1.0]))
    module = f._exec.module
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(second))
    cache.record_compiled(module)  # what a compile in this process now records for it
    with cache.locked([module.__name__]):
        pass
    stem = module.__name__.rpartition(".")[2]
    assert (first / "modules" / f"{stem}.lock").exists()
    assert not (second / "modules" / f"{stem}.lock").exists()
    again = _run(first)  # a fresh process in the first directory: every file verifies
    assert again.returncode == 0, again.stderr
    assert "unverified" not in again.stderr, again.stderr
    assert "cache_hit True" in again.stdout

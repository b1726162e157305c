"""Numba's cache of the fixed helpers is flushed when any helper's source changes (numba itself
only watches each function's own file)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from staticad.backends import helper_cache

ROOT = Path(__file__).resolve().parents[2]

HELPER = """
from numba import njit

@njit(cache=True)
def twice(x):
    return 2 * x
"""


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_changed_fingerprint_flushes_the_cached_code_once(tmp_path):
    src = tmp_path / "fake_helper.py"
    src.write_text(HELPER)
    mod = _load(src, "fake_helper")
    assert helper_cache.check([mod], fp="one") == ["fake_helper"]  # no stamp yet
    assert mod.twice(3) == 6  # compiled and saved
    again = _load(src, "fake_helper")
    assert helper_cache.check([again], fp="one") == []  # same library: kept
    assert again.twice(3) == 6 and again.twice.stats.cache_hits  # loaded from the cache
    changed = _load(src, "fake_helper")
    assert helper_cache.check([changed], fp="two") == ["fake_helper"]  # a helper changed
    assert changed.twice(3) == 6 and not changed.twice.stats.cache_hits  # recompiled, not loaded
    assert helper_cache.check([_load(src, "fake_helper")], fp="two") == []


def test_the_backend_stamps_its_helpers_with_their_fingerprint():
    from staticad.backends import numba_backend as nb
    fp = helper_cache.fingerprint(nb.HELPER_MODULES)
    assert helper_cache.check(nb.HELPER_MODULES) == []  # done at import
    assert fp != helper_cache.fingerprint(nb.HELPER_MODULES[:-1])  # every helper counts
    stamps = [p for p in Path(nb.numba_vm.__file__).parent.rglob("*" + helper_cache.STAMP_SUFFIX)]
    assert any(p.read_text() == fp for p in stamps) or not stamps  # a read-only tree caches elsewhere


def test_fresh_process_imports_with_a_stamped_library():
    out = subprocess.run([sys.executable, "-c", "import staticad.backends.numba_backend as nb; "
                          "from staticad.backends import helper_cache as h; print(h.check(nb.HELPER_MODULES))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

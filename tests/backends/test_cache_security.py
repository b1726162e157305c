"""The cache directory cannot be used to run someone else's code or to crash staticad.

Each numba case runs in a fresh subprocess (a crash of Numba's loader fails the test instead of
killing pytest) on a copy of one cache warmed once for the module.
"""
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import pytest

from staticad.backends import cache, cache_guard

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import numpy as np, staticad as sad
x = sad.placeholder((None,), "float64", name="x")
loss = sad.sum(sad.tanh(x) * 3.0 + x * x)
f = sad.function([x], [loss, sad.grad(loss, x)], backend="numba")
l, g = f(np.array([0.5, -1.0]))
assert abs(float(l) - (3 * (np.tanh(0.5) + np.tanh(-1.0)) + 1.25)) < 1e-12, l
assert np.allclose(g, 3 / np.cosh([0.5, -1.0]) ** 2 + 2 * np.array([0.5, -1.0]), rtol=1e-12), g
print("cache_hit", f.stats["cache_hit"])
"""

CHECK_IMPORTS = SCRIPT + "import sys, sqlite3; print('sqlite3 from', sqlite3.__file__)\n"


def _run(cache_dir, script=SCRIPT, umask=None):
    env = dict(os.environ, STATICAD_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    pre = f"import os; os.umask({umask:#o})\n" if umask is not None else ""
    return subprocess.run([sys.executable, "-c", pre + script], env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A cache holding SCRIPT's compiled function (shared: each numba compile takes seconds)."""
    root = tmp_path_factory.mktemp("warm") / "cache"
    first = _run(root)
    assert first.returncode == 0 and "cache_hit False" in first.stdout, first.stderr
    assert "cache_hit True" in _run(root).stdout
    return root


@pytest.fixture
def copy(warm, tmp_path):
    dst = tmp_path / "cache"
    shutil.copytree(warm, dst, symlinks=True)
    return dst


def _entry_module(root):
    """The entry point's module (the others are the kernel library it imports)."""
    (py,) = [p for p in (root / "modules").glob("staticad_gen_*.py") if "def entry(" in p.read_text()]
    return py


def _manifest(root):
    return _entry_module(root).with_suffix(".hmac")


def _compiled(root, suffix):
    files = sorted((root / "modules" / "__pycache__").glob(f"staticad_gen_*{suffix}"))
    assert files, f"no {suffix} file in the warmed cache"
    return files


# --- imports ---------------------------------------------------------------------------------------
def test_a_planted_stdlib_named_module_is_never_imported(copy):
    for where in (copy, copy / "modules"):
        (where / "sqlite3.py").write_text("raise SystemExit('planted sqlite3 imported')\n")
    out = _run(copy, CHECK_IMPORTS)
    assert out.returncode == 0, out.stderr
    assert "cache_hit True" in out.stdout and str(copy) not in out.stdout.split("sqlite3 from")[1]


def test_generated_modules_live_in_staticad_gen_and_the_cache_is_not_on_sys_path(copy):
    script = SCRIPT + ("import sys\nassert not any(p.startswith(%r) for p in sys.path), sys.path\n"
                       "print(f._exec.module.__name__)\n" % str(copy))
    out = _run(copy, script)
    assert out.returncode == 0, out.stderr
    assert "staticad._gen.staticad_gen_" in out.stdout


# --- Numba's pickle index --------------------------------------------------------------------------
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this writes the marker file: code execution
        return (open, (self.marker, "w"))


def _plant_index(index: Path, marker: Path):
    index.write_bytes(pickle.dumps(numba.__version__) + pickle.dumps(_Payload(str(marker))))


def test_a_planted_index_is_discarded_never_unpickled(copy, tmp_path):
    marker = tmp_path / "payload-ran"
    for index in _compiled(copy, ".nbi"):
        _plant_index(index, marker)
    out = _run(copy)
    assert out.returncode == 0, out.stderr
    assert not marker.exists()
    assert "unverified compiled cache file" in out.stderr and "cache_hit False" in out.stdout
    again = _run(copy)
    assert "cache_hit True" in again.stdout and "unverified" not in again.stderr


# --- corruption of each artefact, each way -----------------------------------------------------------
def _corrupt(path: Path, how: str):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "flipped":
        i = len(data) * 2 // 3
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1:])


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "flipped"])
@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
def test_corrupt_numba_file_is_a_warning_and_a_rebuild(copy, suffix, how):
    for f in _compiled(copy, suffix):
        _corrupt(f, how)
    out = _run(copy)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])  # the script checks the value
    assert "unverified compiled cache file" in out.stderr and "cache_hit False" in out.stdout
    again = _run(copy)
    assert again.returncode == 0 and "cache_hit True" in again.stdout and "unverified" not in again.stderr


@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("what", ["key", "manifest"])
def test_a_corrupt_key_or_manifest_is_a_rebuild(copy, what, how):
    target = copy / cache_guard.KEY if what == "key" else _manifest(copy)
    _corrupt(target, how)
    out = _run(copy)
    assert out.returncode == 0 and "cache_hit False" in out.stdout, out.stderr
    assert "unverified compiled cache file" in out.stderr
    assert "cache_hit True" in _run(copy).stdout


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_a_corrupt_pyc_is_never_read(copy, how):
    py = _entry_module(copy)
    pyc = copy / "modules" / "__pycache__" / f"{py.stem}.cpython-{sys.version_info.major}{sys.version_info.minor}.pyc"
    pyc.write_bytes(b"\x00garbage" * 10)
    _corrupt(pyc, how)
    out = _run(copy)
    assert out.returncode == 0, out.stderr
    assert "cache_hit True" in out.stdout


def test_a_forged_manifest_without_the_key_does_not_verify(copy, tmp_path):
    # rewriting the records with plain hashes (what someone without the key could compute) fails
    marker = tmp_path / "payload-ran"
    (index,) = [f for f in _compiled(copy, ".nbi") if ".entry-" in f.name]
    _plant_index(index, marker)
    manifest = _manifest(copy)
    import hashlib
    import json
    sums = json.loads(manifest.read_text())
    sums[index.name] = hashlib.sha256(index.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(sums))
    out = _run(copy)
    assert out.returncode == 0 and not marker.exists() and "cache_hit False" in out.stdout, out.stderr


# --- directories -------------------------------------------------------------------------------------
def test_directories_created_under_umask_0_are_private(tmp_path):
    root = tmp_path / "a" / "b" / "cache"
    out = _run(root, umask=0)
    assert out.returncode == 0, out.stderr
    for d in (tmp_path / "a", tmp_path / "a" / "b", root, root / "modules", root / "modules" / "__pycache__"):
        assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700, d
    key = root / cache_guard.KEY
    assert stat.S_IMODE(os.lstat(key).st_mode) == 0o600


def test_a_cache_dir_staticad_created_is_tightened(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))
    cache.cache_dir()
    os.chmod(root, 0o777)
    with pytest.warns(RuntimeWarning, match="writable by group or others"):
        assert cache.cache_dir() == root
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    os.chmod(cache.modules_dir(), 0o777)
    cache.modules_dir()
    assert stat.S_IMODE(os.stat(root / "modules").st_mode) == 0o700


def test_a_world_writable_dir_staticad_did_not_create_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, 0o777)
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))
    with pytest.raises(cache_guard.UnsafeCacheError, match=f"{root}.*mode 0777.*chmod 700 {root}"):
        cache.cache_dir()
    # a tag planted by someone else does not count as staticad's
    if os.geteuid() == 0:
        (root / cache_guard.TAG).write_text("x")
        os.chown(root / cache_guard.TAG, 65534, 65534)
        with pytest.raises(cache_guard.UnsafeCacheError):
            cache.cache_dir()


def test_a_dir_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory owned by another user")
    root = tmp_path / "theirs"
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))
    with pytest.raises(cache_guard.UnsafeCacheError, match=f"{root}: it is owned by uid 65534"):
        cache.cache_dir()


def test_a_symlinked_modules_dir_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o777)
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))
    cache.cache_dir()
    (root / "modules").symlink_to(elsewhere)
    with pytest.raises(cache_guard.UnsafeCacheError, match="modules: it is a symbolic link"):
        cache.load_module("def entry():\n    return 1\n")
    assert not list(elsewhere.iterdir())


def test_a_symlinked_compiled_file_is_deleted_not_followed(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(root))
    source = "from numba import njit\n@njit(cache=True)\ndef entry(x):\n    return x + 1\n"
    module, path, _ = cache.load_module(source)
    target = tmp_path / "outside.nbi"
    target.write_bytes(b"x")
    link = path.parent / "__pycache__" / f"{path.stem}.entry-3.py{sys.version_info.major}{sys.version_info.minor}.nbi"
    link.symlink_to(target)
    sys.modules.pop(module.__name__)
    with pytest.warns(RuntimeWarning, match="unverified"):
        cache.load_module(source)
    assert not os.path.lexists(link) and target.read_bytes() == b"x"


# --- two accounts ------------------------------------------------------------------------------------
def _as_nobody(cmd):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", cmd],
                          capture_output=True, text=True, timeout=60)


def test_another_account_cannot_plant_code_in_a_loosened_cache(warm):
    """As root with ``nobody``: the victim's cache was made 0777 (a mistake). ``nobody`` replaces the
    key with its own, plants a pickle payload as Numba's index and forges its HMAC; the victim's
    next run tightens the directory, rebuilds, and the payload never runs."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as a second account (nobody)")
    base = Path(tempfile.mkdtemp(prefix="sad-victim-"))
    try:
        os.chmod(base, 0o755)
        root = base / "cache"
        shutil.copytree(warm, root, symlinks=True)
        for d, dirs, files in os.walk(root):
            os.chmod(d, 0o777)
        marker = base / "payload-ran"
        (index,) = [f for f in _compiled(root, ".nbi") if ".entry-" in f.name]
        evil = base / "evil.nbi"
        _plant_index(evil, marker)
        import hashlib
        import hmac
        import json
        key = os.urandom(32)
        (base / "evil.key").write_bytes(key)
        (base / "evil.hmac").write_text(json.dumps({index.name: hmac.new(key, evil.read_bytes(), hashlib.sha256).hexdigest()}))
        manifest = _manifest(root)
        planted = _as_nobody(f"rm -f {root}/key {index} {manifest} && cp {base}/evil.key {root}/key && "
                             f"cp {evil} {index} && cp {base}/evil.hmac {manifest} && echo planted")
        if planted.returncode != 0 or "planted" not in planted.stdout:
            pytest.skip(f"cannot act as nobody here: {planted.stderr.strip()}")
        assert os.lstat(index).st_uid == 65534
        out = _run(root)
        assert out.returncode == 0, out.stderr
        assert not marker.exists()
        assert "writable by group or others" in out.stderr and "cache_hit False" in out.stdout
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700 and os.lstat(root / "key").st_uid == 0
        # and a foreign-owned cache directory is refused outright
        (base / "tmp").mkdir()
        os.chmod(base / "tmp", 0o1777)
        theirs = base / "tmp" / "theirs"
        assert _as_nobody(f"mkdir -m 700 {theirs}").returncode == 0
        out = _run(theirs)
        assert out.returncode != 0 and "UnsafeCacheError" in out.stderr and "owned by uid 65534" in out.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)

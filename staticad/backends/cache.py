"""On-disk cache of generated modules.

A generated module is written as ``<cache>/modules/staticad_gen_<hash>.py`` and loaded as
``staticad._gen.staticad_gen_<hash>``, a real module name, so Numba's own ``cache=True`` reloads
the compiled code in a fresh process (``exec`` or a synthetic module name cannot be cached; see
NUMBA_FACTS.md #2). ``staticad._gen`` is a package created at run time with an empty
``__path__``: nothing in the cache directory is importable by search, and the directory is never
put on ``sys.path`` (where a planted ``sqlite3.py`` would shadow the standard library). The
module's code is compiled from the source staticad just generated, never from the file or a
``.pyc`` (the file is only the name Numba's cache locator keys on; it is rewritten when it
differs, e.g. half-written). The hash covers the source and the versions of staticad, numba,
numpy and the runtime helpers. Writes go to a temporary file renamed into place, so two
processes compiling the same graph at once both succeed.

Who may write the directory, and the HMAC check of Numba's files before they are loaded: see
:mod:`.cache_guard`. Checking a module's files, and compiling it up to recording what Numba wrote,
hold the module's lock (:func:`locked`: a file lock between processes, a lock between threads), so
no process checks the files another is between writing and recording (it would delete them).
A module loaded once stays in use when ``STATICAD_CACHE_DIR`` changes later in the process; its
lock, manifest and HMAC key remain those of the directory it was loaded from.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import os
import sys
import tempfile
import threading
import types
import warnings
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: threads are still serialised, processes are not
    fcntl = None

import numba
import numpy as np

from . import cache_guard as _guard

PACKAGE = "staticad._gen"
_HEADER = "# staticad-cache-entry sha256="


def cache_dir() -> Path:
    """``$STATICAD_CACHE_DIR`` or ``~/.cache/staticad``, created 0700 and checked (see :mod:`.cache_guard`)."""
    root = os.environ.get("STATICAD_CACHE_DIR")
    if root:
        path = Path(root).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "staticad"
    return _guard.secure_root(path.absolute())


@functools.lru_cache(maxsize=None)
def _runtime_fingerprint() -> str:
    """Generated modules call these helper modules and the ops' scalar functions: a change in
    them must miss the cache."""
    import inspect
    from ..registry import REGISTRY
    from . import numba_blas, numba_math, numba_math_base, numba_runtime, numba_trig
    h = hashlib.sha256()
    for mod in (numba_runtime, numba_math, numba_math_base, numba_trig, numba_blas):
        h.update(Path(mod.__file__).read_bytes())
    for name in sorted(REGISTRY):
        if REGISTRY[name].scalar is not None:
            h.update(f"{name}\0{inspect.getsource(REGISTRY[name].scalar)}".encode())
    h.update(str(numba_blas.BINDING).encode())  # which BLAS the inlined _rt.dot calls
    return h.hexdigest()[:16]


def key_for(source: str) -> str:
    from ..version import __version__
    h = hashlib.sha256()
    for part in (source, __version__, numba.__version__, np.__version__, _runtime_fingerprint(),
                 sys.version.split()[0]):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def module_name(source: str) -> str:
    """The name :func:`load_module` gives the module of ``source``."""
    return f"{PACKAGE}.staticad_gen_{key_for(source)}"


def _valid(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            return fh.read() == text.encode()
    except OSError:
        return False


def _write_atomic(path: Path, text: str):
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _package():
    """``staticad._gen``: the package generated modules live in. Its ``__path__`` is empty so that
    no import statement can load a file from the cache; modules are added by :func:`load_module`."""
    pkg = sys.modules.get(PACKAGE)
    if pkg is None:
        pkg = types.ModuleType(PACKAGE, "staticad's generated modules (see staticad.backends.cache)")
        pkg.__path__ = []
        sys.modules[PACKAGE] = pkg
        sys.modules[__name__.split(".")[0]]._gen = pkg  # the parent package (staticad), imported already
    return pkg


def modules_dir() -> Path:
    mdir = _guard.secure_subdir(cache_dir() / "modules")
    _guard.secure_subdir(mdir / "__pycache__")  # Numba's files; made 0700 before Numba makes it 0755
    return mdir


def load_module(source: str, requires=()):
    """The module for ``source``: its file in the cache written first when missing or different,
    Numba's compiled files of it checked (unverified ones deleted). ``requires``: sources of the
    modules it imports (the kernel library), loaded first. Returns ``(module, path, existed)``.
    """
    for lib in requires:
        load_module(lib)
    key = key_for(source)
    stem = f"staticad_gen_{key}"
    name = f"{PACKAGE}.{stem}"
    mdir = modules_dir()
    path = mdir / f"{stem}.py"
    text = _HEADER + hashlib.sha256(source.encode()).hexdigest() + "\n" + source
    existed = os.path.lexists(path)
    if existed and not _valid(path, text):
        warnings.warn(f"staticad: discarding corrupt cache entry {path}; recompiling", RuntimeWarning)
        existed = False
    if not existed:
        _write_atomic(path, text)
    if name in sys.modules:
        return sys.modules[name], path, existed
    package = _package()  # the parent first: Numba's unpickler imports the module by this name
    module = types.ModuleType(name)
    module.__file__ = str(path)  # Numba's cache locator finds the cache next to it
    module.__package__ = PACKAGE
    sys.modules[name] = module
    try:
        # the code is the text just generated and compared, not whatever the file holds now
        exec(compile(text, str(path), "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    setattr(package, stem, module)
    with locked([name]):
        verify_compiled(module)  # before anything compiles: Numba would unpickle the index
    return module, path, existed


class _ModuleLock:
    """One generated module's lock: a per-process reentrant lock for threads, and while a thread
    holds it, an exclusive ``flock`` on ``<directory>/<stem>.lock`` for other processes."""

    def __init__(self, directory: Path, stem: str):
        self.directory = Path(directory)
        self.stem = stem
        self.threads = threading.RLock()
        self.depth = 0
        self.fd = None

    def acquire(self):
        self.threads.acquire()
        if self.depth == 0 and fcntl is not None:
            try:
                self.fd = self._lock_file(self.directory / f"{self.stem}.lock")
            except BaseException:
                self.threads.release()
                raise
        self.depth += 1

    @staticmethod
    def _lock_file(path: Path) -> int:
        """An fd holding the flock of the file now at ``path``. :func:`clear` deletes a lock file
        while holding its flock; a process that was waiting on it then holds a lock nobody else
        can see, so it checks that the path still names its file and starts again if not."""
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held = os.fstat(fd)
                try:
                    now = os.stat(path, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
            except BaseException:
                os.close(fd)
                raise
            if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
            os.close(fd)

    def release(self):
        self.depth -= 1
        if self.depth == 0 and self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)  # releases the flock
        self.threads.release()


_LOCKS: dict = {}
_LOCKS_GUARD = threading.Lock()


def _root_of(module) -> Path:
    """The cache directory a loaded module's files are in: the one it was loaded from, which
    need not be today's :func:`cache_dir` (``STATICAD_CACHE_DIR`` changed since: the module is
    reused as it is, its Numba files written next to it)."""
    return Path(module.__file__).parent.parent


def _lock_key(name: str) -> tuple:
    """``(directory, stem)`` of a module's lock file: next to the module when it is loaded, else
    in today's modules directory."""
    stem = name.rpartition(".")[2]
    module = sys.modules.get(f"{PACKAGE}.{stem}")
    if module is not None and getattr(module, "__file__", None):
        return str(Path(module.__file__).parent), stem
    return str(modules_dir()), stem


@contextlib.contextmanager
def locked(names):
    """Hold the locks of the generated modules ``names`` (``staticad._gen.<stem>``, or the stem),
    taken in one order by everyone (no deadlock), for as long as the block checks, compiles or
    records their Numba files."""
    with _holding({_lock_key(n) for n in names}):
        yield


@contextlib.contextmanager
def _holding(keys):
    """Hold the locks ``(directory, stem)``, in sorted order."""
    with _LOCKS_GUARD:
        locks = [_LOCKS.setdefault(k, _ModuleLock(*k)) for k in sorted(keys)]
    taken = []
    try:
        for lock in locks:
            lock.acquire()
            taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            lock.release()


def _compiled(module):
    """``(cache path, manifest, files)`` of the Numba-cached functions in ``module``."""
    stem = module.__name__.rpartition(".")[2]
    paths = set()
    for obj in vars(module).values():
        cache = getattr(obj, "_cache", None)
        cache_path = getattr(cache, "_cache_path", None)
        if cache_path:  # a dispatcher with cache=True; NUMBA_CACHE_DIR may put it elsewhere
            paths.add(Path(cache_path))
    files = [f for p in sorted(paths) for f in _guard.compiled_files(p, stem)]
    return Path(module.__file__).with_suffix(".hmac"), files


def verify_compiled(module):
    """Delete Numba's files of ``module`` that staticad did not record (warning when any)."""
    manifest, files = _compiled(module)
    if not files:
        return
    bad = _guard.verify(_guard.secret_key(_root_of(module)), manifest, files)
    if bad:
        warnings.warn(f"staticad: discarding {len(bad)} unverified compiled cache file(s) of "
                      f"{Path(module.__file__).name} ({', '.join(f.name for f in bad)}); recompiling",
                      RuntimeWarning, stacklevel=3)


def record_compiled(module):
    """Record the HMACs of Numba's files of ``module`` (call after compiling it)."""
    manifest, files = _compiled(module)
    _guard.record(_guard.secret_key(_root_of(module)), manifest, files)


def discard(module_name: str):
    """Forget a module whose compiled cache could not be used (it will be rebuilt)."""
    with locked([module_name]):  # before forgetting it: its lock is next to its file
        module = sys.modules.pop(module_name, None)
        if module is not None:
            _, files = _compiled(module)
            for f in files:
                try:
                    f.unlink()
                except OSError:
                    pass


def _files(root: Path):
    """Every file and link under ``root``, never following a link."""
    for dirpath, dirs, names in os.walk(root):
        for n in names + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            yield Path(dirpath) / n


def cache_size() -> tuple[int, int]:
    """(number of files, total bytes) under the cache directory."""
    n = total = 0
    for p in _files(cache_dir()):
        n += 1
        total += os.lstat(p).st_size
    return n, total


def _unlink(p: Path) -> int:
    try:
        p.unlink()
        return 1
    except OSError:
        return 0


def _clear_modules(mdir: Path) -> int:
    """Delete each generated module's files (source, manifest, Numba's files, lock) while holding
    its lock: a process compiling it finishes first, one waiting for it starts on an empty cache."""
    removed = 0
    stems = sorted({n.partition(".")[0] for n in os.listdir(mdir) if n.startswith("staticad_gen_")})
    for stem in stems:
        with _holding([(str(mdir), stem)]):  # this directory's, whatever this process loaded
            for d in (mdir, mdir / "__pycache__"):
                try:
                    names = os.listdir(d)
                except OSError:
                    continue
                removed += sum(_unlink(d / n) for n in names
                               if n.startswith(stem + ".") and n != f"{stem}.lock")
            _unlink(mdir / f"{stem}.lock")  # still held (see _ModuleLock._lock_file); not an entry
    return removed


def clear() -> int:
    """Delete every cache entry (not the directory's tag and key); returns the number of files
    removed, lock files (empty, not entries) not counted."""
    root = cache_dir()
    keep = {root / _guard.TAG, root / _guard.KEY}
    removed = _clear_modules(modules_dir())
    removed += sum(_unlink(p) for p in list(_files(root)) if p not in keep)
    for dirpath, _dirs, _names in sorted(os.walk(root), reverse=True):
        if Path(dirpath) != root:
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
    return removed

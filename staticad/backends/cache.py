"""On-disk cache of generated modules.

A generated module is written as ``<cache>/modules/staticad_gen_<hash>.py`` and imported under
that real module name, so Numba's own ``cache=True`` can reload the compiled code in a fresh
process (``exec`` or a synthetic module name cannot be cached; see NUMBA_FACTS.md). The hash
covers the source and the versions of staticad, numba, numpy and the runtime helpers. The file's
first line records the hash of its body: a corrupt or half-written entry is detected, discarded
with a warning and rewritten. Writes go to a temporary file renamed into place, so two processes
compiling the same graph at once both succeed.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numba
import numpy as np

_HEADER = "# staticad-cache-entry sha256="


def cache_dir() -> Path:
    """``$STATICAD_CACHE_DIR`` or ``~/.cache/staticad`` (created with mode 0700)."""
    root = os.environ.get("STATICAD_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "staticad"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _runtime_fingerprint() -> str:
    """Generated modules call these helper modules: a change in them must miss the cache."""
    from . import numba_math, numba_runtime
    h = hashlib.sha256()
    for mod in (numba_runtime, numba_math):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()[:16]


def key_for(source: str) -> str:
    from .. import __version__
    h = hashlib.sha256()
    for part in (source, __version__, numba.__version__, np.__version__, _runtime_fingerprint(),
                 sys.version.split()[0]):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _body_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _valid(path: Path, body: str) -> bool:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    first, _, rest = text.partition("\n")
    return first == _HEADER + _body_hash(body) and rest == body


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


def _discard_compiled(module_dir: Path, module_name: str):
    pycache = module_dir / "__pycache__"
    if pycache.is_dir():
        for f in pycache.glob(module_name + ".*"):
            try:
                f.unlink()
            except OSError:
                pass


def load_module(source: str):
    """Import the module for ``source`` from the cache, writing it first when missing or corrupt.

    Returns ``(module, path, existed)``.
    """
    key = key_for(source)
    name = f"staticad_gen_{key}"
    mdir = cache_dir() / "modules"
    mdir.mkdir(mode=0o700, exist_ok=True)
    path = mdir / f"{name}.py"
    existed = path.exists()
    if existed and not _valid(path, source):
        warnings.warn(f"staticad: discarding corrupt cache entry {path}; recompiling", RuntimeWarning)
        _discard_compiled(mdir, name)
        existed = False
    if not existed:
        _write_atomic(path, _HEADER + _body_hash(source) + "\n" + source)
    if str(mdir) not in sys.path:
        sys.path.insert(0, str(mdir))
    if name in sys.modules:
        return sys.modules[name], path, existed
    importlib.invalidate_caches()
    module = importlib.import_module(name)
    return module, path, existed


def discard(module_name: str):
    """Forget a module whose compiled cache could not be used (it will be rebuilt)."""
    mdir = cache_dir() / "modules"
    sys.modules.pop(module_name, None)
    _discard_compiled(mdir, module_name)


def cache_size() -> tuple[int, int]:
    """(number of files, total bytes) under the cache directory."""
    n = total = 0
    for p in cache_dir().rglob("*"):
        if p.is_file():
            n += 1
            total += p.stat().st_size
    return n, total


def clear() -> int:
    """Delete every cache entry; returns the number of files removed."""
    removed = 0
    for p in sorted(cache_dir().rglob("*"), reverse=True):
        try:
            if p.is_file():
                p.unlink()
                removed += 1
            else:
                p.rmdir()
        except OSError:
            pass
    return removed

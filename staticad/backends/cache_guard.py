"""Who may write the cache, and proof that we wrote what we load from it.

A cache directory is code that staticad runs: generated modules and Numba's index (a pickle,
which is code execution when loaded) and compiled data (LLVM bitcode, which can crash the
process when corrupt). So, like ssh with ``~/.ssh`` and pip with its cache:

* every directory of the cache must be owned by this user and writable by nobody else. One that
  staticad created (it carries a ``CACHEDIR.TAG`` owned by this user) is tightened to 0700; any
  other is refused with :class:`UnsafeCacheError`, naming the path and the fix;
* a directory inside the cache may not be a symbolic link (nothing is followed out of it);
* every compiled file is checked before Numba reads it against an HMAC-SHA256 recorded when it
  was written, keyed by a per-user secret (``<cache>/key``, 0600). A file without a valid record
  (planted, altered, truncated, half-written) is deleted with a warning, so Numba recompiles it.
  Checking *before* loading is the point: catching Numba's exception afterwards cannot undo an
  unpickled payload or a segfault in the LLVM bitcode reader.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import tempfile
import warnings
from pathlib import Path

TAG = "CACHEDIR.TAG"
# https://bford.info/cachedir/: also tells backup tools to skip the directory
_TAG_TEXT = "Signature: 8a477f597d28d172789f06886806bc55\n# staticad generated-code cache\n"
KEY = "key"
_LOOSE = stat.S_IWGRP | stat.S_IWOTH


class UnsafeCacheError(PermissionError):
    """The cache directory could be written by someone else: staticad will not load code from it."""


def _uid() -> int:
    return os.geteuid()


def _refuse(path: Path, why: str, fix: str):
    raise UnsafeCacheError(f"staticad: refusing to use the cache directory {path}: {why}. {fix} "
                           "(or set STATICAD_CACHE_DIR to a private directory)")


def _ours(path: Path) -> bool:
    """``path`` is a regular file owned by this user (never following a link)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == _uid()


def _mkdir_private(path: Path) -> bool:
    """Create ``path`` (and missing parents) with mode 0700; True when the leaf was created here."""
    missing = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:  # another process won the race: checked like any existing dir
            continue
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask; 0700 is meant whatever it is
    return bool(missing)


def secure_root(path: Path) -> Path:
    """Create or check the cache root; returns it. Raises :class:`UnsafeCacheError`."""
    created = _mkdir_private(path)
    if created:
        _write_new(path / TAG, _TAG_TEXT.encode(), 0o600)
    # the root itself may be a link (e.g. ~/.cache on another disk): its target is what is checked
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        _refuse(path, "it is not a directory", "Remove it")
    if st.st_uid != _uid():
        _refuse(path, f"it is owned by uid {st.st_uid}, not by this user (uid {_uid()})",
                f"Remove it, or have its owner run 'chown {_uid()} {path}'")
    if st.st_mode & _LOOSE:
        if not _ours(path / TAG):
            _refuse(path, f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}) and "
                          "staticad did not create it", f"Run 'chmod 700 {path}'")
        warnings.warn(f"staticad: the cache directory {path} was writable by group or others "
                      f"(mode {stat.S_IMODE(st.st_mode):04o}); set it to 0700", RuntimeWarning, stacklevel=3)
        os.chmod(path, 0o700)
    return path


def secure_subdir(path: Path) -> Path:
    """A directory inside a checked root: created 0700, never a link, owned by us, tightened."""
    _mkdir_private(path)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        _refuse(path, "it is a symbolic link (staticad follows no link out of its cache)",
                f"Remove the link ('rm {path}')")
    if not stat.S_ISDIR(st.st_mode):
        _refuse(path, "it is not a directory", f"Remove it ('rm {path}')")
    if st.st_uid != _uid():
        _refuse(path, f"it is owned by uid {st.st_uid}, not by this user (uid {_uid()})", f"Remove it ('rm -r {path}')")
    if st.st_mode & 0o077:  # inside our root nobody else could have made it so: just tighten
        os.chmod(path, 0o700)
    return path


def _write_new(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` with ``data`` unless it exists (complete or not at all: written aside, then
    hard-linked into place, which fails when another process got there first)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.close(fd)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def secret_key(root: Path) -> bytes:
    """The per-user HMAC key in ``root`` (created on first use; replaced when not ours and private:
    every record made with the old key then fails and is rebuilt)."""
    path = root / KEY
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            _write_new(path, os.urandom(32), 0o600)
            continue
        except OSError:  # a link, or unreadable
            _remove(path)
            continue
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
        if stat.S_ISREG(st.st_mode) and st.st_uid == _uid() and not st.st_mode & 0o077 and len(data) == 32:
            return data
        _remove(path)
    raise UnsafeCacheError(f"staticad: cannot create a private key file {path}")


def _remove(path: Path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _digest(key: bytes, path: Path) -> str | None:
    """HMAC of a regular file owned by us (None for anything else; links are not followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != _uid():
            return None
        return hmac.new(key, fh.read(), hashlib.sha256).hexdigest()


def _load_manifest(path: Path) -> dict:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            data = json.loads(fh.read())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def compiled_files(cache_path: Path, prefix: str) -> list[Path]:
    """Numba's files of one generated module: ``<prefix>.<function>-<line>.pyXY.{nbi,N.nbc}``."""
    try:
        names = os.listdir(cache_path)
    except OSError:
        return []
    return [cache_path / n for n in sorted(names) if n.startswith(prefix + ".") and n.endswith((".nbi", ".nbc"))]


def verify(key: bytes, manifest: Path, files: list[Path]) -> list[Path]:
    """Delete every file whose HMAC is not the one recorded; returns the deleted ones."""
    recorded = _load_manifest(manifest)
    bad = []
    for f in files:
        want = recorded.get(f.name)
        got = _digest(key, f)
        if want is None or got is None or not hmac.compare_digest(want, got):
            _remove(f)
            bad.append(f)
    return bad


def record(key: bytes, manifest: Path, files: list[Path]):
    """Record the HMAC of each of ``files`` (just written by Numba) in ``manifest``."""
    sums = {f.name: d for f in files if (d := _digest(key, f)) is not None}
    fd, tmp = tempfile.mkstemp(dir=manifest.parent, prefix=".new-")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(sums, fh)
        os.replace(tmp, manifest)
    except BaseException:
        _remove(Path(tmp))
        raise

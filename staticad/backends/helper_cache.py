"""Numba's disk cache of staticad's fixed helper library, invalidated when any helper changes.

Numba keys a ``cache=True`` function's cache entry by its own source file only; the machine
code it saves also holds the code of the ``@njit`` functions it calls from *other* files (LLVM
inlines them). ``numba_vm``'s interpreter calls ``numba_math`` and ``numba_runtime``, which calls
``numba_blas``: edit ``numba_math`` alone and numba would keep loading an interpreter with the
old math. :func:`check` stamps each helper module's cache directory with a fingerprint of the
whole helper library and flushes the module's cached functions when the stamp differs, so they
recompile once (generated modules are keyed by the same sources: :func:`.cache.key_for`).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
from numba.core.registry import CPUDispatcher

STAMP_SUFFIX = ".staticad-helpers"


def fingerprint(modules) -> str:
    """A hash of the helper modules' sources (and numba's version): what their machine code
    depends on."""
    h = hashlib.sha256(numba.__version__.encode())
    for mod in sorted(modules, key=lambda m: m.__name__):
        h.update(mod.__name__.encode() + b"\0" + Path(mod.__file__).read_bytes())
    return h.hexdigest()[:24]


def _cached_dispatchers(mod):
    for value in vars(mod).values():
        if isinstance(value, CPUDispatcher) and value.__module__ == mod.__name__:
            cache = getattr(value, "_cache", None)
            if cache is not None and hasattr(cache, "flush") and hasattr(cache, "cache_path"):
                yield value, cache


def check(modules, fp=None) -> list:
    """Flush the numba cache of every module in ``modules`` whose stamp is not ``fp`` (default:
    :func:`fingerprint` of ``modules``), then stamp it. Returns the names of flushed modules.
    Call it before any of their functions runs (they load from the cache on first use)."""
    fp = fp or fingerprint(modules)
    flushed = []
    for mod in modules:
        found = list(_cached_dispatchers(mod))
        if not found:
            continue
        stamp = Path(found[0][1].cache_path) / (mod.__name__.rsplit(".", 1)[-1] + STAMP_SUFFIX)
        try:
            if stamp.read_text() == fp:
                continue
        except OSError:
            pass  # no stamp yet: entries of unknown provenance
        for _, cache in found:
            try:
                cache.flush()
            except OSError:
                pass  # a read-only cache directory: numba does not write there either
        flushed.append(mod.__name__)
        try:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}")
            tmp.write_text(fp)
            os.replace(tmp, stamp)  # atomic: a concurrent process reads the old or the new stamp
        except OSError:
            pass
    return flushed

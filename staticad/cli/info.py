"""``staticad info``: versions, backends, CUDA, numba's threading layer, the cache directory."""
from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import sys

from .cache import cache_info
from .common import human_bytes


def add_parser(sub) -> None:
    info = sub.add_parser("info", help="versions, available backends, CUDA, threading layer, cache directory",
                          description="Print versions, the available backends, CUDA (GPU or simulator), "
                                      "numba's threading layer and the staticad cache directory and size.")
    info.add_argument("--json", action="store_true", help="print the information as JSON")
    info.add_argument("--probe-threads", action="store_true",
                      help="run a tiny parallel numba loop first, so the threading layer actually in use "
                           "is reported (compiles once, about a second)")


def _dist_version(name: str):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception:
        return None


def threading_info(probe: bool = False) -> dict:
    """numba's threading layer: the active one if initialised, else the configured one and the
    layers that load here (numba's 'default' picks the first usable of tbb, omp, workqueue).

    ``probe``: run a tiny ``parallel=True`` loop first (compiles once, ~1 s), which initialises
    the layer so that ``active`` is the one really used."""
    info = {"configured": None, "active": None, "usable": [], "num_threads": None}
    try:
        import numba
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return info
    info["configured"] = getattr(numba.config, "THREADING_LAYER", None)
    info["num_threads"] = getattr(numba.config, "NUMBA_NUM_THREADS", None)
    if probe:
        try:
            _parallel_probe()
        except Exception as exc:
            info["probe_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        info["active"] = numba.threading_layer()
    except Exception:
        info["active"] = None
    for label, mod in (("tbb", "tbbpool"), ("omp", "omppool"), ("workqueue", "workqueue")):
        try:
            importlib.import_module(f"numba.np.ufunc.{mod}")
            if label == "tbb":
                from numba.np.ufunc.parallel import _check_tbb_version_compatible
                _check_tbb_version_compatible()
        except Exception:
            continue
        info["usable"].append(label)
    return info


def _parallel_probe():
    import numba
    import numpy as np

    @numba.njit(parallel=True)
    def probe(a):
        s = 0.0
        for i in numba.prange(a.size):
            s += a[i]
        return s

    return probe(np.ones(64))


def run(args) -> int:
    """Print the table (or ``--json``); always exit 0 (what is missing is reported, not raised)."""
    from .. import __version__
    from .. import backends as _backends
    from ..bench.runner import KNOWN_BACKENDS, cuda_status

    out = sys.stdout
    import numpy

    def version_of(mod_name):
        try:
            return getattr(importlib.import_module(mod_name), "__version__", None) or _dist_version(mod_name) or "?"
        except Exception as exc:
            return f"not importable ({type(exc).__name__})"

    data = {"staticad": __version__, "python": platform.python_version(),
            "python_implementation": platform.python_implementation(), "executable": sys.executable,
            "numpy": numpy.__version__, "numba": version_of("numba"), "networkx": version_of("networkx"),
            "optional": {name: _dist_version(name) for name in ("torch", "jax", "numba-cuda", "rich", "tqdm")},
            "platform": platform.platform(), "cpu_count": os.cpu_count()}
    rows = [("staticad", __version__),
            ("python", f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})"),
            ("numpy", numpy.__version__),
            ("numba", data["numba"]),
            ("networkx", data["networkx"])]
    optional = [f"{name} {v}" if v else f"{name} not installed" for name, v in data["optional"].items()]
    rows.append(("optional", ", ".join(optional)))
    rows.append(("platform", f"{platform.platform()}, {os.cpu_count()} CPUs"))

    avail = list(_backends.available())
    known = list(KNOWN_BACKENDS) + [b for b in avail if b not in KNOWN_BACKENDS]
    data["backends"] = {b: b in avail for b in known}
    rows.append(("backends", ", ".join(f"{b} (available)" if b in avail else f"{b} (not available)" for b in known)))

    cs = cuda_status()
    data["cuda"] = cs
    sim_env = os.environ.get("NUMBA_ENABLE_CUDASIM")
    if cs["simulator"]:
        cuda_text = f"CUDA simulator enabled (NUMBA_ENABLE_CUDASIM={sim_env})"
        cuda_text += "" if cs["available"] else " but numba.cuda reports it unavailable"
    elif cs["available"]:
        cuda_text = "GPU: " + (", ".join(cs["devices"]) or "yes")
    else:
        cuda_text = "no GPU (numba.cuda.is_available() is False)"
        cuda_text += "; simulator off (set NUMBA_ENABLE_CUDASIM=1)"
    if cs["error"]:
        cuda_text += f"; {cs['error']}"
    rows.append(("cuda", cuda_text))

    th = threading_info(probe=getattr(args, "probe_threads", False))
    data["threading"] = th
    if th.get("error"):
        thread_text = f"unknown ({th['error']})"
    elif th["active"]:
        thread_text = f"{th['active']} (active; configured {th['configured']!r})"
    else:
        usable = th["usable"]
        thread_text = f"configured {th['configured']!r}, not initialised yet"
        if th["configured"] == "default" and usable:
            thread_text += f"; would use {usable[0]}"
        thread_text += f" (usable: {', '.join(usable) or 'none'}; --probe-threads to initialise)"
    if th.get("probe_error"):
        thread_text += f"; probe failed: {th['probe_error']}"
    if th.get("num_threads"):
        thread_text += f"; {th['num_threads']} threads"
    rows.append(("threading", thread_text))

    ci = cache_info()
    data["cache"] = ci
    if ci["exists"]:
        cache_text = (f"{ci['path']} ({ci['source']}): {human_bytes(ci['bytes'])} in {ci['files']} file(s), "
                      f"{ci['modules']} generated module(s)")
    elif ci.get("error"):
        cache_text = f"{ci['path']} ({ci['source']}): {ci['error']}"
    else:
        cache_text = f"{ci['path']} ({ci['source']}): does not exist yet (0 B)"
    rows.append(("cache", cache_text))

    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str), file=out)
        return 0
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}", file=out)
    return 0

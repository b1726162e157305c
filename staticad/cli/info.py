"""``staticad info``: versions, backends, CUDA, numba's threading layer, the cache directory."""
from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import sys

from .cache import cache_info, cache_summary


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
    except Exception:  # not installed (PackageNotFoundError) or broken metadata
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
    import numpy

    from ..version import __version__
    from .. import backends as _backends
    from ..bench.runner import KNOWN_BACKENDS, cuda_status

    data = {"staticad": __version__, "python": platform.python_version(),
            "python_implementation": platform.python_implementation(), "executable": sys.executable,
            "numpy": numpy.__version__, "numba": _version_of("numba"), "llvmlite": _version_of("llvmlite"),
            "scipy": _version_of("scipy"), "networkx": _version_of("networkx"),
            "optional": {name: _dist_version(name) for name in ("torch", "jax", "numba-cuda", "rich", "tqdm")},
            "platform": platform.platform(), "cpu_count": os.cpu_count()}
    avail = list(_backends.available())
    known = list(KNOWN_BACKENDS) + [b for b in avail if b not in KNOWN_BACKENDS]
    data["backends"] = {b: b in avail for b in known}  # in this build
    data["cuda"] = cuda_status()
    # usable here: cuda is in every build but needs a GPU (or the simulator)
    data["backends_usable"] = {b: b in avail and (b != "cuda" or data["cuda"]["available"]) for b in known}
    data["threading"] = threading_info(probe=args.probe_threads)
    data["cache"] = cache_info()
    data["matmul_blas"] = _matmul_blas()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    rows = [("staticad", __version__),
            ("python", f"{data['python']} ({data['python_implementation']}, {sys.executable})"),
            ("numpy", data["numpy"]), ("numba", f"{data['numba']} (llvmlite {data['llvmlite']})"),
            ("scipy", data["scipy"]), ("matmul", data["matmul_blas"]), ("networkx", data["networkx"]),
            ("optional", ", ".join(f"{name} {v}" if v else f"{name} not installed"
                                   for name, v in data["optional"].items())),
            ("platform", f"{data['platform']}, {os.cpu_count()} CPUs"),
            ("backends", ", ".join(f"{b} ({_backend_state(b, ok, data['backends_usable'][b], data['cuda'])})"
                                   for b, ok in data["backends"].items())),
            ("cuda", _cuda_text(data["cuda"])),
            ("threading", _threading_text(data["threading"])),
            ("cache", cache_summary(data["cache"]))]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def _matmul_blas() -> str:
    """Which BLAS the numba backend's matmuls call (see staticad.backends.numba_blas)."""
    try:
        from ..backends import numba_blas
    except ImportError as exc:  # no numba
        return f"- ({type(exc).__name__}: {exc})"
    return numba_blas.describe()


def _backend_state(name: str, built: bool, usable: bool, cs: dict) -> str:
    if not built:
        return "not available"
    if name == "cuda":  # in every build; says where its kernels would run
        return ("simulator" if cs["simulator"] else "GPU") if cs["available"] else "no GPU or simulator here"
    return "available" if usable else "in this build, cannot run here"


def _version_of(module_name: str) -> str:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        return f"not importable ({type(exc).__name__})"
    return getattr(module, "__version__", None) or _dist_version(module_name) or "?"


def _cuda_text(cs: dict) -> str:
    if cs["simulator"]:
        text = f"CUDA simulator enabled (NUMBA_ENABLE_CUDASIM={os.environ.get('NUMBA_ENABLE_CUDASIM')})"
        text += "" if cs["available"] else " but numba.cuda reports it unavailable"
    elif cs["available"]:
        text = "GPU: " + (", ".join(cs["devices"]) or "yes")
    else:
        text = "no GPU (numba.cuda.is_available() is False); simulator off (set NUMBA_ENABLE_CUDASIM=1)"
    if cs["error"]:
        text += f"; {cs['error']}"
    return text


def _threading_text(th: dict) -> str:
    if th.get("error"):
        return f"unknown ({th['error']})"
    if th["active"]:
        text = f"{th['active']} (active; configured {th['configured']!r})"
    else:
        usable = th["usable"]
        text = f"configured {th['configured']!r}, not initialised yet"
        if th["configured"] == "default" and usable:
            text += f"; would use {usable[0]}"
        text += f" (usable: {', '.join(usable) or 'none'}; --probe-threads to initialise)"
    if th.get("probe_error"):
        text += f"; probe failed: {th['probe_error']}"
    if th.get("num_threads"):
        text += f"; {th['num_threads']} threads"
    return text

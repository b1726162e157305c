"""``staticad cache [info|clear]``: the generated-code cache's directory and size, or empty it."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .common import human_bytes


def add_parser(sub) -> None:
    cache = sub.add_parser("cache", help="show or clear the generated-code cache",
                           description="The generated-code cache ($STATICAD_CACHE_DIR, default "
                                       "~/.cache/staticad): 'info' prints its directory and size, 'clear' "
                                       "deletes every entry (functions recompile on next use).")
    cache.add_argument("action", nargs="?", choices=("info", "clear"), default="info",
                       help="info (default) or clear")
    cache.add_argument("--verbose", "-v", action="store_true", help="clear: list every file removed")


def cache_dir() -> Path:
    """``$STATICAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/staticad``, else ``~/.cache/staticad`` (the
    rule of ``staticad.backends.cache.cache_dir``, without creating the directory)."""
    env = os.environ.get("STATICAD_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "staticad"


def dir_size(path: Path):
    """``(bytes, files)`` under ``path``."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                total += os.path.getsize(os.path.join(root, n))
                files += 1
            except OSError:
                pass
    return total, files


def cache_info() -> dict:
    """The cache directory, where its path comes from, and its size; never creates it."""
    cdir = cache_dir()
    source = ("STATICAD_CACHE_DIR" if os.environ.get("STATICAD_CACHE_DIR")
              else "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "default")
    out = {"path": str(cdir), "source": source, "exists": cdir.is_dir(), "files": 0, "bytes": 0}
    if cdir.is_dir():
        try:
            from ..backends import cache as _cache
            out["files"], out["bytes"] = _cache.cache_size()
        except Exception:  # numba missing or broken: count the files ourselves
            out["bytes"], out["files"] = dir_size(cdir)
        out["modules"] = len(list((cdir / "modules").glob("staticad_gen_*.py"))) if (cdir / "modules").is_dir() else 0
    elif cdir.exists():
        out["error"] = "not a directory"
    return out


def cache_summary(ci: dict) -> str:
    """One line: the directory, where its path comes from, and its size."""
    where = f"{ci['path']} ({ci['source']})"
    if ci["exists"]:
        return f"{where}: {human_bytes(ci['bytes'])} in {ci['files']} file(s), {ci['modules']} generated module(s)"
    return f"{where}: {ci['error']}" if ci.get("error") else f"{where}: does not exist yet (0 B)"


def run(args) -> int:
    """``staticad cache info`` prints the directory and size; ``clear`` deletes every entry."""
    out = sys.stdout
    ci = cache_info()
    if args.action == "info":
        print(cache_summary(ci), file=out)
        return 0
    # clear
    if not ci["exists"]:
        print(f"nothing to remove: {ci['path']} does not exist", file=out)
        return 0
    from ..backends import cache as _cache
    root = Path(ci["path"])
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"]  # locks: not entries
    kinds = {"generated module(s)": 0, "numba compiled file(s)": 0, "other file(s)": 0}
    for f in files:
        if f.suffix == ".py" and f.name.startswith("staticad_gen_"):
            kinds["generated module(s)"] += 1
        elif f.suffix in (".nbi", ".nbc"):
            kinds["numba compiled file(s)"] += 1
        else:
            kinds["other file(s)"] += 1
    try:
        removed = _cache.clear()
    except OSError as exc:
        print(f"staticad cache: error: {exc}", file=sys.stderr)
        return 1
    left = [p for p in files if p.exists()]
    if args.verbose:
        for f in files:
            if not f.exists():
                print(f"removed {f}", file=out)
    detail = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
    print(f"removed {removed} file(s) ({human_bytes(ci['bytes'])}{'; ' + detail if detail else ''}) "
          f"from {ci['path']}", file=out)
    if left:
        print(f"staticad cache: warning: {len(left)} file(s) could not be removed (in use or no permission)",
              file=sys.stderr)
        return 1
    return 0

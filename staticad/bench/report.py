"""What ``staticad bench`` prints and writes from a :func:`staticad.bench.runner.run_bench`
report: the plain-text table, the warnings and failures under it, and the JSON file."""
from __future__ import annotations

import json
import sys

import numpy as np


def warning_lines(report, width: int = 160) -> list:
    """One line per distinct warning captured while running the columns."""
    out, seen = [], set()
    for entry in report["results"]:
        for r in entry["columns"]:
            for text in r.get("warnings", ()):
                key = (r["column"], text)
                if key in seen:
                    continue
                seen.add(key)
                line = f"{entry['workload']} {entry['label']} [{r['column']}]: {text}"
                out.append(line if len(line) <= width else line[:width - 3] + "...")
    return out


def failures(report) -> list:
    """Human-readable problems: columns that errored, staticad columns whose outputs differ,
    cold/warm starts (--latency) that failed or timed out."""
    out = []
    for entry in report["results"]:
        for r in entry["columns"]:
            where = f"{entry['workload']} {entry['label']} [{r['column']}]"
            if r.get("latency_error"):
                out.append(f"{where}: cold/warm start: {r['latency_error']}")
            if r["status"] == "error":
                out.append(f"{where}: {r['reason']}")
            elif r.get("matches_numpy_hand") is False and r["kind"] == "staticad":
                out.append(f"{where}: output differs from numpy-hand (max abs diff {r.get('max_abs_diff')})")
    return out


def format_seconds(s) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _ratio(r) -> str:
    if r is None:
        return "-"
    return f"{r:.2f}x" if r < 100 else f"{r:.0f}x"


HEADERS = ("workload", "size", "column", "graph", "compile", "cache", "median", "min", "max", "vs numba",
           "vs hand", "mem", "check")
LATENCY_HEADERS = ("cold", "warm", "numba init", "cold/warm")  # with --latency, before "check"
_LEFT = {"workload", "size", "column", "cache", "check", "cold/warm"}
MEM_MIN_BYTES = 1 << 20  # below this, page granularity (4 KiB) makes the ratio meaningless


def memory_ratio(r):
    """(inputs + the call's peak) / (inputs + outputs): 1.00x means no temporaries at all."""
    peak, io = r.get("peak_call_bytes"), r.get("io_bytes")
    if peak is None or not io or io < MEM_MIN_BYTES:
        return None
    return (r.get("input_bytes", 0) + peak) / io


def _latency_cells(r) -> tuple:
    """cold, warm, numba init and the cache outcome of each (``miss/hit`` is the expected one)."""
    if r["kind"] != "staticad":
        return ("", "", "", "")
    if r.get("latency_error"):
        status = r.get("latency_status", "error")
        return (status, status, "-", "-")
    hits = [r.get("cold_cache_hit"), r.get("warm_cache_hit")]
    flags = "/".join("-" if h is None else h if isinstance(h, str) else ("hit" if h else "miss") for h in hits)
    return (format_seconds(r.get("cold_seconds")), format_seconds(r.get("warm_seconds")),
            format_seconds(r.get("numba_startup")), flags)


def format_table(report) -> str:
    """The plain-text table; skipped and failed columns get one short row each, their reasons
    are listed once below the table."""
    env, st = report["environment"], report["settings"]
    latency = bool(st.get("latency_repeat"))
    headers = HEADERS[:-1] + LATENCY_HEADERS + HEADERS[-1:] if latency else HEADERS
    lines = [f"staticad {env['staticad']} bench  |  numpy {env['numpy']}, numba {env['numba']}, "
             f"Python {env['python']}  |  {st['repeat']} timed calls after "
             f"{st['warmup']}+ warm-up call(s) ({st.get('warmup_seconds', 0) * 1e3:g}+ ms)",
             "graph = declaring the graph and its derivatives; compile = sad.function(...) + first call "
             "(jax: jit + first call)",
             "median/min/max = time per call; vs numba / vs hand = median / the numba / numpy-hand median; "
             "check = first outputs equal numpy-hand's; mem (--memory) = (inputs + peak memory of one call) / "
             "(inputs + outputs), from 1 MiB up (1.00x = no temporaries)"]
    if latency:
        lines.append(f"cold/warm (--latency) = sad.function(...) + first call in a fresh process (median of "
                     f"{st['latency_repeat']}), cold on an empty cache, warm on the cache cold filled; numba init = "
                     "numba's own start-up in that process (a trivial cached @njit's first call), not in warm")
    lines.append("")
    rows, notes = [], {}
    for entry in report["results"]:
        first = True
        for r in entry["columns"]:
            wl = entry["workload"] if first else ""
            sz = entry["label"] if first else ""
            first = False
            if r["status"] != "ok":
                key = (r["status"], r["column"], r["reason"])
                if key not in notes:
                    notes[key] = len(notes) + 1
                rows.append((wl, sz, r["column"], f"{r['status']} [{notes[key]}]"))
                continue
            cache = "-" if r.get("cache_hit") is None else ("hit" if r["cache_hit"] else "miss")
            if r["kind"] == "hand":
                check = "ref"
            elif "matches_numpy_hand" in r:
                check = "ok" if r["matches_numpy_hand"] else "DIFF"
            else:
                check = "-"
            rows.append((wl, sz, r["column"], format_seconds(r.get("graph_seconds")),
                         format_seconds(r.get("compile_seconds")), cache,
                         format_seconds(r["median_seconds"]), format_seconds(r["min_seconds"]),
                         format_seconds(r["max_seconds"]), _ratio(r.get("ratio_to_numba")),
                         _ratio(r.get("ratio_to_numpy_hand")), _ratio(memory_ratio(r)))
                        + (_latency_cells(r) if latency else ()) + (check,))
        rows.append(None)  # blank line between workloads
    if rows and rows[-1] is None:
        rows.pop()
    widths = [len(h) for h in headers]
    for r in rows:
        if r is None:
            continue
        for i, cell in enumerate(r if len(r) == len(headers) else r[:3]):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells):
        if len(cells) != len(headers):  # a skipped/error row: name, then the status
            cells = list(cells[:3]) + [cells[3]]
            return "  ".join([c.ljust(widths[i]) for i, c in enumerate(cells[:3])] + [cells[3]]).rstrip()
        return "  ".join(c.ljust(widths[i]) if headers[i] in _LEFT else c.rjust(widths[i])
                         for i, c in enumerate(cells)).rstrip()

    lines.append(fmt(headers))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["" if r is None else fmt(r) for r in rows]
    if notes:
        lines.append("")
        for (status, column, reason), i in notes.items():
            lines.append(f"[{i}] {column} {status}: {reason}")
    return "\n".join(lines) + "\n"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def write_json(report, path) -> None:
    data = _jsonable(report)
    text = json.dumps(data, indent=2)
    if str(path) == "-":
        sys.stdout.write(text + "\n")
        return
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")

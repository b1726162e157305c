"""``staticad bench --latency``: cold and warm time to first result in fresh processes."""
import json

import pytest

from staticad.bench import latency
from tests.cli.helpers import run_cli


@pytest.fixture(scope="module")
def latency_run(tmp_path_factory):
    """One run shared by the tests below: scalar on numba (disk cache) and numpy (none), one
    pair of fresh processes per column."""
    path = tmp_path_factory.mktemp("latency") / "bench.json"
    rc, out, err = run_cli(["bench", "scalar", "-b", "numba,numpy", "--latency", "--latency-repeat", "1",
                            "--repeat", "1", "--warmup", "0", "-q", "--json", str(path)])
    assert rc == 0, out + err
    data = json.loads(path.read_text())
    return out, {c["column"]: c for c in data["results"][0]["columns"]}, data


def test_numba_column_is_a_miss_cold_and_a_hit_warm(latency_run):
    _, cols, data = latency_run
    assert data["settings"]["latency_repeat"] == 1
    r = cols["numba"]
    assert r["latency_status"] == "ok"
    assert r["cold_seconds"] > 0 and r["warm_seconds"] > 0 and r["numba_startup"] > 0
    assert r["cold_cache_hit"] is False and r["warm_cache_hit"] is True
    (cold,), (warm,) = r["latency"]["cold"], r["latency"]["warm"]
    assert cold["cache_hit"] is False and warm["cache_hit"] is True
    # the warm figure excludes numba's start-up and the graph's declaration, which are apart
    assert warm["seconds"] == r["warm_seconds"] and warm["numba_startup"] == r["numba_startup"]
    assert warm["graph_seconds"] > 0 and cold["nodes_declared"] == warm["nodes_declared"] > 0


def test_backend_without_disk_cache_has_no_hit_flags(latency_run):
    _, cols, _ = latency_run
    r = cols["numpy"]
    assert r["cold_seconds"] > 0 and r["warm_seconds"] > 0
    assert r["cold_cache_hit"] is None and r["warm_cache_hit"] is None
    assert "cold_seconds" not in cols["numpy-hand"]  # not a staticad column


def test_table_has_the_latency_columns(latency_run):
    out, _, _ = latency_run
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    for name in ("cold", "warm", "numba init", "cold/warm", "check"):
        assert name in header
    assert header.index("cold/warm") < header.index("check")
    numba_row = next(line for line in out.splitlines() if "  numba  " in line)
    assert "miss/hit" in numba_row


def test_latency_is_off_by_default():
    rc, out, _ = run_cli(["bench", "scalar", "-b", "numpy", "--repeat", "1", "--warmup", "0", "-q"])
    assert rc == 0
    assert "numba init" not in out and "cold/warm" not in out


def test_timeout_is_reported_not_waited_for(tmp_path):
    # 0.2 s is far less than a fresh interpreter needs to import numba
    spec = {"source": "workload", "name": "scalar", "size": None, "backend": "numba"}
    r = latency.cold_warm(spec, repeat=2, timeout=0.2)
    assert r["latency_status"] == "timeout" and "cold: timeout" in r["latency_error"]
    assert r["cold_seconds"] is None and r["warm_seconds"] is None
    assert len(r["latency"]["cold"]) == 1 and r["latency"]["warm"] == []  # stopped at the first


def test_child_error_is_reported(tmp_path):
    spec = {"source": "workload", "name": "nosuch", "size": None, "backend": "numba"}
    r = latency.measure(spec, tmp_path, timeout=120)
    assert r["status"] == "error" and "nosuch" in r["reason"]


def test_timed_out_latency_shows_in_the_table_and_fails_the_run():
    rc, out, _ = run_cli(["bench", "scalar", "-b", "numpy", "--latency", "--latency-repeat", "1",
                          "--compile-timeout", "0.2", "--repeat", "1", "--warmup", "0", "-q"])
    assert rc == 1
    numpy_row = next(line for line in out.splitlines() if "  numpy  " in line)
    assert numpy_row.count("timeout") == 2  # cold and warm cells
    assert "cold/warm start: cold: timeout" in out


def test_stages_merge_so_a_timeout_keeps_what_was_reached():
    out = '{"stage": "declared", "nodes_declared": 5, "numba_startup": 0.1}\nnot json\n'
    assert latency._last_record(out) == {"stage": "declared", "nodes_declared": 5, "numba_startup": 0.1}
    out += '{"stage": "done", "status": "ok", "seconds": 2.0}\n'
    assert latency._last_record(out) == {"stage": "done", "nodes_declared": 5, "numba_startup": 0.1,
                                         "status": "ok", "seconds": 2.0}

"""The eager and jit columns of ``staticad bench --compare eager,jit`` (staticad/bench/eager_columns.py)."""
import json

import numpy as np
import pytest

from staticad.bench import eager_columns
from staticad.bench.workloads import WORKLOADS, build_hand, flatten, outputs_close
from staticad.cli import main

SMALL = {"chain": 1000, "linreg": 2000, "hessian": 20}


def _check_against_hand(kind, name):
    w = WORKLOADS[name]
    case = w.case(SMALL.get(name))
    fn, args = eager_columns.build(kind, name, case)
    hand, hargs = build_hand(w, case)
    n = 3 if w.stateful else 1  # stateful: later calls see the updated parameters
    for _ in range(n):
        got, want = fn(*args), hand(*hargs)
        for a, b in zip(flatten(got), flatten(want)):
            assert np.asarray(a).shape == np.asarray(b).shape
            np.testing.assert_allclose(a, b, rtol=w.rtol, atol=w.atol)
        assert outputs_close(w, got, want)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_eager_column_matches_numpy_hand(name):
    assert eager_columns.supports("eager", name)
    _check_against_hand("eager", name)


@pytest.mark.parametrize("name", ["scalar", "linreg"])  # numba compiles: a few seconds each
def test_jit_column_matches_numpy_hand(name):
    _check_against_hand("jit", name)


def test_bench_cli_eager_and_jit_columns(tmp_path):
    path = tmp_path / "bench.json"
    rc = main(["bench", "scalar", "--backend", "numpy", "--compare", "eager,jit", "--repeat", "3", "-q",
               "--json", str(path)])
    assert rc == 0
    cols = {c["column"]: c for c in json.loads(path.read_text())["results"][0]["columns"]}
    for name in ("eager", "jit"):
        assert cols[name]["status"] == "ok" and cols[name]["matches_numpy_hand"] is True
        assert cols[name]["median_seconds"] > 0

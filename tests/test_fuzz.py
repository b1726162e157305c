"""``staticad fuzz``: the CI slice of the differential fuzzer, and how it reports a failure."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from staticad import fuzz
from staticad.cli import main


def test_fuzz_command_runs_a_few_graphs_numba_against_numpy(tmp_path, capsys):
    # seed 3 draws a cond and a fori_loop; the slice stays small (each graph is a numba compile)
    kinds = [k for k, *_ in fuzz.random_recipe(3)[1]]
    assert "c" in kinds and "w" in kinds
    assert main(["fuzz", "-n", "2", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert "fuzz: 2 graphs in 2 batches, 0 failing" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_fuzz_with_the_generated_code_interpreted(tmp_path):
    # NUMBA_DISABLE_JIT=1: the volume mode (generated code run as Python); a subprocess, since
    # numba reads the variable at import
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", STATICAD_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-m", "staticad", "fuzz", "-n", "30", "--out", str(tmp_path / "f")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "fuzz: 30 graphs in 30 batches, 0 failing" in out.stdout


def test_recipes_are_reproducible_by_seed():
    assert fuzz.random_recipe(7) == fuzz.random_recipe(7)
    assert fuzz.random_recipe(7) != fuzz.random_recipe(8)


def test_a_failure_is_shrunk_and_saved_as_a_ready_regression_test(tmp_path, monkeypatch):
    # a stand-in bug: any graph taking the cosine of something disagrees
    def fake_check(recipes):
        for in_shapes, steps in recipes:
            if any(k == "u" and b % 10 == 1 for k, a, b in steps):
                return "graph 0 output 0: max abs difference 1"
        return None

    seed = next(s for s in range(100) if fake_check([fuzz.random_recipe(s, kinds=["u", "b"])]))
    monkeypatch.setattr(fuzz, "check", fake_check)
    report = fuzz.run(3, seed=seed, out_dir=tmp_path, log=lambda _: None, kinds=["u", "b"])
    assert report.failures and report.failures[0][0] == seed
    path = tmp_path / f"test_fuzz_seed_{seed}.py"
    ns = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    in_shapes, steps = ns["RECIPE"]
    assert len(steps) == 1 and steps[0][0] == "u" and steps[0][2] % 10 == 1 and len(in_shapes) == 1
    # the saved test fails while the bug is there
    try:
        ns["check"] = fake_check
        ns[f"test_fuzz_seed_{seed}"]()
    except AssertionError:
        pass
    else:
        raise AssertionError("the regression test did not fail on the bug")


def test_build_makes_loss_and_gradients():
    phs, outs, vals = fuzz.build(fuzz.random_recipe(3))
    assert len(outs) == 1 + len(phs) and len(vals) == len(phs)
    assert all(v.shape == p.shape for v, p in zip(vals, phs)) and isinstance(vals[0], np.ndarray)

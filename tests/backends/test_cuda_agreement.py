"""The cuda backend agrees with the NumPy reference on the op catalogue of ``tests/ops/cases.py``:
every op's value (the forward cases) and its VJP and JVP rules (the derivative cases).

Each test compiles the cases of one op into one function per backend and compares every output
with the tolerances of the CPU backend's agreement suite. Under the CUDA simulator (CI) each op
runs its first cases (the simulator runs every GPU thread as a Python thread); with a real GPU
every case of the catalogue runs (those tests are marked ``gpu``).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import staticad as sad
from staticad.backends import cuda_backend

from tests.ops.cases import DERIVATIVE_CASES, FORWARD_CASES
from tests.ops.checks import placeholders, rng_for

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = cuda_backend.is_simulator()
REAL_GPU = cuda_backend.is_available() and not SIMULATOR
FULL = REAL_GPU or os.environ.get("STATICAD_CUDA_TESTS") == "full"  # "full": the GPU set on the simulator too
# the numba agreement suite's tolerances: RTOL * 10 against the numpy backend
RTOL = {np.dtype("float32"): 1e-4, np.dtype("float64"): 1e-11}
ATOL = {np.dtype("float32"): 1e-6, np.dtype("float64"): 1e-12}
CI_CASES_PER_OP = 2

needs_cuda = pytest.mark.skipif(not cuda_backend.is_available(),
                                reason=f"no CUDA GPU or simulator: {cuda_backend.unavailable_reason()}")


def _by_op(cases) -> dict:
    groups: dict = {}
    for c in cases:
        groups.setdefault(c.op, []).append(c)
    return groups


def _params(cases):
    """One param per op: its first cases everywhere, the rest (marked gpu) only on a real GPU."""
    out = []
    for op, group in _by_op(cases).items():
        out.append(pytest.param(op, group[:CI_CASES_PER_OP], id=op))
        if len(group) > CI_CASES_PER_OP:
            out.append(pytest.param(op, group[CI_CASES_PER_OP:], id=f"{op}-rest", marks=[
                pytest.mark.gpu, pytest.mark.skipif(not FULL, reason="the full catalogue runs on a real GPU "
                                                        "(or with STATICAD_CUDA_TESTS=full)")]))
    return out


def _compare(labels, inputs, outputs, arrays):
    """Compile ``outputs`` on numpy and cuda; every output (labelled) must agree."""
    ref = sad.function(inputs, outputs, backend="numpy")(*arrays)
    got = sad.function(inputs, outputs, backend="cuda")(*arrays)
    assert len(ref) == len(got) == len(labels)
    for r, g, label in zip(ref, got, labels):
        r, g = np.asarray(r), np.asarray(g)
        what = f"cuda vs numpy: {label}"
        assert g.shape == r.shape and g.dtype == r.dtype, f"{what}: {g.shape} {g.dtype}, numpy {r.shape} {r.dtype}"
        if r.dtype.kind == "f":
            np.testing.assert_allclose(g, r, rtol=RTOL[r.dtype], atol=ATOL[r.dtype], err_msg=what)
        else:
            np.testing.assert_array_equal(g, r, err_msg=what)


@needs_cuda
@pytest.mark.parametrize("op, cases", _params(FORWARD_CASES))
def test_forward_values_agree(op, cases):
    labels, inputs, outputs, arrays = [], [], [], []
    for k, case in enumerate(cases):
        vals = case.make(rng_for(case.label))
        xs = placeholders(vals, prefix=f"c{k}_x")
        labels.append(case.label)
        inputs += xs
        outputs.append(case.build(*xs))
        arrays += list(vals)
    _compare(labels, inputs, outputs, arrays)


@needs_cuda
@pytest.mark.parametrize("op, cases", _params(DERIVATIVE_CASES))
def test_vjp_and_jvp_rules_agree(op, cases):
    """Value, VJP with a random cotangent and JVP with random tangents of every case (float64)."""
    labels, inputs, outputs, arrays = [], [], [], []
    for k, case in enumerate(cases):
        vals = [np.asarray(a, np.float64) for a in case.make(rng_for(case.label))]
        xs = placeholders(vals, prefix=f"c{k}_x")
        y = case.build(*xs)
        rng = rng_for(case.label + " cuda")
        v = rng.uniform(-1, 1, y.shape)
        us = [rng.uniform(-1, 1, a.shape) for a in vals]
        grads = sad.vjp(y, list(xs), v)
        tangent = sad.jvp(y, list(xs), us)
        labels += [f"{case.label} value"] + [f"{case.label} vjp wrt input {i}" for i in range(len(xs))] \
            + [f"{case.label} jvp"]
        outputs += [y] + list(grads) + [tangent]
        inputs += xs
        arrays += vals
    _compare(labels, inputs, outputs, arrays)


def test_catalogue_kernels_compile_to_ptx():
    """Every kernel generated for the catalogue's graphs compiles for a real GPU (sm_80) with
    numba's CUDA target and NVVM, no GPU needed (the simulator checks none of that). Skipped
    where NVVM is not installed (numba-cuda[cu12] / a CUDA toolkit)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    per_op = "1000" if FULL else str(CI_CASES_PER_OP)
    proc = subprocess.run([sys.executable, "-m", "tests.backends.cuda_ptx_catalogue", per_op], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.stdout.startswith("SKIP"):
        pytest.skip(f"NVVM is not installed ({proc.stdout.split()[1]}): pip install 'numba-cuda[cu12]'")
    assert proc.returncode == 0 and "failures=0" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-3000:]

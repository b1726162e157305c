"""Peak memory per call (staticad bench --memory): the measurement sees temporaries."""
import sys

import pytest

from staticad.bench import memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/clear_refs")

N = 1 << 20  # 4 MiB of float32: every buffer is above the 64 KiB mmap threshold


def test_fused_chain_allocates_only_its_output():
    r = memory.measure("chain", N, "numba", "staticad")
    assert r["peak_call_bytes"] is not None, r
    grad = 4 * N
    assert r["input_bytes"] == 4 * N and r["io_bytes"] == 8 * N
    assert grad <= r["peak_call_bytes"] <= 1.1 * grad


def test_numpy_temporaries_are_counted():
    r = memory.measure("chain", N, "numpy-hand", "hand")
    # sin, 2*sin+1, x*x, -x*x, exp, tanh, cos, ... each a fresh 4 MiB array
    assert r["peak_call_bytes"] >= 3 * 4 * N


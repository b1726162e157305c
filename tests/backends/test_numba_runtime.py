"""numba_runtime's array constructors: contents, and huge pages asked for large arrays (Linux)."""
import sys

import numpy as np
import pytest

from staticad.backends import numba_runtime as rt


def _vm_flags(address):
    """The VmFlags of the mapping holding ``address`` in /proc/self/smaps."""
    flags, inside = None, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(p, 16) for p in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                flags = line.split()[1:]
    return flags


@pytest.mark.parametrize("make", ["empty", "zeros", "full"])
def test_constructors_give_the_shape_dtype_and_values(make):
    for shape, dtype in [((), np.float64), ((3, 4), np.float32), ((rt.HUGE_PAGE_MIN // 4 + 5,), np.int32)]:
        if make == "empty":
            a = rt.empty(shape, dtype)
        elif make == "zeros":
            a = rt.zeros(shape, dtype)
            assert not a.any()
        else:
            a = rt.full(shape, 7, dtype)
            assert (a == 7).all()
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_HUGEPAGE is Linux's")
def test_large_arrays_ask_for_huge_pages_and_small_ones_do_not():
    big = rt.empty((rt.HUGE_PAGE_MIN // 4,), np.float32)
    flags = _vm_flags(big.ctypes.data + big.nbytes // 2)
    assert flags is not None and "hg" in flags  # hg: madvise(MADV_HUGEPAGE)
    small = rt.empty((rt.HUGE_PAGE_MIN // 8,), np.float32)
    assert "hg" not in (_vm_flags(small.ctypes.data + small.nbytes // 2) or [])

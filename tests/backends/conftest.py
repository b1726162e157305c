"""Selects numba's CUDA simulator for the cuda backend's tests when this machine has no GPU.

numba picks the simulator or the real target once, when ``numba.cuda`` is first imported, from
``NUMBA_ENABLE_CUDASIM``: so the variable is set here, before any test module is imported. An
explicit ``NUMBA_ENABLE_CUDASIM`` (``=0`` to insist on a GPU) is respected.
"""
import os
import sys


def _gpu_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _gpu_present() and "numba.cuda" not in sys.modules:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba" in sys.modules:  # numba read its config already: make it read the variable
        from numba.core import config
        config.reload_config()

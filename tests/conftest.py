"""Shared fixtures. ``backend`` runs a test once per backend in ``BACKENDS``.

The cuda backend: without a GPU, numba's CUDA simulator is selected here, before anything imports
``numba.cuda`` (numba decides once, at that import; an explicit ``NUMBA_ENABLE_CUDASIM``, ``=0`` to
insist on a GPU, is respected). Every backend-agnostic test then runs on cuda too: all of them on a
real GPU (``-m gpu`` selects them), and under the simulator all but ``CUDA_TOO_SLOW_FOR_SIMULATOR``
(many training steps or large matmuls: the simulator runs each GPU thread as a Python thread).
``STATICAD_CUDA_TESTS=full`` runs those on the simulator too.
"""
import os
import sys

import pytest


def _gpu_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _gpu_present() and "numba.cuda" not in sys.modules:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba" in sys.modules:  # numba read its config already: make it read the variable
        from numba.core import config
        config.reload_config()

# Every backend listed here must pass the backend-agnostic tests (test_function, test_tutorials,
# ...). STATICAD_TEST_BACKENDS=numpy,numba overrides.
BACKENDS = [b for b in os.environ.get("STATICAD_TEST_BACKENDS", "numpy,numba,cuda").split(",") if b]

CUDA_TOO_SLOW_FOR_SIMULATOR = {
    "test_tutorials.py::test_linear_regression",                       # 100 training steps
    "test_tutorials.py::test_linear_regression_with_optimizer",        # 100 training steps
    "test_tutorials.py::test_tiny_model_gradients_and_sgd_step",       # 16 x 1000 @ 1000 x 100
    "test_tutorials.py::test_tiny_model_gradients_are_not_accumulated",
    "test_optim.py::test_optimizer_step_in_a_training_loop_decreases_loss",
    # control flow: every loop iteration launches a few kernels, and the simulator's reductions
    # (a thread per lane, syncthreads) cost ~0.1 s each; the first parametrization of the
    # tutorials' tests still runs there (a key may name one parametrization)
    "test_control_flow.py::test_hessian_through_loop",
    "test_control_flow.py::test_hessian_through_cond_and_while",
    "test_control_flow.py::test_nested_loops",
    "test_control_flow.py::test_tutorial_scalar_gradient_is_d_over_a[cuda-1]",
    "test_control_flow.py::test_tutorial_scalar_gradient_is_d_over_a[cuda-2]",
    "test_control_flow.py::test_tutorial_scalar_gradient_is_d_over_a[cuda-3]",
    "test_tutorials.py::test_control_flow_grad_is_d_over_a[cuda-1]",
    "test_tutorials.py::test_control_flow_grad_is_d_over_a[cuda-2]",
}


def _cuda_mode() -> str:
    """"gpu", "simulator" or "none"."""
    from staticad.backends import cuda_backend
    if not cuda_backend.is_available():
        return "none"
    return "simulator" if cuda_backend.is_simulator() else "gpu"


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def pytest_collection_modifyitems(config, items):
    """Marks every cuda run of a backend-agnostic test ``gpu``; skips them without a GPU or the
    simulator, and the slow ones under the simulator (unless STATICAD_CUDA_TESTS=full)."""
    cuda_items = [it for it in items if getattr(it, "callspec", None) and it.callspec.params.get("backend") == "cuda"]
    if not cuda_items:
        return
    mode = _cuda_mode()
    full = os.environ.get("STATICAD_CUDA_TESTS") == "full"
    for item in cuda_items:
        key = f"{item.path.name}::{item.originalname}"
        slow = key in CUDA_TOO_SLOW_FOR_SIMULATOR or f"{item.path.name}::{item.name}" in CUDA_TOO_SLOW_FOR_SIMULATOR
        if mode == "none":
            from staticad.backends import cuda_backend
            item.add_marker(pytest.mark.skip(reason=f"cuda: {cuda_backend.unavailable_reason()}"))
        elif mode == "simulator" and slow and not full:
            item.add_marker(pytest.mark.gpu)
            item.add_marker(pytest.mark.skip(reason="cuda: too slow for the simulator; runs on a real GPU "
                                                    "(or with STATICAD_CUDA_TESTS=full)"))
        elif mode == "gpu" or slow:
            item.add_marker(pytest.mark.gpu)

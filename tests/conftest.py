"""Shared fixtures. ``backend`` runs a test once per backend in ``BACKENDS``."""
import os

import pytest

# Every backend listed here must pass the backend-agnostic tests (test_function, test_tutorials,
# ...): add a backend ("numba", ...) once it is ready. STATICAD_TEST_BACKENDS=numpy,numba overrides.
BACKENDS = [b for b in os.environ.get("STATICAD_TEST_BACKENDS", "numpy,numba").split(",") if b]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param

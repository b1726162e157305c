"""One LocalCluster (2 worker processes, 1 thread each) for every distributed test, started and
closed here. Workers inherit this process's environment: PYTHONPATH puts this checkout's staticad
first for them, and STATICAD_CACHE_DIR (when set) shares the numba disk cache."""
import logging
import os
from pathlib import Path

import pytest

pytest.importorskip("distributed")

ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="session")
def client():
    from distributed import Client, LocalCluster

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = ROOT + (os.pathsep + old if old else "")
    try:
        # no dashboard; the scheduler's HTTP endpoints (health, metrics) on a free port, not on
        # 8787, which another test process's cluster may hold ("Port 8787 is already in use")
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    client = Client(cluster)
    try:
        files = client.run(lambda: __import__("staticad").__file__)
        assert all(f.startswith(ROOT) for f in files.values()), files  # workers run this checkout
        yield client
    finally:
        client.close()
        cluster.close()

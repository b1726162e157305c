"""The notebooks in notebooks/ run top to bottom (their cells assert their own claims), and are
stored without outputs.

Each notebook is executed with nbclient in a kernel that runs this interpreter (a kernel spec
written to a temporary directory, named "python3", whose argv is ``sys.executable``), with the
repository root first on ``PYTHONPATH`` (so the notebooks import this checkout's staticad),
matplotlib's Agg backend, and without the CUDA simulator conftest selects. Skipped when nbclient/nbformat/ipykernel/matplotlib are missing
(they are in the ``test`` extra).
"""
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell: generous, the whole notebook is meant to take well under 60 s


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "01-explicit-vs-implicit.ipynb" in names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: cell {i} has stored outputs (clear them)"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"


def _kernel_manager(tmp_path):
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (this interpreter)", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=ksm)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["MPLBACKEND"] = "Agg"
    # conftest selects numba's CUDA simulator for the cuda tests; the notebooks run as in a user's
    # Jupyter (05 would otherwise time a simulated cuda column)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    km = _kernel_manager(tmp_path)
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(env=env)  # raises CellExecutionError (with the traceback) on the first error
    print(f"{path.name}: {time.perf_counter() - start:.1f} s")

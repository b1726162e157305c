"""staticad imports without Dask; sad.distributed is imported on first use."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_staticad_does_not_import_dask_until_sad_distributed_is_used():
    code = ("import sys, staticad as sad; assert 'distributed' not in sys.modules and 'dask' not in sys.modules; "
            "sad.distributed.DataParallel; assert 'distributed' in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)

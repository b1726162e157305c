"""Ctrl-C stops a ``while_loop`` that would never end, on every CPU backend, and changes nothing.

Each case runs in a subprocess that receives a real SIGINT once the endless call has started.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import signal, sys, numpy as np, staticad as sad
# a shell starts background jobs with SIGINT ignored, and Python then installs no handler: the
# user's Ctrl-C is what is tested, so take the default
signal.signal(signal.SIGINT, signal.default_int_handler)
w = sad.Variable(np.ones(3), name="w")
x = sad.placeholder((3,), "float64", name="x")
(y,) = sad.while_loop(lambda v: sad.sum(v) > -1.0, lambda v: [v * 0.5 + x], [x])  # no max_iterations
f = sad.function([x], [y], updates=[(w, w + 1)], backend=sys.argv[1])
f(np.full(3, -10.0))  # ends (compiles first); w becomes 2
print("ready", flush=True)
try:
    f(np.ones(3))  # v -> 2: never ends
except KeyboardInterrupt as e:
    print("KeyboardInterrupt", w.value.tolist(), flush=True)
    raise
print("returned", flush=True)
"""


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_sigint_stops_an_endless_while_loop(backend, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), STATICAD_CACHE_DIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", SCRIPT, backend], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        time.sleep(0.5)  # inside the endless call by now (a later signal would do too)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)  # generous: a failure here is a hang, not slowness
    finally:
        if p.poll() is None:
            p.kill()
    assert "KeyboardInterrupt [2.0, 2.0, 2.0]" in out, err  # the Variable kept its value
    assert p.returncode != 0 and "returned" not in out
    assert "KeyboardInterrupt" in err or "Interrupted" in err

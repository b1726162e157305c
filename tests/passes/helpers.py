"""Shared helpers of the pass tests: build programs, evaluate them with the numpy backend."""
import numpy as np

from staticad.evaluate import Interpreter
from staticad.passes import op_counts  # noqa: F401  (re-exported for the tests)
from staticad.program import Program


def program(inputs, outputs, updates=()):
    return Program.build("test", list(inputs), list(outputs), list(updates))


def evaluate(prog, arrays):
    outs, new_values = Interpreter(prog).run(list(arrays))
    return list(outs) + list(new_values)


def assert_same_values(before, after, arrays, rtol=0.0, atol=0.0):
    """``after`` evaluates to ``before``'s numbers (NaN equal to NaN), with the same shapes and dtypes."""
    assert [o.shape for o in before.outputs] == [o.shape for o in after.outputs]
    assert [o.dtype for o in before.outputs] == [o.dtype for o in after.outputs]
    assert [v for v, _ in before.updates] == [v for v, _ in after.updates]
    assert after.inputs == before.inputs and all(a is b for a, b in zip(after.inputs, before.inputs))
    expected, got = evaluate(before, arrays), evaluate(after, arrays)
    assert len(expected) == len(got)
    for k, (e, g) in enumerate(zip(expected, got)):
        assert e.shape == g.shape and e.dtype == g.dtype, f"root {k}: {e.shape} {e.dtype} vs {g.shape} {g.dtype}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"root {k}")

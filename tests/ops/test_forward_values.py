"""Every op's value, shape and dtype equal plain NumPy's (float64 inputs unless the case says otherwise)."""
import numpy as np
import pytest

import staticad as sad

from .cases import FORWARD_CASES
from .checks import check_forward, rng_for


@pytest.mark.parametrize("case", FORWARD_CASES, ids=[c.label for c in FORWARD_CASES])
def test_forward_value_matches_numpy(case):
    arrays = case.make(rng_for(case.label))
    check_forward(case.build, case.ref, arrays, case.label, rtol=case.rtol, atol=case.atol)


def test_forward_cases_cover_every_api_op():
    from .cases import API_OPS
    covered = {c.op for c in FORWARD_CASES}
    missing = [name for name in API_OPS if name not in covered]
    assert not missing, f"ops of API.md section 1 without a forward-value test: {missing}"


def test_float32_inputs_stay_float32_with_python_scalars():
    x = sad.placeholder((3,), "float32")
    for y in (x * 2, 2.5 - x, x / 3, x ** 2, sad.maximum(x, 0.5), sad.clip(x, 0, 1), sad.where(x > 0, x, 0.0)):
        assert y.dtype == np.float32, f"{y.op.name}: dtype {y.dtype}"
        out = sad.function([x], y, backend="numpy")(np.array([0.5, -1.0, 2.0], np.float32))
        assert out.dtype == np.float32, f"{y.op.name}: computed dtype {out.dtype}"


INT_INPUT_OPS = {
    "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x.astype(np.float64))), "abs": np.abs,
    "softplus": lambda x: np.logaddexp(0, x.astype(np.float64)),
    "negative": np.negative, "square": np.square, "sign": np.sign, "relu": lambda x: np.maximum(x, 0),
}


@pytest.mark.parametrize("dtype", ["int64", "int32"])
@pytest.mark.parametrize("name", sorted(INT_INPUT_OPS))
def test_unary_ops_on_integer_inputs_match_numpy(name, dtype):
    """Float-valued ops promote integers like numpy (int32/int64 -> float64); the others keep the dtype."""
    xv = np.array([1, 2, 3, 5], dtype=dtype) if name in ("sqrt", "log", "log1p") else np.array([-3, 0, 1, 4], dtype=dtype)
    x = sad.placeholder(xv.shape, dtype)
    y = getattr(sad, name)(x)
    got = sad.function([x], y, backend="numpy")(xv)
    want = INT_INPUT_OPS[name](xv)
    label = f"{name}({dtype})"
    assert y.dtype == want.dtype and got.dtype == want.dtype, f"{label}: {y.dtype}/{got.dtype}, numpy {want.dtype}"
    np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=label)


@pytest.mark.parametrize("name, fn, ref", [
    ("divide", lambda a, b: a / b, np.true_divide),
    ("mean", lambda a, b: sad.mean(a), lambda a, b: np.mean(a)),
    ("norm", lambda a, b: sad.norm(a), lambda a, b: np.asarray(np.linalg.norm(a))),
    ("maximum", sad.maximum, np.maximum),
    ("prod", lambda a, b: sad.prod(a), lambda a, b: np.prod(a)),
    ("sum", lambda a, b: sad.sum(a * b, axis=0), lambda a, b: np.sum(a * b, axis=0)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_binary_and_reduction_ops_on_integer_inputs_match_numpy(name, fn, ref):
    av, bv = np.array([3, -4, 6], np.int64), np.array([2, 5, -4], np.int64)
    a, b = sad.placeholder((3,), "int64"), sad.placeholder((3,), "int64")
    y = fn(a, b)
    got = sad.function([a, b], y, backend="numpy")(av, bv)
    want = np.asarray(ref(av, bv))
    assert got.dtype == want.dtype == y.dtype, f"{name}: {y.dtype}/{got.dtype}, numpy {want.dtype}"
    np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=name)


"""Compile every kernel the cuda backend generates for the op catalogue to PTX (no GPU needed).

Run in a process without the simulator: ``python -m tests.backends.cuda_ptx_catalogue [CASES_PER_OP]``.
numba's CUDA target type-checks each kernel and NVVM compiles it for sm_80, which the simulator
(plain Python) never does. Prints ``SKIP`` when NVVM is not installed, else one ``FAIL`` line per
op whose kernels do not compile and a summary line.
"""
import sys

import numpy as np

import staticad as sad
from staticad.backends import cuda_backend
from staticad.program import Program

from tests.ops.cases import DERIVATIVE_CASES, FORWARD_CASES
from tests.ops.checks import placeholders, rng_for


def _groups(cases, per_op) -> dict:
    out: dict = {}
    for c in cases:
        out.setdefault(c.op, []).append(c)
    return {op: group[:per_op] for op, group in out.items()}


def _program(kind, op, cases) -> Program:
    """The op's cases in one program: values, and for derivative cases their VJPs and JVPs."""
    inputs, outputs = [], []
    for k, case in enumerate(cases):
        vals = case.make(rng_for(case.label))
        if kind == "derivative":
            vals = [np.asarray(a, np.float64) for a in vals]
        xs = placeholders(vals, prefix=f"c{k}_x")
        y = case.build(*xs)
        inputs += xs
        outputs.append(y)
        if kind == "derivative":
            rng = rng_for(case.label + " cuda")
            outputs += list(sad.vjp(y, list(xs), rng.uniform(-1, 1, y.shape)))
            outputs.append(sad.jvp(y, list(xs), [rng.uniform(-1, 1, np.shape(a)) for a in vals]))
    return Program.build(f"{kind}_{op}", inputs, outputs, [])


def main(per_op: int) -> int:
    from numba import cuda
    try:
        cuda.compile_ptx(lambda a: None, "void(float32[::1])", cc=(8, 0))
    except Exception as exc:
        print("SKIP", type(exc).__name__)
        return 0
    kernels, failures = 0, 0
    for kind, cases in (("forward", FORWARD_CASES), ("derivative", DERIVATIVE_CASES)):
        for op, group in _groups(cases, per_op).items():
            try:
                module, signatures, _ = cuda_backend.generate_for_gpu(_program(kind, op, group))
                kernels += len(cuda_backend.kernel_ptx(module, signatures))
            except Exception as exc:
                failures += 1
                print(f"FAIL {kind} {op} ({', '.join(c.label for c in group)}): "
                      f"{type(exc).__name__}: {exc}".splitlines()[0][:600])
    print(f"PTX kernels={kernels} failures={failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))

"""The numba and CUDA code generators share one core (backends/codegen_base.py): the same naming,
run-time dims and library-step dispatch, each backend writing its own text. Source only: nothing
here compiles."""
import numpy as np
import pytest

import staticad as sad
from staticad.backends.codegen_base import LIBRARY, CodegenBase
from staticad.backends.cuda_codegen import GPU, SIMULATOR, CudaCodegen
from staticad.backends.numba_codegen import NumbaCodegen
from staticad.passes.plan import make_plan
from staticad.program import Program


def _plan(name, inputs, outputs, updates=()):
    return make_plan(Program.build(name, inputs, outputs, list(updates)))


def _graphs():
    x = sad.placeholder((), "float64", name="x")
    yield "scalar", [x], [x ** 2 + 3 * x + 1], []
    x = sad.placeholder((None,), "float32", name="x")
    loss = sad.sum(sad.tanh(sad.exp(sad.sin(x)) * 0.5))
    yield "chain", [x], [loss, sad.grad(loss, x)], []
    rng = np.random.default_rng(0)
    W = sad.Variable(rng.standard_normal((6, 4)).astype("float32"), name="W")
    b = sad.Variable(np.zeros(4, "float32"), name="b")
    V = sad.Variable(rng.standard_normal((4, 2)).astype("float32"), name="V")
    x = sad.placeholder((None, 6), "float32", name="x")
    loss = ((sad.relu(x @ W + b) @ V) ** 2).mean()
    yield "mlp_adam", [x], [loss], sad.optim.Adam(lr=1e-3).updates(loss, [W, b, V])
    a = sad.placeholder((None, 3), "float64", name="a")
    c = sad.placeholder((None, 3), "float64", name="c")
    cat = sad.concatenate([sad.sin(a), c * 2], axis=0)
    loss = sad.sum(cat * cat)
    yield "concat", [a, c], [cat] + sad.grad(loss, [a, c]), []
    v = sad.placeholder((4,), "float64", name="v")
    yield "while", [v], [sad.while_loop(lambda t: t.norm() < 1000, lambda t: t * 2, v * 2)], []


GRAPHS = list(_graphs())
GENERATORS = {"numba": NumbaCodegen, "cuda": lambda plan: CudaCodegen(plan, GPU),
              "cudasim": lambda plan: CudaCodegen(plan, SIMULATOR)}


@pytest.mark.parametrize("backend", sorted(GENERATORS))
@pytest.mark.parametrize("graph", GRAPHS, ids=[g[0] for g in GRAPHS])
def test_generated_source_is_deterministic(graph, backend):
    name, inputs, outputs, updates = graph
    make = GENERATORS[backend]
    first = make(_plan(name, inputs, outputs, updates)).generate()
    again = make(_plan(name, inputs, outputs, updates)).generate()
    assert first == again
    assert f"# function: {name}" in first


def test_both_generators_are_thin_subclasses_of_one_core():
    for cls in (NumbaCodegen, CudaCodegen):
        assert issubclass(cls, CodegenBase)
        for method in ("ident", "fresh_name", "dim", "shape_expr", "_sym_text", "_acc_sym", "emit_library"):
            assert getattr(cls, method) is getattr(CodegenBase, method), (cls, method)
        for method in set(LIBRARY.values()) | {"_dim_read", "_emit_bdim", "emit_control"}:
            assert getattr(cls, method) is not getattr(CodegenBase, method, None), (cls, method)


def test_run_time_dims_read_and_broadcast_in_each_backends_syntax():
    def plan():
        p = sad.placeholder((None,), "float64", name="left")
        q = sad.placeholder((None,), "float64", name="right")
        return _plan("bcast", [p, q], [sad.sin(p) + q])

    numba = NumbaCodegen(plan()).generate()
    assert "= left.shape[0]" in numba and "_rt.bdim(" in numba
    assert "shapes are incompatible at run time: left dim 0 vs right dim 0" in numba
    cuda = CudaCodegen(plan(), GPU).generate()
    assert "= left_sh[0]" in cuda and '_host.bdim(' in cuda and '"left dim 0 vs right dim 0"' in cuda


def test_library_steps_and_while_loops_go_through_the_shared_dispatch():
    name, inputs, outputs, updates = GRAPHS[3]  # concatenate and its gradient (concat_part)
    numba = NumbaCodegen(_plan(name, inputs, outputs, updates)).generate()
    cuda = CudaCodegen(_plan(name, inputs, outputs, updates), GPU).generate()
    for src in (numba, cuda):
        assert ": concatenate" in src and ": concat_part" in src
    assert "_rt.set_rows(" in numba and "_host.concat_shape(" in cuda
    v = sad.placeholder((None,), "float64", name="v")
    loop = sad.while_loop(lambda t: t.sum() < 100, lambda t: sad.concatenate([t, t]), v, max_iterations=5)
    numba = NumbaCodegen(_plan("grow", [v], [loop])).generate()
    cuda = CudaCodegen(_plan("grow", [v], [loop]), GPU).generate()
    for src in (numba, cuda):
        assert ">= 5:  # max_iterations" in src
    assert "loop variable 0 changed shape at run time" in numba and "_host.check_loop_var(0, " in cuda


def test_an_op_without_lowering_names_the_backend():
    x = sad.placeholder((3,), "float64", name="x")
    plan = _plan("missing", [x], [sad.concatenate([x, x])])
    step = next(s for s in plan.steps if getattr(s, "op", None) is not None)
    for make, text in ((NumbaCodegen, "numba backend: no code template for op"),
                       (lambda p: CudaCodegen(p, GPU), "cuda backend: no code for op")):
        cg = make(plan)
        saved = LIBRARY.pop(step.op)
        try:
            with pytest.raises(NotImplementedError, match=text):
                cg.emit_library(step)
        finally:
            LIBRARY[step.op] = saved

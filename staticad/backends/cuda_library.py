"""The library steps of the CUDA backend (:class:`~.cuda_codegen.CudaCodegen`): a tiled
shared-memory matmul (batched, strided operands, so a transposed weight is read in place), strided
copies (transpose, indexing, concatenation, ...) and a fill, written into the module once each
and launched by the driver. Dispatched by :data:`.codegen_base.LIBRARY` to the ``_lib_*`` methods
of :class:`CudaLibraryMixin`."""
from __future__ import annotations

import numpy as np

from ..ops import shape as _sh
from ..ops.linalg import GEMM_UPDATE, MATMUL
from ..ops.shape import index_of
from .codegen_base import _tuple


def np_type(dtype) -> str:
    return f"np.{np.dtype(dtype).name}"


def cast(expr: str, dtype) -> str:
    dt = np.dtype(dtype)
    return f"({expr} != 0)" if dt.kind == "b" else f"{np_type(dt)}({expr})"


class CudaLibraryMixin:
    """``_lib_<op>(node, out, ins)``: writes the driver lines computing library step ``node``
    (``out`` its name, ``ins`` its inputs' names); ``False`` when nothing runs for it here. The
    ``use_*`` methods add a library kernel to the module (once) and return its name."""

    def use_copy(self, rank: int) -> str:
        name = f"copy_r{rank}"
        if name not in self.library:
            ii = [f"i{p}" for p in range(rank)]
            lines = ["@cuda.jit(cache=True)",
                     f"def {name}(n, src, sb, {', '.join(f'ss{p}' for p in range(rank))}, dst, db, "
                     f"{', '.join(f'ds{p}' for p in range(rank))}, {', '.join(f'd{p}' for p in range(rank))}):",
                     f"    # dst[db + i . ds] = src[sb + i . ss] for every index i of a rank-{rank} box of dims d",
                     "    k = cuda.grid(1)",
                     "    while k < n:",
                     "        rem = k"]
            lines += self._unravel(ii, [f"d{p}" for p in range(rank)], "rem", 2)
            src = " + ".join(["sb"] + [f"{i} * ss{p}" for p, i in enumerate(ii)])
            dst = " + ".join(["db"] + [f"{i} * ds{p}" for p, i in enumerate(ii)])
            lines += [f"        dst[{dst}] = src[{src}]", "        k += cuda.gridsize(1)"]
            self.library[name] = lines
        return name

    @staticmethod
    def _unravel(ii, dd, rem, indent) -> list:
        pad = "    " * indent
        out = []
        for p in range(len(ii) - 1, 0, -1):
            out += [f"{pad}{ii[p]} = {rem} % {dd[p]}", f"{pad}{rem} //= {dd[p]}"]
        out.append(f"{pad}{ii[0]} = {rem}")
        return out

    def use_fill(self):
        if "fill" not in self.library:
            self.library["fill"] = [
                "@cuda.jit(cache=True)",
                "def fill(n, dst, value):",
                "    k = cuda.grid(1)",
                "    while k < n:",
                "        dst[k] = value",
                "        k += cuda.gridsize(1)",
            ]
        return "fill"

    def emit_copy(self, n: str, src: str, src_base: str, src_st: str, dst: str, dst_base: str, dst_st: str,
                  dims: str, rank: int, src_dt, dst_dt):
        name = self.use_copy(rank)
        self.sig(name, [("i",), ("a", src_dt), ("i",)] + [("i",)] * rank + [("a", dst_dt), ("i",)]
                 + [("i",)] * (2 * rank))
        self.w(f"{name}[_grid({n}), THREADS]({n}, {src}, {src_base}, *{src_st}, {dst}, {dst_base}, *{dst_st}, "
               f"*{dims})")

    def emit_fill(self, n: str, dst: str, dtype, value: str):
        name = self.use_fill()
        kind = ("f",) if np.dtype(dtype).kind == "f" else ("i",)
        self.sig(name, [("i",), ("a", dtype), kind])
        self.w(f"{name}[_grid({n}), THREADS]({n}, {dst}, {value})")

    def _lib_matmul(self, node, out, ins):
        if self._transposed_product(node) is not None:
            self.w(f"# computed transposed, by {self.ident(self._transposed_product(node))}")
            return False
        self._emit_matmul(node)

    def use_axpy(self) -> str:
        if "axpy" not in self.library:
            self.library["axpy"] = [
                "@cuda.jit(cache=True)",
                "def axpy(n, c, alpha, out):",
                "    # out = c + alpha * out (the product gemm_update wrote into out)",
                "    k = cuda.grid(1)",
                "    while k < n:",
                "        out[k] = c[k] + alpha * out[k]",
                "        k += cuda.gridsize(1)",
            ]
        return "axpy"

    def _lib_gemm_update(self, node, out, ins):
        # the tiled matmul into its buffer, then one elementwise pass (as the unfused update did)
        self._emit_matmul(node)
        name = self.use_axpy()
        self.sig(name, [("i",), ("a", node.dtype), ("f",), ("a", node.dtype)])
        n = f"_host.size({out}_sh)"
        self.w(f"{name}[_grid({n}), THREADS]({n}, {ins[0]}, {float(node.attrs['alpha'])!r}, {out})")

    def _lib_transpose(self, node, out, ins):
        w = self.w
        if node.inputs[0] in self.deferred:
            self._emit_matmul(node.inputs[0], into=node)
            return
        axes = node.attrs["axes"]
        src = self.shape_of(node.inputs[0])
        v = self.fresh_name("view")
        w(f"{v} = _host.permuted({src}, {axes!r})")
        w(f"{out}_sh = {v}.shape")
        if node not in self.roots and self.users.get(node) and all(
                u.op is MATMUL or (u.op is GEMM_UPDATE and k > 0) for u, k in self.users[node]) \
                and node.inputs[0] not in self.strided:
            w(f"{out}_st = {v}.strides  # a strided view: the matmul reads it in place, no copy")
            w(f"{out} = {ins[0]}")
            self.strided.add(node)
            return False
        self.alloc(node, f"{v}.size")
        self.emit_copy(f"{v}.size", ins[0], "0", f"{v}.strides", out, "0", f"{v}.cstrides", f"{v}.dims",
                       max(1, node.ndim), node.inputs[0].dtype, node.dtype)

    def _lib_reshape(self, node, out, ins):
        a = node.attrs
        src = self.shape_of(node.inputs[0])
        if node.op is _sh.RESHAPE:
            shape = f"_host.reshape_shape({src}, {a['shape']!r}, \"{out}\")"
        elif node.op is _sh.RESHAPE_LIKE:
            shape = f"_host.reshape_shape({src}, {self.shape_of(node.inputs[1])}, \"{out}\")"
        elif node.op is _sh.EXPAND_DIMS:
            shape = f"_host.expand_shape({src}, {a['axes']!r})"
        else:
            shape = f"_host.squeeze_shape({src}, {a['axes']!r}, \"{out}\")"
        self.w(f"{out}_sh = {shape}")
        self.w(f"{out} = {ins[0]}  # same buffer, new shape")

    def _lib_getitem(self, node, out, ins):
        w = self.w
        v = self.fresh_name("view")
        w(f"{v} = _host.getitem_view({self.shape_of(node.inputs[0])}, {self._index_text(node)}, \"{out}\")")
        w(f"{out}_sh = {v}.shape")
        self.alloc(node, f"{v}.size")
        self.emit_copy(f"{v}.size", ins[0], f"{v}.base", f"{v}.strides", out, "0", f"{v}.cstrides",
                       f"{v}.dims", max(1, node.ndim), node.inputs[0].dtype, node.dtype)

    def _lib_getitem_grad(self, node, out, ins):
        w = self.w
        g = node.inputs[0]
        w(f"{out}_sh = {self.shape_of(node.inputs[1])}")
        self.alloc(node, f"_host.size({out}_sh)")
        self.emit_fill(f"_host.size({out}_sh)", out, node.dtype, "0" if node.dtype.kind != "f" else "0.0")
        v = self.fresh_name("view")
        w(f"{v} = _host.getitem_view({out}_sh, {self._index_text(node)}, \"{out}\")")
        self.emit_copy(f"{v}.size", ins[0], "0", f"_host.aligned_strides({self.shape_of(g)}, {v}.dims, \"{out}\")",
                       out, f"{v}.base", f"{v}.strides", f"{v}.dims", max(1, g.ndim), g.dtype, node.dtype)

    def _lib_concatenate(self, node, out, ins):
        w = self.w
        ax = node.attrs["axis"]
        shapes = [self.shape_of(i) for i in node.inputs]
        w(f"{out}_sh = _host.concat_shape({_tuple(shapes)}, {ax}, \"{out}\")")
        self.alloc(node, f"_host.size({out}_sh)")
        off = self.fresh_name("off")
        w(f"{off} = 0")
        for i, shape in zip(node.inputs, shapes):
            v = self.fresh_name("view")
            w(f"{v} = _host.slot({out}_sh, {ax}, {off}, {shape})")
            self.emit_copy(f"{v}.size", self.ident(i), "0", f"{v}.cstrides", out, f"{v}.base", f"{v}.strides",
                           f"{v}.dims", max(1, node.ndim), i.dtype, node.dtype)
            w(f"{off} += {shape}[{ax}]")

    def _lib_concat_part(self, node, out, ins):
        w = self.w
        a = node.attrs
        ax = a["axis"]
        refs = node.inputs[1:]
        start = " + ".join(f"{self.shape_of(r)}[{ax}]" for r in refs[:a["index"]]) or "0"
        v = self.fresh_name("view")
        w(f"{v} = _host.slot({self.shape_of(node.inputs[0])}, {ax}, {start}, {self.shape_of(refs[a['index']])})")
        w(f"{out}_sh = {v}.shape")
        self.alloc(node, f"{v}.size")
        self.emit_copy(f"{v}.size", ins[0], f"{v}.base", f"{v}.strides", out, "0", f"{v}.cstrides", f"{v}.dims",
                       max(1, node.ndim), node.inputs[0].dtype, node.dtype)

    def _lib_count(self, node, out, ins):
        self.w(f"{out}_sh = ()")
        self.alloc(node, "1")
        value = f"_host.count({self.shape_of(node.inputs[0])}, {node.attrs['axes']!r})"
        self.emit_fill("1", out, node.dtype, f"float({value})" if node.dtype.kind == "f" else value)

    def _index_text(self, node) -> str:
        return _tuple(repr(it) for it in index_of(node))

    def strides_of(self, node) -> str:
        if node in self.strided:
            return f"{self.ident(node)}_st"
        return f"_host.cstrides({self.shape_of(node)})"

    def use_matmul(self, dtype) -> str:
        dt = np.dtype(dtype)
        name = f"matmul_{dt.name}"
        if name in self.library:
            return name
        acc_dt = dt if dt.kind == "f" else np.dtype("int64")
        store = "acc" if dt.kind != "b" else "acc != 0"
        self.library[name] = [
            "@cuda.jit(cache=True)",
            f"def {name}(M, N, K, nb, a, a_rs, a_cs, b, b_rs, b_cs, c, bd1, bd2, a_b0, a_b1, a_b2, b_b0, b_b1, b_b2):",
            "    # c[z] = a[z] @ b[z] (M x K times K x N) for batch z = blockIdx.z; each block computes a",
            "    # TILE x TILE tile of c, staging TILE x TILE tiles of a and b in shared memory. Operands are",
            "    # read through strides (rows, columns, up to 3 batch dims; 0 on broadcast batch dims).",
            f"    sa = cuda.shared.array((TILE, TILE), {np_type(acc_dt)})",
            f"    sb = cuda.shared.array((TILE, TILE), {np_type(acc_dt)})",
            "    tx = cuda.threadIdx.x",
            "    ty = cuda.threadIdx.y",
            "    z = cuda.blockIdx.z",
            "    z2 = z % bd2",
            "    z1 = (z // bd2) % bd1",
            "    z0 = z // (bd2 * bd1)",
            "    a0 = z0 * a_b0 + z1 * a_b1 + z2 * a_b2",
            "    b0 = z0 * b_b0 + z1 * b_b1 + z2 * b_b2",
            "    row = cuda.blockIdx.y * TILE + ty",
            "    col = cuda.blockIdx.x * TILE + tx",
            f"    acc = {np_type(acc_dt)}(0)",
            "    for t0 in range(0, K, TILE):",
            "        ka = t0 + tx",
            "        if row < M and ka < K and z < nb:",
            "            sa[ty, tx] = a[a0 + row * a_rs + ka * a_cs]",
            "        else:",
            "            sa[ty, tx] = 0",
            "        kb = t0 + ty",
            "        if kb < K and col < N and z < nb:",
            "            sb[ty, tx] = b[b0 + kb * b_rs + col * b_cs]",
            "        else:",
            "            sb[ty, tx] = 0",
            "        cuda.syncthreads()",
            "        for q in range(TILE):",
            "            acc += sa[ty, q] * sb[q, tx]",
            "        cuda.syncthreads()",
            "    if row < M and col < N and z < nb:",
            f"        c[(z * M + row) * N + col] = {store}",
        ]
        return name

    def _transposed_product(self, node):
        """The transpose that is the only reader of matmul ``node`` and swaps its last two axes:
        ``(a @ b).T`` is computed as ``b.T @ a.T`` straight into that transpose's buffer."""
        users = self.users.get(node, ())
        if node in self.roots or len(users) != 1 or node.ndim < 2 or min(i.ndim for i in node.inputs) < 2:
            return None
        t = users[0][0]
        n = node.ndim
        if t.op is not _sh.TRANSPOSE or t.attrs["axes"] != tuple(range(n - 2)) + (n - 1, n - 2):
            return None
        self.deferred.add(node)
        return t

    def _emit_matmul(self, node, into=None):
        """``node = a @ b`` with the tiled kernel; with ``into`` (a transpose of ``node``), that
        transpose is computed instead, as ``b.T @ a.T`` (swapped operands, swapped strides)."""
        w = self.w
        a, b = node.inputs[-2:]  # gemm_update's product: its last two inputs
        target = into if into is not None else node
        out = self.ident(target)
        kernel = self.use_matmul(node.dtype)
        mm = self.fresh_name("mm")
        w(f"{mm} = _host.matmul_plan({self.shape_of(a)}, {self.strides_of(a)}, {self.shape_of(b)}, "
          f"{self.strides_of(b)}, TILE, \"{self.ident(node)}\"{', transposed=True' if into is not None else ''})")
        w(f"{out}_sh = {mm}.shape")
        self.alloc(target, f"{mm}.size")
        if into is not None:
            a, b = b, a
        self.sig(kernel, [("i",)] * 4 + [("a", a.dtype)] + [("i",)] * 2 + [("a", b.dtype)] + [("i",)] * 2
                 + [("a", node.dtype)] + [("i",)] * 8)
        w(f"{kernel}[{mm}.grid, (TILE, TILE)]({mm}.M, {mm}.N, {mm}.K, {mm}.nb, {self.ident(a)}, {mm}.a_rs, "
          f"{mm}.a_cs, {self.ident(b)}, {mm}.b_rs, {mm}.b_cs, {out}, {mm}.bd1, {mm}.bd2, *{mm}.a_bst, *{mm}.b_bst)")

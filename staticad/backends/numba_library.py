"""The library steps of the Numba backend (:class:`~.numba_codegen.NumbaCodegen`): one statement
or a few per op (matmul via BLAS, views, indexing, concatenation), dispatched by
:data:`.codegen_base.LIBRARY` to the ``_lib_*`` methods of :class:`NumbaLibraryMixin`."""
from __future__ import annotations

import numpy as np

from ..ops.linalg import GEMM_UPDATE
from ..ops.shape import index_of
from ..passes.symshape import is_symbol
from .numba_source import _int64, _int64_tuple, _static_shape


class NumbaLibraryMixin:
    """``_lib_<op>(node, out, ins)``: writes the statements computing library step ``node`` into
    ``self.w`` (``out`` its name, ``ins`` its inputs' names)."""

    # set per generated function by _plan_inplace_gemms (sub-graph functions have no updates)
    inplace_gemms: dict = {}
    deferred_gemms: tuple = ()

    def _lib_matmul(self, node, out, ins):
        self._emit_matmul(node, ins)
        self.fresh.add(node)

    def _plan_inplace_gemms(self):
        """``gemm_update`` update values ``W + alpha * (a @ b)`` of W itself that nothing else
        reads: the GEMM accumulates into W's own storage (beta = 1), neither a copy of W into a
        spare nor a temporary. It runs in the epilogue, after every step that reads W and every
        check that can fail, so a failed call still leaves W unchanged. Not when ``a`` or ``b`` is
        (a view of) a Variable updated that way: it would read a new value."""
        p = self.program
        values = [val for _, val in p.updates]
        readers = {i for n in p.nodes for i in n.inputs}
        candidates = {val: var for var, val in p.updates
                      if getattr(val, "op", None) is GEMM_UPDATE and val.inputs[0] is var
                      and values.count(val) == 1 and val not in p.outputs and val not in readers}
        targets = set(candidates.values())

        def source(t):
            while t.op.aliases_input:
                t = t.inputs[0]
            return t

        self.inplace_gemms = {val: var for val, var in candidates.items()
                              if not any(source(t) in targets for t in val.inputs[1:])}
        self.deferred_gemms: list = []

    def _lib_gemm_update(self, node, out, ins):
        alpha = f"np.{node.dtype.name}({float(node.attrs['alpha'])!r})"
        if node in self.inplace_gemms:
            self.w(f"{out} = {ins[0]}  # accumulated into in the epilogue, after every check")
            self.deferred_gemms.append(f"_rt.gemm_update({out}, {ins[1]}, {ins[2]}, {alpha}, {out})")
            return
        # into the Variable's next storage when the caller swaps one in (see _plan_swaps)
        if node in self.swap_of:
            self.w(f"{out} = {self.swap_of[node]}  # the Variable's next value, swapped in by the caller")
        else:
            self.w(f"{out} = _rt.empty({self.shape_arg(self.sym[node])}, np.{node.dtype.name})")
        self.w(f"_rt.gemm_update({ins[0]}, {ins[1]}, {ins[2]}, {alpha}, {out})")
        self.fresh.add(node)

    def _lib_transpose(self, node, out, ins):
        if node.attrs["axes"] == (1, 0) and node.inputs[0] not in self.noncontig:
            self.w(f"{out} = {ins[0]}.T")  # an F-ordered view: BLAS takes it without a copy
        else:
            self.w(f"{out} = _rt.transpose({ins[0]}, {_int64_tuple(str(x) for x in node.attrs['axes'])})")
        self.noncontig.add(node)
        if node.inputs[0] in getattr(self, "returned_bases", ()):  # the only view of a fresh buffer
            self.fresh.add(node)

    def _lib_reshape(self, node, out, ins):
        # a dim no rule relates to the inputs (the -1 of a reshape of a None dim) is this node's
        # own: it cannot be read from the array being made, so numpy's -1 computes it
        own = lambda d: is_symbol(d) and d[0] == "node" and d[1] == node.id  # noqa: E731
        dims = _int64_tuple("-1" if own(d) else self.dim(d) for d in self.sym[node])
        self.w(f"{out} = _rt.contiguous_reshape({ins[0]}, {dims})")

    def _lib_getitem(self, node, out, ins):
        idx = self._index_text(node, ins[0])
        if node.ndim == 0:
            self.w(f"{out} = _rt.scalar_array({ins[0]}[{idx}], np.{node.dtype.name})")
            self.fresh.add(node)
        else:
            self.w(f"{out} = {ins[0]}[{idx}]")
            self.noncontig.add(node)

    def _lib_getitem_grad(self, node, out, ins):
        w = self.w
        idx = self._index_text(node, None, ref=node.inputs[1])
        w(f"{out} = _rt.zeros({self.shape_arg(self.sym[node])}, np.{node.dtype.name})")
        src = f"{ins[0]}.item()" if node.inputs[0].ndim == 0 else ins[0]
        w(f"{out}[{idx}] = {src}")
        self.fresh.add(node)

    def _lib_concatenate(self, node, out, ins):
        w = self.w
        # copies into the result, not np.concatenate of a tuple: numba types a tuple of n
        # arrays in O(n^2) (a 100-way concatenate took minutes to compile)
        ax = node.attrs["axis"] % node.ndim
        offsets = self._concat_offsets(node.inputs, ax)
        # the result's length along the axis is the last offset: its symbol may be this
        # node's own (a run-time dim of a part), which cannot be read from the array being made
        first = self.sym[node.inputs[0]]
        shape = [offsets[-1] if d == ax else self.dim(first[d]) for d in range(node.ndim)]
        w(f"{out} = _rt.empty({_int64_tuple(shape)}, np.{node.dtype.name})")
        packed = self._packed_runs(node, offsets) if ax == 0 else {}
        for i, part in enumerate(node.inputs):
            if i in packed:  # a run of parts adjacent in a packed input: one copy
                if packed[i] is not None:
                    w("_rt.put_flat({}, np.int64({}), {}, np.int64({}), np.int64({}))".format(out, *packed[i]))
                continue
            if ax == 0:  # a cached helper: slice assignment is a lot of code to type and lower
                w(f"_rt.set_rows({out}, {_int64(offsets[i])}, {_int64(offsets[i + 1])}, {self._cast(part, node.dtype)})")
                continue
            idx = ", ".join(":" if d != ax else f"{offsets[i]}:{offsets[i + 1]}" for d in range(node.ndim))
            w(f"{out}[{idx}] = {self._cast(part, node.dtype)}")
        self.fresh.add(node)

    def _packed_runs(self, node, offsets) -> dict:
        """Parts of an axis-0 concatenate that are packed inputs (NumbaCodegen.pack_in) lying
        back to back: part index -> (destination, packed parameter, source offset, size) for the
        first of each run, None for the others. Needs static offsets and row size."""
        packed_at = getattr(self, "packed_at", None)
        sym = self.sym[node]
        if not packed_at or _static_shape(sym[1:]) is None:
            return {}
        row = int(np.prod(sym[1:], dtype=np.int64))
        runs, last = {}, None  # last: [first index, parameter, next source offset]
        for i, part in enumerate(node.inputs):
            src = packed_at.get(part) if part.dtype == node.dtype else None
            if src is None or not (offsets[i].isdigit() and offsets[i + 1].isdigit()):
                last = None
                continue
            size = (int(offsets[i + 1]) - int(offsets[i])) * row
            if last is not None and last[1] == src[0] and last[2] == src[1]:
                first = runs[last[0]]
                runs[last[0]] = (first[0], first[1], first[2], first[3] + size)
                runs[i] = None
            else:
                runs[i] = (int(offsets[i]) * row, src[0], src[1], size)
                last = [i, src[0], src[1]]
            last[2] = src[1] + size
        return runs

    def _lib_concat_part(self, node, out, ins):
        refs = node.inputs[1:]
        ax = node.attrs["axis"] % node.ndim
        offsets = self._concat_offsets(refs, ax)
        k = node.attrs["index"]
        if ax == 0:
            self.w(f"{out} = _rt.rows({ins[0]}, {_int64(offsets[k])}, {_int64(offsets[k + 1])})")
        else:
            idx = ", ".join(":" if d != ax else f"{offsets[k]}:{offsets[k + 1]}" for d in range(node.ndim))
            self.w(f"{out} = {ins[0]}[{idx}]")
        self.noncontig.add(node)

    def _lib_count(self, node, out, ins):
        dims = [self.dim(self.sym[node.inputs[0]][ax]) for ax in node.attrs["axes"]]
        self.w(f"{out} = _rt.scalar_array({' * '.join(dims) if dims else '1'}, np.{node.dtype.name})")
        self.fresh.add(node)

    def _concat_offsets(self, parts, axis) -> list:
        """Names of the running offsets of ``parts`` along ``axis`` (n + 1 of them), written once
        per set of parts: each is the previous one plus one length (linear in n, where a sum
        of all the lengths before each part was quadratic). Offsets known statically are
        literals: a name would be one more value for numba to carry across segments."""
        key = (tuple(id(p) for p in parts), axis)
        names = self._offsets.get(key)
        if names is None:
            names = ["0"]
            for p in parts:
                length = self.sym[p][axis]
                if names[-1].isdigit() and isinstance(length, (int, np.integer)):
                    names.append(str(int(names[-1]) + int(length)))
                    continue
                nxt = self.fresh_name("off")
                self.w(f"{nxt} = {_int64(names[-1])} + {_int64(self.dim(length))}")
                names.append(nxt)
            self._offsets[key] = names
        return names

    def _cast(self, node, dtype) -> str:
        name = self.ident(node)
        return name if node.dtype == dtype else f"_rt.astype({name}, np.{np.dtype(dtype).name})"

    def _index_text(self, node, arr, ref=None) -> str:
        parts = []
        src = node.inputs[0] if ref is None else ref
        dim = 0
        for it in index_of(node):
            if it is None:
                parts.append("None")
                continue
            if isinstance(it, int):
                d = src.shape[dim]
                if d is None:
                    n = self.dim(self.sym[src][dim])
                    self.w(f"if not -{n} <= {it} < {n}:")
                    self.w(f"    raise IndexError(\"index {it} is out of bounds for axis {dim} of {self.ident(src)}\")")
                parts.append(str(it))
            else:
                text = ("" if it.start is None else str(it.start)) + ":" + ("" if it.stop is None else str(it.stop))
                parts.append(text + (f":{it.step}" if it.step is not None else ""))
            dim += 1
        return ", ".join(parts) if parts else "()"

    def _emit_matmul(self, node, ins):
        w = self.w
        a, b = node.inputs
        dt = node.dtype
        out = self.ident(node)
        an, bn = self._cast(a, dt), self._cast(b, dt)
        if dt.kind != "f":
            a2 = f"{an}.reshape((1, -1))" if a.ndim == 1 else an
            b2 = f"{bn}.reshape((-1, 1))" if b.ndim == 1 else bn
            if a.ndim > 2 or b.ndim > 2:
                raise NotImplementedError("numba backend: batched integer matmul")
            w(f"{out} = _rt.matmul_int(np.ascontiguousarray({a2}), np.ascontiguousarray({b2}))"
              f".astype(np.{dt.name}).reshape({self.shape_expr(self.sym[node])})")
            return
        if a.ndim <= 2 and b.ndim <= 2:
            w(f"{out} = _rt.dot({an}, {bn})")
            if node.ndim == 0:
                w(f"{out} = _rt.scalar_array({out}, np.{dt.name})")
            return
        # batched: loop over the broadcast batch dims, one BLAS call per matrix
        shape = self.shape_expr(self.sym[node])
        w(f"{out} = _rt.empty({self.shape_arg(self.sym[node])}, np.{dt.name})")
        nb = node.ndim - (2 if a.ndim >= 2 and b.ndim >= 2 else 1)
        batch = self.sym[node][:nb]
        for p in range(nb):
            w(f"for b{p} in range({self.dim(batch[p])}):")
            w.indent += 1

        def sel(t, name):
            tb = t.ndim - (2 if t.ndim >= 2 else 1)
            if tb <= 0:
                return name
            idx = []
            for j in range(tb):
                p = j + nb - tb
                d = self.sym[t][j]
                idx.append("0" if d == 1 and batch[p] != 1 else f"b{p}")
            return f"{name}[{', '.join(idx)}]"

        w(f"{out}[{', '.join(f'b{p}' for p in range(nb))}] = _rt.dot({sel(a, an)}, {sel(b, bn)})")
        w.indent -= nb
        self.fresh.add(node)

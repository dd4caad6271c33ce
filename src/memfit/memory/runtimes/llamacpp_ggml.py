"""A shape-only ggml: the tensors an op creates (type, shape, byte strides, views) and the graph order.

Just enough of ggml (ggml/src/ggml.c, ggml 0.21.0) to describe the graphs llama.cpp reserves: each op
makes a tensor with the shape and type ggml gives it, views (view, reshape, permute, transpose,
set_rows) share their source's bytes, and ``expand`` adds a tensor and its not yet visited sources to
the graph depth-first, sources left to right, as ``ggml_build_forward_expand`` does (a tensor with no op
is a leaf). Nothing is computed; :func:`Graph.reserve` replays ggml-alloc over the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .llamacpp_alloc import GraphTensor, reserve_bytes

__all__ = ["Graph", "Tensor"]

# bytes per block and values per block of the ggml types a reserved graph holds
TYPE_SIZE = {"f32": (4, 1), "f16": (2, 1), "bf16": (2, 1), "i32": (4, 1), "i64": (8, 1), "q8_0": (34, 32),
             "q4_0": (18, 32), "q4_1": (20, 32), "q5_0": (22, 32), "q5_1": (24, 32), "iq4_nl": (18, 32)}


@dataclass(eq=False, slots=True)
class Tensor:
    id: int
    op: str
    type: str
    ne: tuple[int, int, int, int]
    nb: tuple[int, int, int, int]
    src: tuple[Tensor, ...] = ()
    view_src: Tensor | None = None
    is_input: bool = False
    is_output: bool = False
    external: bool = False

    @property
    def nbytes(self) -> int:
        size, block = TYPE_SIZE[self.type]
        if min(self.ne) <= 0:
            return 0  # ggml_nbytes of an empty tensor
        return self.ne[0] * size // block + sum((self.ne[i] - 1) * self.nb[i] for i in range(1, 4))

    def is_contiguous(self) -> bool:
        """ggml_is_contiguous: rows packed one after another (dimensions of size 1 have any stride)."""
        size, block = TYPE_SIZE[self.type]
        expect = size
        for i in range(4):
            if self.ne[i] != 1 and self.nb[i] != expect:
                return False
            expect = expect * self.ne[i] // (block if i == 0 else 1)
        return True

    def nelements(self) -> int:
        return self.ne[0] * self.ne[1] * self.ne[2] * self.ne[3]


def _strides(typ: str, ne: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    size, block = TYPE_SIZE[typ]
    nb0 = size
    nb1 = size * (ne[0] // block)
    return (nb0, nb1, nb1 * ne[1], nb1 * ne[1] * ne[2])


def _ne(*ne: int) -> tuple[int, int, int, int]:
    full = tuple(ne) + (1,) * (4 - len(ne))
    return (full[0], full[1], full[2], full[3])


@dataclass
class Graph:
    """Tensors made so far, and the graph (leafs, nodes) that ``expand`` built from them."""

    # llama.cpp before mid-2025 (--llamacpp-build 2024; data/llamacpp_builds.toml): the K/V stores were
    # ggml_cpy into views of the cache (no row-index inputs) and a gated unit was silu(gate) × up, both in
    # place, instead of one GLU node (set_rows and the GLU ops came in 2025)
    set_rows_op: bool = True
    glu_op: bool = True
    tensors: list[Tensor] = field(default_factory=list)
    leafs: list[Tensor] = field(default_factory=list)
    nodes: list[Tensor] = field(default_factory=list)
    _seen: set[int] = field(default_factory=set)

    # --- tensors without an op -------------------------------------------------------------------------
    def _make(self, op: str, typ: str, ne: tuple[int, int, int, int], src: tuple[Tensor, ...] = (),
              nb: tuple[int, int, int, int] | None = None, view_of: Tensor | None = None) -> Tensor:
        root = None if view_of is None else (view_of.view_src or view_of)
        t = Tensor(len(self.tensors), op, typ, ne, nb or _strides(typ, ne), src, root)
        self.tensors.append(t)
        return t

    def weight(self, typ: str, *ne: int) -> Tensor:
        t = self._make("NONE", typ, _ne(*ne))
        t.external = True
        return t

    def input(self, typ: str, *ne: int) -> Tensor:
        t = self._make("NONE", typ, _ne(*ne))
        t.is_input = True
        return t

    # --- ops ------------------------------------------------------------------------------------------
    def new(self, op: str, typ: str, ne: tuple[int, int, int, int], *src: Tensor) -> Tensor:
        return self._make(op, typ, ne, tuple(src))

    def same(self, op: str, a: Tensor, *src: Tensor) -> Tensor:
        """An op whose result has ``a``'s type and shape (add, mul, scale, norms, rope, unary, soft_max)."""
        return self._make(op, a.type, a.ne, (a, *src))

    def mul_mat(self, a: Tensor, b: Tensor) -> Tensor:
        return self.new("MUL_MAT", "f32", (a.ne[1], b.ne[1], b.ne[2], b.ne[3]), a, b)

    def mul_mat_id(self, a: Tensor, b: Tensor, ids: Tensor) -> Tensor:
        return self.new("MUL_MAT_ID", "f32", (a.ne[1], ids.ne[0], b.ne[2], 1), a, b, ids)

    def get_rows(self, a: Tensor, b: Tensor) -> Tensor:
        typ = "i32" if a.type == "i32" else "f32"
        return self.new("GET_ROWS", typ, (a.ne[0], b.ne[0], b.ne[1], b.ne[2]), a, b)

    def cont(self, a: Tensor, *ne: int) -> Tensor:
        return self.new("CONT", a.type, _ne(*ne) if ne else a.ne, a)

    def glu(self, a: Tensor, b: Tensor) -> Tensor:
        """A split gated unit (swiglu, geglu): a new tensor of ``a``'s shape (GLU is not an in-place op)."""
        if not self.glu_op:
            return self.same("MUL", self.same("UNARY", a), b)
        return self.new("GLU", "f32", a.ne, a, b)

    # --- views ----------------------------------------------------------------------------------------
    def view(self, a: Tensor, ne: tuple[int, ...], nb: tuple[int, int, int, int] | None = None,
             op: str = "VIEW") -> Tensor:
        full = _ne(*ne)
        return self._make(op, a.type, full, (a,), nb or _strides(a.type, full), view_of=a)

    def reshape(self, a: Tensor, *ne: int) -> Tensor:
        return self.view(a, ne, op="RESHAPE")

    def permute(self, a: Tensor, ax0: int, ax1: int, ax2: int, ax3: int) -> Tensor:
        ne = [0, 0, 0, 0]
        nb = [0, 0, 0, 0]
        for i, ax in enumerate((ax0, ax1, ax2, ax3)):
            ne[ax] = a.ne[i]
            nb[ax] = a.nb[i]
        op = "TRANSPOSE" if (ax0, ax1, ax2, ax3) == (1, 0, 2, 3) else "PERMUTE"
        return self._make(op, a.type, _ne(*ne), (a,), (nb[0], nb[1], nb[2], nb[3]), view_of=a)

    def transpose(self, a: Tensor) -> Tensor:
        return self.permute(a, 1, 0, 2, 3)

    def set_rows(self, dst: Tensor, rows: Tensor, idx: Tensor) -> Tensor:
        if not self.set_rows_op:  # ggml_cpy(rows, view of the cache): a view of the cache, no index input
            return self._make("CPY", dst.type, dst.ne, (rows, dst), dst.nb, view_of=dst)
        return self._make("SET_ROWS", dst.type, dst.ne, (rows, idx, dst), dst.nb, view_of=dst)

    # --- graph ----------------------------------------------------------------------------------------
    def expand(self, t: Tensor) -> Tensor:
        """ggml_build_forward_expand: ``t`` and its unvisited sources, depth-first, sources in order."""
        stack: list[tuple[Tensor, int]] = [(t, 0)]
        while stack:
            cur, k = stack.pop()
            if k == 0 and cur.id in self._seen:
                continue
            if k < len(cur.src):
                stack.append((cur, k + 1))
                if cur.src[k].id not in self._seen:
                    stack.append((cur.src[k], 0))
                continue
            if cur.id in self._seen:
                continue
            self._seen.add(cur.id)
            (self.leafs if cur.op == "NONE" else self.nodes).append(cur)
        return t

    def reserve(self, alignment: int = 32) -> int:
        """The compute buffer ggml-alloc reserves for this graph."""
        table = []
        for t in self.tensors:
            plain = not t.external and t.view_src is None  # only these are placed in the buffer
            table.append(GraphTensor(t.op, t.nbytes if plain else 0, (t.type, t.ne, t.nb) if plain else (),
                                     tuple(s.id for s in t.src), None if t.view_src is None else t.view_src.id,
                                     t.is_input, t.is_output, t.external))
        return reserve_bytes(table, [t.id for t in self.leafs], [t.id for t in self.nodes], alignment)

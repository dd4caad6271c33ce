"""ggml's graph allocator (``ggml_gallocr``), replayed over a graph to find the compute buffer it reserves.

The mechanism (ggml/src/ggml-alloc.c, ggml 0.21.0 as in llama.cpp b10605), written here from reading it:

* the graph's leafs are allocated first, in leaf order; then the graph inputs (``ggml_set_input``) as
  they first appear; tensors that already live in another buffer (weights, the KV cache) and views
  (which share their source's bytes) are never allocated;
* the nodes are visited in graph order: a node's parents are allocated if needed, then the node; a node
  whose op may run in place (``ggml_op_can_inplace``: add, mul, scale, rms_norm, rope, soft_max, unary
  ops, …) takes over the bytes of a parent that the allocator owns, has this node as its only consumer,
  no views, is not a graph output, and has the same type, shape and strides;
* after a node runs, each parent's consumer count drops; at zero (and no views left) its bytes are freed
  (a view's source when its last view is done); graph outputs are never freed;
* the dynamic allocator keeps free blocks sorted by address, takes the best-fitting block (the smallest
  that fits, the last of equal ones) among all but the last block, else the last block (the open end of
  the buffer), rounds sizes up to the buffer's alignment, merges a freed range with its neighbours; the
  buffer is the highest end any tensor reached.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INPLACE_OPS", "GraphTensor", "reserve_bytes"]

# ggml_op_can_inplace (ggml-alloc.c); UNARY covers silu, gelu, … and GLU does not reuse (it is not listed)
INPLACE_OPS = frozenset({
    "FILL", "SCALE", "DIAG_MASK_ZERO", "DIAG_MASK_INF", "ADD", "ADD_ID", "ADD1", "SUB", "MUL", "DIV", "SQR",
    "SQRT", "LOG", "UNARY", "ROPE", "ROPE_BACK", "SILU_BACK", "RMS_NORM", "RMS_NORM_BACK", "CLAMP", "SOFT_MAX",
    "SOFT_MAX_BACK",
})


@dataclass(slots=True)
class GraphTensor:
    """One tensor of a ggml graph as the allocator sees it."""

    op: str
    nbytes: int
    layout: tuple[object, ...]  # (type, ne, nb): ggml_are_same_layout compares these
    src: tuple[int, ...] = ()
    view_src: int | None = None
    is_input: bool = False
    is_output: bool = False
    external: bool = False  # lives in another buffer (weights, KV cache): never allocated here


class _Heap:
    """ggml_dyn_tallocr with one chunk (a CPU or CUDA buffer type has no maximum size below the graph's)."""

    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.blocks: list[list[int]] = [[0, 1 << 62]]  # [offset, size], sorted by offset; the last is open
        self.max_size = 0

    def _align(self, size: int) -> int:
        a = self.alignment
        return (size + a - 1) // a * a

    def alloc(self, size: int) -> int:
        size = self._align(size)
        best, best_size = -1, None
        for i, (_, bsize) in enumerate(self.blocks[:-1]):
            if bsize >= size and (best_size is None or bsize <= best_size):
                best, best_size = i, bsize
        if best < 0:
            best = len(self.blocks) - 1
        block = self.blocks[best]
        addr = block[0]
        block[0] += size
        block[1] -= size
        if block[1] == 0:
            del self.blocks[best]
        self.max_size = max(self.max_size, addr + size)
        return addr

    def free(self, addr: int, size: int) -> None:
        size = self._align(size)
        blocks = self.blocks
        for i, block in enumerate(blocks):
            if block[0] + block[1] == addr:
                block[1] += size
                if i + 1 < len(blocks) and block[0] + block[1] == blocks[i + 1][0]:
                    block[1] += blocks[i + 1][1]
                    del blocks[i + 1]
                return
            if addr + size == block[0]:
                block[0] = addr
                block[1] += size
                if i > 0 and blocks[i - 1][0] + blocks[i - 1][1] == block[0]:
                    blocks[i - 1][1] += block[1]
                    del blocks[i]
                return
        pos = 0
        while pos < len(blocks) and blocks[pos][0] < addr:
            pos += 1
        blocks.insert(pos, [addr, size])


def reserve_bytes(tensors: list[GraphTensor], leafs: list[int], nodes: list[int], alignment: int = 32) -> int:
    """The buffer ggml_gallocr reserves for the graph (``leafs`` and ``nodes`` index ``tensors``)."""
    heap = _Heap(alignment)
    n = len(tensors)
    children = [0] * n
    views = [0] * n
    owned = [False] * n
    addr = [0] * n

    def allocate(i: int) -> None:
        t = tensors[i]
        if t.external or owned[i] or t.view_src is not None:
            return
        owned[i] = True
        if t.op in INPLACE_OPS:
            for p in t.src:
                pt = tensors[p]
                if not owned[p] or pt.is_output or pt.layout != t.layout:
                    continue
                if children[p] == 1 and views[p] == 0:
                    addr[i] = addr[p]
                    owned[p] = False
                    return
        addr[i] = heap.alloc(t.nbytes)

    def release(i: int) -> None:
        if tensors[i].is_output:
            return
        heap.free(addr[i], tensors[i].nbytes)
        owned[i] = False

    for i in leafs:
        allocate(i)
    for i in nodes:
        t = tensors[i]
        if t.view_src is not None and t.op != "NONE":
            views[t.view_src] += 1
        if t.is_input:
            allocate(i)
        for s in t.src:
            children[s] += 1
            if tensors[s].is_input:
                allocate(s)
    for i in nodes:
        t = tensors[i]
        for s in t.src:
            allocate(s)
        allocate(i)
        for p in t.src:
            children[p] -= 1
            if children[p] == 0 and views[p] == 0:
                vs = tensors[p].view_src
                if vs is not None:
                    views[vs] -= 1
                    if views[vs] == 0 and children[vs] == 0 and owned[vs]:
                        release(vs)
                elif owned[p]:
                    release(p)
    return heap.max_size

"""The per-rank replay's allocation trace with one caching allocator per CUDA stream (``fsdp_pool.py``):
c10/cuda/CUDACachingAllocator.cpp keeps each block on the stream it was allocated on (``Block::stream``;
``get_free_block`` only returns a cached block of the requesting stream), so a segment made for one stream never
serves another. FSDP2's all-gathers run on its all-gather copy-in stream and its reduce-scatter outputs on its
reduce-scatter stream (``torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py``), the rest on the default one."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..allocator_trace import PoolFigures, Trace
from ..caching_allocator import CachingAllocator

__all__ = ["COPY_IN", "DEFAULT", "REDUCE", "StreamTrace"]

DEFAULT, COPY_IN, REDUCE = "default", "all-gather copy-in", "reduce-scatter"


@dataclass
class StreamTrace(Trace):
    """A :class:`Trace` with one emulated allocator per CUDA stream; reserved and allocated are their sums."""

    pools: dict[str, CachingAllocator] = field(default_factory=dict)
    owner: dict[int, str] = field(default_factory=dict)
    stream: str = DEFAULT
    peak_res: int = 0
    peak_alloc: int = 0
    reserved_now: int = 0
    allocated_now: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.pools[DEFAULT] = self.pool  # ``pool``: the default stream's, where a layer's tensors are made

    def alloc(self, nbytes: int) -> int:
        if nbytes <= 0:
            return 0
        self._next += 1
        pool = self.pools.get(self.stream)
        if pool is None:
            pool = self.pools[self.stream] = CachingAllocator(self.expandable)
        res, alloc = pool.reserved, pool.allocated
        pool.malloc(self._next, nbytes)
        self.owner[self._next] = self.stream
        self._settle(pool.reserved - res, pool.allocated - alloc)
        return self._next

    def on(self, stream: str, nbytes: int) -> int:
        saved, self.stream = self.stream, stream
        try:
            return self.alloc(nbytes)
        finally:
            self.stream = saved

    def free(self, *keys: int) -> None:
        for k in keys:
            s = self.owner.pop(k, None)
            if s is not None:
                pool = self.pools[s]
                alloc = pool.allocated
                pool.free(k)
                self._settle(0, pool.allocated - alloc)

    def _settle(self, d_reserved: int, d_allocated: int) -> None:
        self.reserved_now += d_reserved
        self.allocated_now += d_allocated
        self.peak_res = max(self.peak_res, self.reserved_now)
        self.peak_alloc = max(self.peak_alloc, self.allocated_now)

    def built(self) -> None:
        res, alloc = self.reserved_now, self.allocated_now
        self._after_build, self.peak_res, self.peak_alloc = (res, alloc), res, alloc

    def figures(self) -> PoolFigures:
        return PoolFigures(self.peak_res, self.peak_alloc, *self._after_build)

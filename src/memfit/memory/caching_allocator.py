"""An emulation of PyTorch's CUDA caching allocator: what ``torch.cuda.memory_reserved()`` holds for a sequence
of allocations and frees.

Written from the rules of ``c10/cuda/CUDACachingAllocator.cpp`` (torch 2.x), stated here so they can be checked:

* every request is rounded up to a multiple of 512 bytes (``kMinBlockSize``, 512 at least);
* requests of at most 1 MiB (``kSmallSize``) come from the small pool, larger ones from the large pool;
* a request no cached block can serve makes a new segment (``cudaMalloc``) of: 2 MiB (``kSmallBuffer``) for a
  small request, 20 MiB (``kLargeBuffer``) for a request under 10 MiB (``kMinLargeAlloc``), else the request
  rounded up to 2 MiB (``kRoundLarge``);
* a cached block is found by best fit: the smallest free block of the pool that holds the request (ties by
  address); with the default ``max_split_size`` (unlimited) any larger block may be used. With ``max_split``
  (``PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb``) only that smallest block is looked at (``get_free_block``:
  ``lower_bound``), and it is refused, so a new segment is made, when the request is under ``max_split`` and the
  block is not ("Do not return an oversized block for a small request") or the request is at least ``max_split``
  and the block is 20 MiB or more larger ("... for a large request");
* the block found is split when the rest is worth keeping: at least 512 bytes in the small pool, more than
  1 MiB in the large pool and (with ``max_split``) only for a request under ``max_split`` (``shouldSplit``;
  otherwise the whole block is handed out and counted as allocated);
* a freed block merges with its free neighbours of the same segment and stays cached: segments go back to the
  driver only on ``empty_cache()`` (or an out-of-memory retry, not emulated);
* equal-size free blocks are told apart by address (``BlockComparatorSize``: stream, size, then pointer; the lowest
  address wins), so the order of segment addresses, which the CUDA driver picks, decides which of several equal
  blocks is reused. By default new segments get rising addresses; ``descending=True`` gives each new segment the
  addresses just below the last one, as the driver was seen to do in a fresh process (published
  ``torch.cuda.memory_snapshot()`` dumps: a 512 MiB then a 1 GiB ``cudaMalloc`` placed directly below a 20 MiB one,
  docs/simulator.md). The driver's reuse of address ranges freed by ``empty_cache()`` is not emulated here; ``place``
  hands the choice to a model of the process's address space (``tools/replay_addresses.py`` tries several: none
  reproduces every measured case, docs/simulator.md);
* ``expandable_segments:True``: one segment per pool that grows by pages (2 MiB in the small pool, 20 MiB in
  the large pool) mapped at its end, and every split keeps a rest of 512 bytes or more; best fit prefers a free
  block that is not the growing end of the segment.

The allocated figure counts block sizes, as the allocator's ``allocated_bytes`` statistic does.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "K_LARGE_BUFFER",
    "K_MIN_BLOCK",
    "K_MIN_LARGE_ALLOC",
    "K_ROUND_LARGE",
    "K_SMALL_BUFFER",
    "K_SMALL_SIZE",
    "CachingAllocator",
    "round_size",
    "segment_size",
]

K_MIN_BLOCK = 512
K_SMALL_SIZE = 1 << 20
K_SMALL_BUFFER = 2 << 20
K_LARGE_BUFFER = 20 << 20
K_MIN_LARGE_ALLOC = 10 << 20
K_ROUND_LARGE = 2 << 20
_SPACE = 1 << 48  # address space of one expandable segment (never reached)


def round_size(nbytes: int) -> int:
    """The block size the allocator uses for a request of ``nbytes``."""
    return K_MIN_BLOCK if nbytes < K_MIN_BLOCK else -(-nbytes // K_MIN_BLOCK) * K_MIN_BLOCK


def segment_size(size: int) -> int:
    """The ``cudaMalloc`` size of a new segment for a (rounded) request that no cached block holds."""
    if size <= K_SMALL_SIZE:
        return K_SMALL_BUFFER
    if size < K_MIN_LARGE_ALLOC:
        return K_LARGE_BUFFER
    return -(-size // K_ROUND_LARGE) * K_ROUND_LARGE


@dataclass(eq=False)
class _Block:
    addr: int
    size: int
    small: bool
    allocated: bool = False
    prev: _Block | None = None
    next: _Block | None = None
    tail: bool = False  # the growing end of an expandable segment


@dataclass
class _Pool:
    small: bool
    free: list[tuple[int, int]] = field(default_factory=list)  # (size, addr), sorted: best fit by bisect
    by_addr: dict[int, _Block] = field(default_factory=dict)
    end: _Block | None = None  # expandable: the last block of the one segment

    def add(self, b: _Block) -> None:
        bisect.insort(self.free, (b.size, b.addr))
        self.by_addr[b.addr] = b

    def remove(self, b: _Block) -> None:
        i = bisect.bisect_left(self.free, (b.size, b.addr))
        del self.free[i]
        del self.by_addr[b.addr]


class CachingAllocator:
    """Allocated and reserved bytes, and their peaks, of one device and one stream."""

    def __init__(self, expandable: bool = False, descending: bool = False,
                 place: Callable[[int], int] | None = None, max_split: int | None = None) -> None:
        self.expandable = expandable
        self.max_split = max_split  # max_split_size in bytes (None: unlimited, PyTorch's default)
        self.descending = descending  # new segments below the earlier ones (the driver's top-down addresses)
        self.place = place  # where the driver maps a new segment of n bytes (a model of the address space)
        self.pools = {True: _Pool(True), False: _Pool(False)}
        self.live: dict[object, _Block] = {}
        self.allocated = self.reserved = self.peak_allocated = self.peak_reserved = 0
        self.segments: set[_Block] = set()  # first block of each segment
        self._next_addr = 1 << 40
        self._low = 1 << 46  # descending: the lowest address handed out so far

    # -- the public operations ------------------------------------------------------------------------------

    def malloc(self, key: object, nbytes: int) -> int:
        """Allocate ``nbytes`` under ``key``; returns the block size counted as allocated."""
        size = K_MIN_BLOCK if nbytes < K_MIN_BLOCK else -(-nbytes // K_MIN_BLOCK) * K_MIN_BLOCK  # round_size
        pool = self.pools[size <= K_SMALL_SIZE]
        if self.expandable:
            block = self._best_fit(pool, size)
            if block is None:
                block = self._grow(pool, size)
            else:
                pool.remove(block)
        else:  # best fit inlined (the hot path)
            free = pool.free
            i = bisect.bisect_left(free, (size, -1))
            if i < len(free) and (cap := self.max_split) is not None and (
                    free[i][0] >= cap > size or (size >= cap and free[i][0] >= size + K_LARGE_BUFFER)):
                i = len(free)  # an oversized block: refused (get_free_block)
            block = self._new_segment(pool, size) if i == len(free) else pool.by_addr.pop(free.pop(i)[1])
        rest = block.size - size
        if rest >= K_MIN_BLOCK if (pool.small or self.expandable) else (
                rest > K_SMALL_SIZE and (self.max_split is None or size < self.max_split)):
            self._split(pool, block, size)
        block.allocated = True
        self.live[key] = block
        self.allocated += block.size
        if self.allocated > self.peak_allocated:
            self.peak_allocated = self.allocated
        return block.size

    def free(self, key: object) -> None:
        """Free the block of ``key`` (unknown keys are ignored): it merges with free neighbours and stays cached."""
        block = self.live.pop(key, None)
        if block is None:
            return
        pool = self.pools[block.small]
        block.allocated = False
        self.allocated -= block.size
        prev, nxt = block.prev, block.next
        if prev is not None and not prev.allocated:
            pool.remove(prev)
            block = self._absorb(pool, prev, block)
        if nxt is not None and not nxt.allocated:
            pool.remove(nxt)
            block = self._absorb(pool, block, nxt)
        pool.add(block)

    def reset_peak(self) -> None:
        """``torch.cuda.reset_peak_memory_stats()``: the peaks restart from the current figures."""
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved

    def empty_cache(self) -> None:
        """``torch.cuda.empty_cache()``: segments without an allocated block go back to the driver (expandable
        segments unmap their free whole pages at the end)."""
        if self.expandable:
            for pool in self.pools.values():
                self._unmap_end(pool)
            return
        for first in [s for s in self.segments if s.next is None and not s.allocated]:
            self.pools[first.small].remove(first)
            self.reserved -= first.size
            self.segments.discard(first)

    def segment_ranges(self) -> list[tuple[int, int]]:
        """Every segment as (address, bytes), lowest address first."""
        out: list[tuple[int, int]] = []
        for first in self.segments:
            size = 0
            nxt: _Block | None = first
            while nxt is not None:
                size += nxt.size
                nxt = nxt.next
            out.append((first.addr, size))
        return sorted(out)

    def free_bytes(self) -> int:
        """Bytes reserved but not allocated (cached blocks)."""
        return self.reserved - self.allocated

    # -- internals ------------------------------------------------------------------------------------------

    def _best_fit(self, pool: _Pool, size: int) -> _Block | None:
        i = bisect.bisect_left(pool.free, (size, -1))
        if i == len(pool.free):
            return None
        block = pool.by_addr[pool.free[i][1]]
        if block.tail and i + 1 < len(pool.free):  # expandable: a block that need not grow is preferred
            return pool.by_addr[pool.free[i + 1][1]]
        return block

    def _new_segment(self, pool: _Pool, size: int) -> _Block:
        seg = segment_size(size)
        if self.place is not None:
            block = _Block(self.place(seg), seg, pool.small)
        elif self.descending:
            self._low -= seg + K_ROUND_LARGE
            block = _Block(self._low, seg, pool.small)
        else:
            block = _Block(self._next_addr, seg, pool.small)
            self._next_addr += seg + K_ROUND_LARGE
        self.segments.add(block)
        self._add_reserved(seg)
        return block

    def _grow(self, pool: _Pool, size: int) -> _Block:
        """Expandable segments: map pages at the end of the pool's segment until the request fits there."""
        page = K_SMALL_BUFFER if pool.small else K_LARGE_BUFFER
        end = pool.end
        have = end.size if end is not None and not end.allocated else 0
        mapped = -(-(size - have) // page) * page
        self._add_reserved(mapped)
        if end is not None and not end.allocated:
            pool.remove(end)
            end.size += mapped
            return end
        addr = self._next_addr if end is None else end.addr + end.size
        if end is None:
            self._next_addr += _SPACE
        block = _Block(addr, mapped, pool.small, prev=end, tail=True)
        if end is not None:
            end.next, end.tail = block, False
        else:
            self.segments.add(block)
        pool.end = block
        return block

    def _unmap_end(self, pool: _Pool) -> None:
        end = pool.end
        if end is None or end.allocated:
            return
        page = K_SMALL_BUFFER if pool.small else K_LARGE_BUFFER
        keep = end.addr % page and page - end.addr % page  # pages partly used by the block before stay mapped
        drop = (end.size - keep) // page * page
        if drop <= 0:
            return
        pool.remove(end)
        end.size -= drop
        self.reserved -= drop
        if end.size:
            pool.add(end)
        else:
            pool.end = end.prev
            if end.prev is not None:
                end.prev.next, end.prev.tail = None, True
            else:
                self.segments.discard(end)

    def _split(self, pool: _Pool, block: _Block, size: int) -> None:
        rest = _Block(block.addr + size, block.size - size, pool.small, prev=block, next=block.next, tail=block.tail)
        if block.next is not None:
            block.next.prev = rest
        block.next, block.size, block.tail = rest, size, False
        if pool.end is block:
            pool.end = rest
        pool.add(rest)

    @staticmethod
    def _absorb(pool: _Pool, first: _Block, second: _Block) -> _Block:
        """Merge two neighbouring free blocks into the first (which keeps its identity as a segment's start)."""
        first.size += second.size
        first.next, first.tail = second.next, second.tail
        if second.next is not None:
            second.next.prev = first
        if pool.end is second:
            pool.end = first
        return first

    def _add_reserved(self, nbytes: int) -> None:
        self.reserved += nbytes
        self.peak_reserved = max(self.peak_reserved, self.reserved)

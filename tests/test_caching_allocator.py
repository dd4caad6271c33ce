"""The caching-allocator emulation (memory/caching_allocator.py) against the rules of PyTorch's
c10/cuda/CUDACachingAllocator.cpp, each worked out by hand."""

from __future__ import annotations

from memfit.memory.caching_allocator import CachingAllocator, round_size, segment_size

MIB = 1 << 20


def test_rounding_and_segment_sizes() -> None:
    assert round_size(1) == 512 and round_size(512) == 512 and round_size(513) == 1024
    assert segment_size(512) == 2 * MIB  # small pool: 2 MiB segments
    assert segment_size(MIB) == 2 * MIB
    assert segment_size(MIB + 512) == 20 * MIB  # 1 to 10 MiB: a 20 MiB segment to split
    assert segment_size(10 * MIB - 512) == 20 * MIB
    assert segment_size(10 * MIB) == 10 * MIB  # from 10 MiB: rounded up to 2 MiB
    assert segment_size(10 * MIB + 512) == 12 * MIB


def test_small_requests_share_a_2_mib_segment() -> None:
    a = CachingAllocator()
    assert a.malloc("x", 100) == 512
    a.malloc("y", 1000)
    assert (a.allocated, a.reserved) == (512 + 1024, 2 * MIB)


def test_medium_requests_split_a_20_mib_segment() -> None:
    a = CachingAllocator()
    a.malloc("x", 5 * MIB)
    a.malloc("y", 5 * MIB)
    a.malloc("z", 9 * MIB)  # 10 MiB left after x and y: fits, split (1 MiB rest is not > 1 MiB: handed out whole)
    assert a.reserved == 20 * MIB
    assert a.allocated == 20 * MIB  # z's block is 10 MiB: the 1 MiB rest was not worth a split


def test_large_rest_of_at_most_1_mib_is_not_split() -> None:
    a = CachingAllocator()
    assert a.malloc("x", 11 * MIB) == 12 * MIB  # segment 12 MiB, rest 1 MiB: whole block allocated
    a.free("x")
    a.malloc("y", 10 * MIB + 512)  # reuses the cached 12 MiB block; rest 2 MiB - 512 > 1 MiB: split
    assert (a.allocated, a.reserved) == (10 * MIB + 512, 12 * MIB)


def test_frees_merge_and_segments_stay_until_empty_cache() -> None:
    a = CachingAllocator()
    a.malloc("x", 5 * MIB)
    a.malloc("y", 5 * MIB)
    a.free("x")
    a.free("y")
    assert (a.allocated, a.reserved) == (0, 20 * MIB)
    a.malloc("z", 20 * MIB)  # the merged 20 MiB block serves it: no new segment
    assert a.reserved == 20 * MIB and a.peak_reserved == 20 * MIB
    a.free("z")
    a.empty_cache()
    assert a.reserved == 0


def test_best_fit_and_fragmentation() -> None:
    a = CachingAllocator()
    a.malloc("big", 30 * MIB)
    a.malloc("mid", 24 * MIB)
    a.free("big")
    a.free("mid")
    a.malloc("r", 22 * MIB)  # the 24 MiB block is the best fit; its 2 MiB rest is split off
    a.malloc("s", 26 * MIB)  # the 30 MiB block
    assert a.reserved == 54 * MIB
    a.malloc("t", 3 * MIB)  # the 4 MiB rest of the 30 MiB block holds it (its 1 MiB rest is not split off)
    assert (a.reserved, a.allocated) == (54 * MIB, 22 * MIB + 26 * MIB + 4 * MIB)
    a.malloc("u", 3 * MIB)  # only the 2 MiB rest is free: a new 20 MiB segment
    assert a.reserved == 74 * MIB


def test_reset_peak() -> None:
    a = CachingAllocator()
    a.malloc("x", 40 * MIB)
    a.free("x")
    a.reset_peak()
    assert (a.peak_allocated, a.peak_reserved) == (0, 40 * MIB)


def test_expandable_segments_grow_by_pages() -> None:
    a = CachingAllocator(expandable=True)
    a.malloc("x", 11 * MIB)  # one 20 MiB page mapped, 9 MiB left at the end
    assert a.reserved == 20 * MIB
    a.malloc("y", 11 * MIB)  # 9 MiB free at the end + one more 20 MiB page
    assert a.reserved == 40 * MIB
    a.malloc("z", 18 * MIB)  # 18 MiB free at the end: fits without mapping
    assert (a.allocated, a.reserved) == (40 * MIB, 40 * MIB)
    b = CachingAllocator()  # the same requests without expandable segments: 12 + 12 + 18 MiB segments
    for k, n in (("x", 11), ("y", 11), ("z", 18)):
        b.malloc(k, n * MIB)
    assert b.reserved == 42 * MIB


def test_equal_free_blocks_lowest_address_first() -> None:
    """BlockComparatorSize orders free blocks by size, then address: of two equal free segments the one at the lower
    address is reused. New segments rise in address by default and fall with ``descending`` (the driver handing out
    addresses top-down), so the first-made segment is reused in one order and the last-made in the other."""
    for descending in (False, True):
        a = CachingAllocator(descending=descending)
        a.malloc("x", 100 * MIB)
        a.malloc("y", 100 * MIB)
        first, last = a.live["x"], a.live["y"]
        assert (last.addr < first.addr) == descending
        a.free("x")
        a.free("y")
        a.malloc("z", 60 * MIB)  # fits either: split (rest 40 MiB)
        assert a.live["z"] is (last if descending else first)
        assert (a.reserved, a.allocated) == (200 * MIB, 60 * MIB)


def test_place_decides_segment_addresses_and_reuse() -> None:
    """``place`` gives each new segment its address (a model of the driver's address space): with the second
    segment placed below the first, the lower one (the second) is reused of two equal free segments; the segments
    are reported whole after a split and a merge."""
    given = iter([300 * MIB, 100 * MIB])
    a = CachingAllocator(place=lambda size: next(given))
    a.malloc("x", 100 * MIB)
    a.malloc("y", 100 * MIB)
    assert (a.live["x"].addr, a.live["y"].addr) == (300 * MIB, 100 * MIB)
    a.free("x")
    a.free("y")
    a.malloc("z", 60 * MIB)  # fits either: the lower address wins, then split (rest 40 MiB)
    assert a.live["z"].addr == 100 * MIB
    assert a.segment_ranges() == [(100 * MIB, 100 * MIB), (300 * MIB, 100 * MIB)]
    a.free("z")
    a.empty_cache()
    assert a.segment_ranges() == [] and a.reserved == 0


def test_max_split_keeps_a_large_block_whole() -> None:
    # max_split_size_mb:20 (vLLM 0.21+ while loading): a request of 20 MiB or more is never split, so its 2 MiB
    # rounding rest counts as allocated even above 1 MiB; unlimited, a rest over 1 MiB is split off
    request = 32 * MIB + 3 * MIB // 8  # 32.375 MiB: segment 34 MiB, rest 1.625 MiB
    a = CachingAllocator(max_split=20 * MIB)
    assert a.malloc("w", request) == 34 * MIB and a.allocated == 34 * MIB
    b = CachingAllocator()
    assert b.malloc("w", request) == request and (b.allocated, b.reserved) == (request, 34 * MIB)


def test_max_split_refuses_oversized_blocks() -> None:
    a = CachingAllocator(max_split=20 * MIB)
    a.malloc("big", 30 * MIB)
    a.free("big")
    a.malloc("small", 5 * MIB)  # the cached 30 MiB block is oversized for a request under 20 MiB: new segment
    assert a.reserved == 50 * MIB
    b = CachingAllocator()
    b.malloc("big", 30 * MIB)
    b.free("big")
    b.malloc("small", 5 * MIB)  # unlimited: the cached block is split
    assert b.reserved == 30 * MIB
    c = CachingAllocator(max_split=20 * MIB)
    c.malloc("x", 60 * MIB)
    c.free("x")
    c.malloc("y", 30 * MIB)  # 60 >= 30 + 20: refused, a 30 MiB segment
    assert c.reserved == 90 * MIB
    c.free("y")
    # the smallest free block holding 45 MiB is x's 60 MiB (60 < 45 + 20): taken whole, not split
    assert c.malloc("z", 45 * MIB) == 60 * MIB and c.reserved == 90 * MIB

"""tools/simulate_fsdp1.py's record_stream emulation (``RecordStreamPools``): a block freed after ``record_stream`` on
another stream is not reusable until the CPU knows that stream ran past the free (c10 CUDACachingAllocator ``free`` →
``insert_events``, ``malloc`` → ``process_events``), worked out by hand on 100 MiB blocks (one 100 MiB segment each)."""

from __future__ import annotations

from types import ModuleType

import torch

from _tools import load_tool

MIB = 1 << 20


def _tool() -> ModuleType:
    return load_tool("simulate_fsdp1")


def test_a_recorded_free_waits_for_the_event_after_it() -> None:
    t = _tool()
    pool = t.RecordStreamPools()
    side = torch.cpu.Stream()
    with torch.cpu.stream(side):  # the unshard stream: the flat buffer of layer 0
        pool.malloc("layer0", 100 * MIB)
    pool.record_stream("layer0", torch.cpu.current_stream())  # FULL_SHARD's free on the default stream
    pool.free("layer0")
    assert pool.allocated == 0 and pool.reserved == 100 * MIB  # allocated drops at free, the block stays held
    with torch.cpu.stream(side):
        pool.malloc("layer1", 100 * MIB)  # no event has completed: a second segment
    assert pool.reserved == 200 * MIB
    pool.completed(0, pool.tick)  # an Event.synchronize on the default stream after the free
    with torch.cpu.stream(side):
        pool.malloc("layer2", 100 * MIB)  # process_events released layer 0's block: reused
    assert pool.reserved == 200 * MIB and pool.allocated == 200 * MIB


def test_uses_on_the_allocation_stream_are_ignored_and_waits_chain() -> None:
    t = _tool()
    pool = t.RecordStreamPools()
    side = torch.cpu.Stream()
    pool.malloc("grad", 100 * MIB)  # made on the default stream
    pool.record_stream("grad", torch.cpu.current_stream())  # its own stream: no use recorded
    pool.free("grad")
    pool.malloc("again", 100 * MIB)
    assert pool.reserved == 100 * MIB
    pool.record_stream("again", side)  # consumed on the post-backward stream
    pool.free("again")
    pool.malloc("third", 100 * MIB)  # side stream not known done: a new segment
    assert pool.reserved == 200 * MIB
    pool.wait_stream(torch.cpu.current_stream(), side)  # default waits for side (FSDP1's final callback)
    pool.completed(0, pool.now())  # the default stream known done after that wait: side is too
    pool.free("third")
    pool.malloc("fourth", 100 * MIB)
    pool.malloc("fifth", 100 * MIB)  # both segments free again: no third one
    assert pool.reserved == 200 * MIB

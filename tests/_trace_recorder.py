"""A Trace that records every allocation and free by size, in order (``("+", n)`` / ``("-", n)``), for the tests
that hold a replay's allocation stream against one worked out by hand."""

from __future__ import annotations

from memfit.memory.allocator_trace import Trace


class Recorder(Trace):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.events: list[tuple[str, int]] = []
        self.size: dict[int, int] = {}

    def alloc(self, nbytes: int) -> int:
        key = super().alloc(nbytes)
        if key:  # a zero-byte request makes no block and no event
            self.size[key] = nbytes
            self.events.append(("+", nbytes))
        return key

    def free(self, *keys: int) -> None:
        self.events += [("-", self.size[k]) for k in keys if k]
        super().free(*keys)

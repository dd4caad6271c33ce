"""Allocation traces that remember what was asked for, shared by the replay tests."""

from __future__ import annotations

from memfit.memory.allocator_trace import Trace


class Recorded(Trace):
    """A trace that records every allocation's size and what is still alive."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def alloc(self, nbytes: int) -> int:
        key = super().alloc(nbytes)
        if key:
            self.sizes.append(nbytes)
        return key


class Requested(Recorded):
    """Also the bytes each live tensor asked for (the pool's blocks may be larger)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}

    def alloc(self, nbytes: int) -> int:
        key = super().alloc(nbytes)
        if key:
            self.live[key] = nbytes
        return key

    def free(self, *keys: int) -> None:
        super().free(*keys)
        for k in keys:
            self.live.pop(k, None)

    @property
    def requested(self) -> int:
        return sum(self.live.values())


class Counted(Trace):
    """A trace that counts the requested bytes (512-rounded) alive and their peak: the allocator's own allocated
    figure counts whole blocks (a large block whose rest is ≤ 1 MiB is handed out unsplit)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[int, int] = {}
        self.live = self.peak = 0

    def alloc(self, nbytes: int) -> int:
        key = super().alloc(nbytes)
        if key:
            self.sizes[key] = rounded(nbytes)
            self.live += self.sizes[key]
            self.peak = max(self.peak, self.live)
        return key

    def free(self, *keys: int) -> None:
        super().free(*keys)
        for k in keys:
            self.live -= self.sizes.pop(k, 0)


def rounded(n: int) -> int:
    """``n`` bytes rounded up to the caching allocator's 512-byte block."""
    return -(-n // 512) * 512

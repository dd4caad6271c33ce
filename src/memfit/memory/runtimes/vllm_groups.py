"""vLLM's KV cache groups for models whose attention layers differ (sliding window beside full attention).

``vllm/v1/core/kv_cache_utils.py`` (``_get_kv_cache_groups_uniform_page_size``) buckets the layers by their cache
spec, takes the smallest bucket's layer count as the group size (the largest when it is under 1.5 × the smallest),
splits every bucket into ``cdiv(layers, group_size)`` groups and pads the last one ("Add N padding layers, may
waste at most X% KV cache memory"). The i-th layer of every group shares one tensor, so the pool holds
``num_blocks = available // (page × group_size)`` blocks (``get_num_blocks``), every group draws its blocks from
them, and the log prints ``GPU KV cache size = num_blocks // groups × block_size`` tokens (``_report_kv_cache_config``)
and the concurrency as ``num_blocks`` over the blocks one request takes in all groups together
(``get_max_concurrency_for_kv_cache_config``). Gemma-3-27B: 52 sliding and 10 full layers give 7 groups of 10
(8 padding layers), so a block of the pool costs 10 layers' pages and the tokens are a seventh of the blocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..kv_cache import LayerCache

__all__ = ["KVGroups", "kv_groups", "request_blocks"]


@dataclass(frozen=True)
class KVGroups:
    """How vLLM groups one GPU's attention layers: ``size`` layers per group, ``count`` groups, and the number of
    groups each bucket (one per distinct spec, in ``buckets`` order) takes."""

    size: int
    count: int
    buckets: tuple[tuple[LayerCache, int], ...]  # a representative layer and its bucket's group count


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def kv_groups(layers: list[LayerCache]) -> KVGroups | None:
    """The groups of a model with two or more kinds of token-cached attention layers of one page size; None for a
    single kind (one group of every layer, as before) or where vLLM unifies unequal page sizes (not modelled)."""
    if any(c.per_sequence or c.rate != 1 for c in layers) or len({c.per_token for c in layers}) != 1:
        return None
    counts = Counter((c.kind, c.window) for c in layers)
    if len(counts) < 2:
        return None
    fewest, most = min(counts.values()), max(counts.values())
    size = most if most < 1.5 * fewest else fewest
    first = {key: next(c for c in layers if (c.kind, c.window) == key) for key in counts}
    buckets = tuple((first[key], _cdiv(n, size)) for key, n in counts.items())
    return KVGroups(size, sum(g for _, g in buckets), buckets)


def request_blocks(groups: KVGroups, page: int, seq_bytes: Callable[[LayerCache], int]) -> int:
    """The blocks one request takes from the pool: in every group, its layer's bytes for one sequence
    (``seq_bytes``) in pages of ``page`` bytes, rounded up (``get_max_concurrency_for_kv_cache_config``)."""
    return sum(n * _cdiv(seq_bytes(c), page) for c, n in groups.buckets)

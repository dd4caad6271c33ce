"""What vLLM's "Model loading took" counts beyond the tensor bytes of a 16-bit checkpoint: the caching allocator's
unsplit block remainders.

vLLM measures the load as allocated bytes (``DeviceMemoryProfiler``: ``torch.cuda.max_memory_allocated`` after
resetting the peak), and the caching allocator counts a block's whole size as allocated. A parameter of 10 MiB or
more gets a segment rounded up to 2 MiB; the rest is split off as a free block only if it is over 1 MiB
(``CUDACachingAllocator.cpp`` ``should_split``: large-pool remainders of at most ``kSmallSize``, 1 MiB, stay with the
block), so a tensor that ends 1 MiB or less short of a 2 MiB boundary is counted up to it. Llama-3.1-8B's tensors
(hidden 4,096, intermediate 14,336) are multiples of 2 MiB and lose nothing; Qwen2.5's are not: Qwen2.5-72B at tp 2
has a 231 MiB down projection per layer (232 MiB counted, 80 MiB per GPU over 80 layers), Qwen2.5-32B at tp 2 a
35 MiB qkv, 25 MiB o and 135 MiB down per layer (+1 MiB each, 0.19 GiB per GPU). The parameters are laid out as
SGLang's loader lays them (``sglang_load.rank_tensors``: fused qkv and gate_up per rank, the vocabulary padded to 64,
stacked experts; vLLM's ``QKVParallelLinear``, ``MergedColumnParallelLinear``, ``VocabParallelEmbedding`` and
``FusedMoE`` make the same tensors) and allocated in build order through ``memory/caching_allocator.py``. Quantized
checkpoints and pipeline stages count their tensor bytes (not modelled).
"""

from __future__ import annotations

from ...spec import ModelSpec
from ..caching_allocator import CachingAllocator
from .sglang_load import Layout, rank_tensors

__all__ = ["allocator_remainder_bytes"]

SIXTEEN_OR_32 = {"bfloat16": 2, "float16": 2, "float32": 4}


def allocator_remainder_bytes(spec: ModelSpec, fmt: str, tp: int, rope_bytes: int) -> int:
    """Bytes the caching allocator counts as allocated beyond one rank's parameter tensors (0 for quantized
    formats)."""
    width = SIXTEEN_OR_32.get(fmt)
    if width is None:
        return 0
    sizes = rank_tensors(spec, tp, Layout(dense=width, weight=width), rope_bytes)
    alloc = CachingAllocator()
    for key, nbytes in enumerate(sizes):
        alloc.malloc(key, nbytes)
    return alloc.allocated - sum(sizes)

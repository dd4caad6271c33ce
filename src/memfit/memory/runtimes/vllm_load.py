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
``FusedMoE`` make the same tensors) and allocated in build order through ``memory/caching_allocator.py``.

8-bit checkpoints with one scale per tensor or per output channel (``fp8``, compressed-tensors ``int8`` w8a8 and
FP8_DYNAMIC) keep that layout with 1-byte linear and expert weights and 16-bit embeddings, norms and biases: vLLM's
``Fp8LinearMethod`` and the compressed-tensors W8A8 schemes create the weight in ``float8_e4m3fn`` / ``int8`` at its
full per-rank shape, and their ``process_weights_after_loading`` only transposes it (the CUTLASS scaled-mm kernel,
``layers/quantization/kernels/scaled_mm/cutlass.py``: ``replace_parameter(layer, "weight", weight.t().data)``, a
view), so the loaded blocks stay. Qwen2.5-7B at 1 byte: a 15.75 MiB qkv and a 129.5 MiB gate_up, each counted up
to the 2 MiB boundary (+0.75 MiB per layer); Mistral-Small-3.1-24B at tp 2: a 15 MiB qkv per rank (+1 MiB per
layer). Their per-channel scales (4 B per output row) are small-pool blocks counted at their size. Other quantized
checkpoints (AWQ / GPTQ repacked for Marlin, GGUF, block FP8) and pipeline stages count their tensor bytes (not
modelled).
"""

from __future__ import annotations

from ...spec import ModelSpec
from ..caching_allocator import CachingAllocator
from .sglang_load import Layout, rank_tensors

__all__ = ["allocator_remainder_bytes"]

SIXTEEN_OR_32 = {"bfloat16": 2, "float16": 2, "float32": 4}
# the 8-bit formats whose linear weights are loaded in place at 1 byte per element (see above)
EIGHT_BIT = ("int8", "fp8")


def allocator_remainder_bytes(spec: ModelSpec, fmt: str, tp: int, rope_bytes: int) -> int:
    """Bytes the caching allocator counts as allocated beyond one rank's parameter tensors (16-bit, float32 and the
    per-tensor / per-channel 8-bit formats; 0 for other quantized formats)."""
    width = SIXTEEN_OR_32.get(fmt)
    if width is not None:
        layout = Layout(dense=width, weight=width)
    elif fmt in EIGHT_BIT:
        layout = Layout(dense=2, weight=1)
    else:
        return 0
    sizes = rank_tensors(spec, tp, layout, rope_bytes)
    alloc = CachingAllocator()
    for key, nbytes in enumerate(sizes):
        alloc.malloc(key, nbytes)
    return alloc.allocated - sum(sizes)

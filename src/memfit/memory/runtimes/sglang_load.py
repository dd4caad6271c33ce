"""What SGLang's weight load takes from the free memory: the parameter tensors of one tensor-parallel rank as the
CUDA caching allocator holds them.

SGLang prints the load as the fall in free memory (``Load weight end ... mem usage=X GB``: ``get_available_gpu_memory``
before and after, ``torch.cuda.mem_get_info`` after ``empty_cache``), so it counts the allocator's segments, not the
tensor bytes. Each parameter is its own allocation, made in module order when the model is built: one of 10 MiB or
more gets a segment of its size rounded up to 2 MiB, one below 10 MiB is cut from a 20 MiB segment, and the rest of a
segment that no later tensor fits stays reserved (``memory/caching_allocator.py``, the rules of PyTorch's
``CUDACachingAllocator.cpp``). Tensors whose sizes are multiples of 2 MiB (Llama-3.1-8B: hidden 4096, intermediate
14,336) waste nothing; Qwen's (hidden 3584 or 5120, intermediate 18,944 or 27,648 per rank) leave up to 2 MiB per
tensor, 0.1 to 0.2 GiB per GPU.

SGLang's layout (``python/sglang/srt/models/qwen2.py``, ``llama.py``, ``layers/linear.py``): q, k and v are one
``QKVParallelLinear`` weight (and bias), gate and up one ``MergedColumnParallelLinear`` weight, each split over the
ranks by output rows; o and down split by input columns; the vocabulary padded to a multiple of 64
(``VocabParallelEmbedding``) and split; MoE experts as two stacked tensors per layer (``FusedMoE`` ``w13_weight``,
``w2_weight``). The float32 rotary cache is made with the first attention layer. Layers memfit cannot lay out this
way (MLA, recurrent mixers) count their tensor bytes, without rounding.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...spec import LayerSpec, ModelSpec
from ..caching_allocator import CachingAllocator

__all__ = ["load_reserved_bytes", "rank_tensors"]


def _attention(layer: LayerSpec, h: int, tp: int, eb: int) -> Iterator[int]:
    a = layer.attention
    if a is None or a.kind == "mla":
        return
    hd = a.head_dim
    q, kv = a.num_heads * hd // tp, max(1, a.num_kv_heads // tp) * (a.v_head_dim or hd)
    yield (q + 2 * kv) * h * eb
    if a.qkv_bias:
        yield (q + 2 * kv) * eb
    yield h * q * eb
    if a.qk_norm == "head":
        yield from (hd * eb, hd * eb)


def _feed_forward(layer: LayerSpec, h: int, tp: int, eb: int) -> Iterator[int]:
    if layer.mlp is not None:
        i = layer.mlp.intermediate_size // tp
        yield from ((2 if layer.mlp.kind == "gated" else 1) * i * h * eb, h * i * eb)
    if (moe := layer.moe) is not None:
        i = moe.expert_intermediate_size // tp
        yield moe.num_experts * h * eb  # the router (replicated)
        yield from (moe.num_experts * 2 * i * h * eb, moe.num_experts * h * i * eb)
        if moe.num_shared_experts:
            si = (moe.shared_intermediate_size or moe.expert_intermediate_size) * moe.num_shared_experts // tp
            yield from (2 * si * h * eb, h * si * eb)


def rank_tensors(spec: ModelSpec, tp: int, elem_bytes: int, rope_bytes: int) -> list[int]:
    """Byte sizes of one rank's parameter tensors in SGLang's layout, in the order the model builds them."""
    h = spec.hidden_size
    vocab = -(-spec.vocab_size // 64) * 64 // tp
    out = [vocab * h * elem_bytes]
    for index, layer in enumerate(spec.layers):
        out += list(_attention(layer, h, tp, elem_bytes))
        if index == 0 and rope_bytes:
            out.append(rope_bytes)
        out += list(_feed_forward(layer, h, tp, elem_bytes))
        out += [h * elem_bytes, h * elem_bytes]  # input and post-attention norms
    out.append(h * elem_bytes)
    if not spec.tie_word_embeddings:
        out.append(vocab * h * elem_bytes)
    return out


def load_reserved_bytes(spec: ModelSpec, tp: int, elem_bytes: int, rope_bytes: int) -> tuple[int, int]:
    """(segments reserved, tensor bytes) of one rank's parameters allocated one after the other."""
    alloc = CachingAllocator()
    sizes = rank_tensors(spec, tp, elem_bytes, rope_bytes)
    for key, nbytes in enumerate(sizes):
        alloc.malloc(key, nbytes)
    return alloc.reserved, sum(sizes)
